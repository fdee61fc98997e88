"""A failover's timeline: from a drill's own events (the failure it caused, the withdrawal the
upstream router saw) and the caller's (media, detection, the new call), the parts of the
reconnect time, and a picture of it. The figures are pure; `render_png` draws them."""

from dataclasses import asdict, dataclass, field

BIN_S = 0.1


@dataclass(frozen=True)
class Failover:
    kind: str  # sfu-crash, power-off, drain
    failed_server: str
    new_server: str
    failure_at: float  # the probe's monotonic clock, shared by the machine's processes
    detected_at: float  # the caller noticed media had stopped
    withdrawn_at: float | None  # the upstream router's forwarding lost the failed server
    new_attempt_at: float  # the first signalling request of the call that carried media
    new_media_at: float
    last_media_at: float  # the last packet of the failed call
    media_timeout_ms: float
    failed_attempts: list[tuple[float, str]]  # after the failure: when, and why it failed
    arrivals: list[float] = field(default_factory=list, repr=False)

    @property
    def detection_s(self) -> float:
        return self.detected_at - self.failure_at

    @property
    def withdrawal_s(self) -> float | None:
        """From the failure to the withdrawal seen upstream; negative: withdrawn before it
        (a drain withdraws first, then the SFU stops)."""
        return None if self.withdrawn_at is None else self.withdrawn_at - self.failure_at

    @property
    def setup_s(self) -> float:
        return self.new_media_at - self.new_attempt_at

    @property
    def reconnect_s(self) -> float:
        """From the failure to the first media packet of the new call."""
        return self.new_media_at - self.failure_at

    @property
    def gap_s(self) -> float:
        """What the caller heard as silence: last packet of the old call to first of the new."""
        return self.new_media_at - self.last_media_at

    def figures(self) -> dict[str, object]:
        withdrawal = self.withdrawal_s
        return {
            "kind": self.kind,
            "failed_server": self.failed_server,
            "new_server": self.new_server,
            "reconnect_s": round(self.reconnect_s, 3),
            "gap_s": round(self.gap_s, 3),
            "detection_s": round(self.detection_s, 3),
            "withdrawal_s": None if withdrawal is None else round(withdrawal, 3),
            "setup_s": round(self.setup_s, 3),
            "failed_attempts": len(self.failed_attempts),
            "media_timeout_ms": self.media_timeout_ms,
        }

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "figures": self.figures()}


def packets_per_bin(
    arrivals: list[float], start: float, end: float, bin_s: float = BIN_S
) -> list[int]:
    """Packets received in each `bin_s` from `start` to `end`."""
    bins = [0] * max(1, int((end - start) / bin_s + 0.5))
    for at in arrivals:
        index = int((at - start) / bin_s)
        if 0 <= index < len(bins):
            bins[index] += 1
    return bins


def summary(failover: Failover) -> str:
    withdrawal = failover.withdrawal_s
    seen = "not seen" if withdrawal is None else f"{withdrawal * 1000:+.0f} ms"
    rows = [
        ("reconnect (failure to new media)", f"{failover.reconnect_s * 1000:.0f} ms"),
        ("silence heard (last to first packet)", f"{failover.gap_s * 1000:.0f} ms"),
        ("detection (no media for the timeout)", f"{failover.detection_s * 1000:.0f} ms"),
        ("withdrawal seen upstream", seen),
        ("new call's setup", f"{failover.setup_s * 1000:.0f} ms"),
        ("failed attempts before it", str(len(failover.failed_attempts))),
    ]
    width = max(len(label) for label, _ in rows)
    head = f"{failover.kind}: {failover.failed_server} -> {failover.new_server}"
    return "\n".join([head, *(f"  {label.ljust(width)}  {value}" for label, value in rows)]) + "\n"


def render_png(failover: Failover, path: str, before_s: float = 2.0, after_s: float = 2.0) -> None:
    """Media packets per 100 ms around the failover, with its events marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    start = failover.failure_at - before_s
    if failover.withdrawn_at is not None:
        start = min(start, failover.withdrawn_at - 0.5)
    end = failover.new_media_at + after_s
    bins = packets_per_bin(failover.arrivals, start, end)
    times = [index * BIN_S + start - failover.failure_at for index in range(len(bins))]
    figure, axes = pyplot.subplots(figsize=(10, 3.6), dpi=110)
    axes.bar(
        times,
        bins,
        width=BIN_S * 0.9,
        align="edge",
        color="#4a7ab5",
        label="media packets / 100 ms",
    )
    events = [
        (0.0, "failure", "#c0392b"),
        (failover.detection_s, "media stop detected", "#e67e22"),
        (failover.new_attempt_at - failover.failure_at, "new call placed", "#7f8c8d"),
        (failover.reconnect_s, "new call's first media", "#27ae60"),
    ]
    if failover.withdrawal_s is not None:
        events.append((failover.withdrawal_s, "withdrawal seen upstream", "#8e44ad"))
    for at, label, colour in events:
        axes.axvline(
            at, color=colour, linestyle="--", linewidth=1.4, label=f"{label} ({at * 1000:+.0f} ms)"
        )
    axes.set_xlabel("seconds from the failure")
    axes.set_ylabel("packets")
    axes.set_ylim(0, max(max(bins), 5) * 1.35)
    axes.set_title(
        f"{failover.kind}: {failover.failed_server} -> {failover.new_server}, "
        f"reconnected in {failover.reconnect_s * 1000:.0f} ms "
        f"(silence {failover.gap_s * 1000:.0f} ms)"
    )
    axes.legend(loc="upper left", fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
