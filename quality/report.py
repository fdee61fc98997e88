"""A call's report: its figures, the E-model's verdict on them, JSON and a human summary.
Pure (quality/call.py places the call)."""

import json
from dataclasses import asdict, dataclass, replace

from quality.emodel import CODECS, CodecProfile, mos_of, mouth_to_ear_ms, rating
from quality.listening import ListeningScore
from quality.measure import PathFigures


@dataclass(frozen=True)
class CallReport:
    server: str
    address: str
    ok: bool
    error: str = ""
    duration_s: float = 0.0
    setup_s: float = 0.0  # first signalling request to the first media packet received
    rtt_ms: float | None = None  # the publisher's leg, smoothed over the SFU's receiver reports
    one_way_ms: float = 0.0  # publisher -> SFU -> subscriber, mean
    one_way_median_ms: float = 0.0
    one_way_p95_ms: float = 0.0
    one_way_min_ms: float = 0.0  # the fastest packet's: the jitter buffer's depth is beyond it
    jitter_ms: float = 0.0  # RFC 3550's, at the subscriber, averaged over the call
    jitter_last_ms: float = 0.0  # RFC 3550's as the call ended
    packets_sent: int = 0
    packets_received: int = 0
    loss_pct: float = 0.0
    burst_r: float = 1.0
    mean_burst: float = 0.0
    jitter_buffer_ms: float = 0.0  # the listener's adaptive buffer (quality/measure.py)
    late_pct: float = 0.0  # packets received after their turn to play: concealed
    heard_loss_pct: float = 0.0  # lost or late: the loss the E-model is fed
    heard_burst_r: float = 1.0
    mouth_to_ear_ms: float = 0.0
    r_factor: float = 0.0
    mos: float = 1.0
    codec: str = "opus"
    media_address: str = ""  # where the SFU's media answered: the server behind an anycast address
    # the full-reference listening score, when the call was recorded (quality/listening.py)
    listening_mos: float | None = None
    listening_model: str = ""
    listening_error: str = ""  # why a recorded call has no score
    concealed_pct: float | None = None  # frames the listener's decoder concealed (lost or late)

    @property
    def packets_lost(self) -> int:
        return self.packets_sent - self.packets_received

    @property
    def rtt_text(self) -> str:
        return "n/a" if self.rtt_ms is None else f"{self.rtt_ms:.1f} ms"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def judged(
    server: str,
    address: str,
    figures: PathFigures,
    setup_s: float,
    rtt_ms: float | None,
    duration_s: float,
    codec: CodecProfile = CODECS["opus"],
    media_address: str = "",
    listening: ListeningScore | None = None,
) -> CallReport:
    """The report of a call that carried media, with the E-model's R and MOS for its path as a
    caller's adaptive jitter buffer plays it: the delay to the buffer's output, and the loss
    it misses (lost on the way, or too late)."""
    delay = mouth_to_ear_ms(figures.one_way_min_ms, figures.buffer_ms, codec)
    loss, heard = figures.loss, figures.listener_loss
    r = rating(delay, heard.loss_pct, heard.burst_r, codec)
    report = CallReport(
        server=server,
        address=address,
        ok=True,
        duration_s=duration_s,
        setup_s=round(setup_s, 4),
        rtt_ms=None if rtt_ms is None else round(rtt_ms, 3),
        one_way_ms=round(figures.one_way_ms, 3),
        one_way_median_ms=round(figures.one_way_median_ms, 3),
        one_way_p95_ms=round(figures.one_way_p95_ms, 3),
        one_way_min_ms=round(figures.one_way_min_ms, 3),
        jitter_ms=round(figures.jitter_ms, 3),
        jitter_last_ms=round(figures.jitter_last_ms, 3),
        packets_sent=figures.packets_sent,
        packets_received=figures.packets_received,
        loss_pct=round(loss.loss_pct, 3),
        burst_r=round(loss.burst_r, 3),
        mean_burst=round(loss.mean_burst, 3),
        jitter_buffer_ms=round(figures.buffer_ms, 1),
        late_pct=round(100 * figures.late / figures.packets_sent, 3) if figures.packets_sent else 0,
        heard_loss_pct=round(heard.loss_pct, 3),
        heard_burst_r=round(heard.burst_r, 3),
        mouth_to_ear_ms=round(delay, 1),
        r_factor=round(r, 2),
        mos=round(mos_of(r), 3),
        codec=codec.name,
        media_address=media_address,
    )
    return listened(report, listening) if listening else report


def listened(report: CallReport, score: ListeningScore) -> CallReport:
    return replace(
        report,
        listening_mos=score.mos_lqo,
        listening_model=score.model,
        listening_error=score.error,
        concealed_pct=score.concealed_pct,
    )


def failed(server: str, address: str, error: str) -> CallReport:
    return CallReport(server=server, address=address, ok=False, error=error)


def figures_line(report: CallReport) -> str:
    """The figures on one line, as a deploy's log and its failure name them."""
    if not report.ok:
        return f"no call: {report.error}"
    return (
        f"MOS {report.mos:.2f} (R {report.r_factor:.1f}), setup {report.setup_s:.2f} s, "
        f"RTT {report.rtt_text}, one-way {report.one_way_ms:.1f} ms, "
        f"jitter {report.jitter_ms:.1f} ms, "
        f"loss {report.loss_pct:.1f} % ({report.packets_lost} of "
        f"{report.packets_sent}, BurstR {report.burst_r:.2f})"
    )


def listening_text(report: CallReport) -> str:
    if report.listening_mos is None:
        return f"not scored: {report.listening_error} ({report.listening_model})"
    return f"MOS-LQO {report.listening_mos:.2f} ({report.listening_model})"


def summary(report: CallReport) -> str:
    name = f"{report.server} ({report.address})" if report.server else report.address
    if not report.ok:
        return f"{name}: the call failed\n  {report.error}\n"
    rows = [
        ("setup (signalling to first media)", f"{report.setup_s * 1000:.0f} ms"),
        ("round trip (publisher's leg)", report.rtt_text),
        (
            "one-way, mean / median / p95",
            f"{report.one_way_ms:.1f} / {report.one_way_median_ms:.1f} / "
            f"{report.one_way_p95_ms:.1f} ms",
        ),
        (
            "jitter (RFC 3550), mean / at end",
            f"{report.jitter_ms:.2f} / {report.jitter_last_ms:.2f} ms",
        ),
        (
            "packets lost",
            f"{report.packets_lost} of {report.packets_sent} ({report.loss_pct:.2f} %)",
        ),
        (
            "loss burstiness",
            f"BurstR {report.burst_r:.2f}, mean burst {report.mean_burst:.1f} packets",
        ),
        ("jitter buffer (adaptive)",
         f"{report.jitter_buffer_ms:.0f} ms, {report.late_pct:.2f} % of packets too late"),
        ("mouth-to-ear delay (estimated)", f"{report.mouth_to_ear_ms:.0f} ms"),
        ("E-model", f"R {report.r_factor:.1f}, MOS {report.mos:.2f} ({report.codec}; "
                    f"{report.heard_loss_pct:.2f} % lost or late)"),
    ]  # fmt: skip
    if report.listening_model:
        rows += [
            ("heard (decoded, concealed)", f"{report.concealed_pct:.2f} % of frames concealed"),
            ("full reference", listening_text(report)),
        ]
    width = max(len(label) for label, _ in rows)
    through = (
        f" at {report.media_address}" if report.media_address not in ("", report.address) else ""
    )
    lines = [f"{name}: a {report.duration_s:g} s call through the SFU{through}"]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines) + "\n"
