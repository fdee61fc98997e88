"""A call's figures from what its two ends logged: the publisher's packets as sent, the
subscriber's as received through the SFU. Pure.

The SFU forwards each RTP payload unchanged (it re-encrypts, never transcodes), so a received
packet is matched to the sent one by its payload: both ends run in the probe's process, on
one clock, so the match gives each packet's one-way delay, and the sent packets never matched
are the ones lost on either leg."""

import hashlib
import itertools
import statistics
from dataclasses import dataclass

CLOCK_RATE = 48_000  # Opus's RTP clock
FRAME_MS = 20.0  # the probe's packets: one 20 ms Opus frame each
# An adaptive jitter buffer holds this quantile of the packets' delay beyond the fastest one's:
# WebRTC's NetEq aims its delay manager at 0.95-0.97 of it (the versions differ); a packet
# later than that misses its turn to play and is concealed, as if lost (ITU-T G.1020's
# jitter buffer discards)
PLAYOUT_QUANTILE = 0.97
# ... but never below where NetEq's delay manager starts a call (its kStartDelayMs): a probe
# call of a few seconds is the start of a call. (With a frame's 20 ms, one stall of this
# busy machine's probe process, 60 ms in a 3 s call, counted 3 % of the packets late.)
BUFFER_START_MS = 80.0


def payload_key(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=12).digest()


@dataclass(frozen=True)
class Sent:
    key: bytes
    at: float  # seconds, the probe's monotonic clock


@dataclass(frozen=True)
class Received:
    key: bytes
    rtp_timestamp: int
    at: float


def rfc3550_estimates_ms(packets: list[Received], clock_rate: int = CLOCK_RATE) -> list[float]:
    """The interarrival jitter of RFC 3550 (6.4.1, A.8) after each packet, in the order they
    arrived: J += (|D| - J) / 16, D the change in transit time between consecutive packets."""
    jitter, estimates = 0.0, []
    for before, after in itertools.pairwise(packets):
        sent_gap = ((after.rtp_timestamp - before.rtp_timestamp) % 2**32) / clock_rate
        if sent_gap > 2**31 / clock_rate:  # reordered: the timestamp went back
            sent_gap -= 2**32 / clock_rate
        transit_change = (after.at - before.at) - sent_gap
        jitter += (abs(transit_change) - jitter) / 16
        estimates.append(jitter * 1000)
    return estimates


def rfc3550_jitter_ms(packets: list[Received], clock_rate: int = CLOCK_RATE) -> float:
    """The estimator's last value: what a receiver report sent as the call ended says."""
    return last_of(rfc3550_estimates_ms(packets, clock_rate))


ESTIMATOR_SETTLING = 16  # packets: the estimator's gain is 1/16, and it starts from 0


def call_jitter_ms(packets: list[Received], clock_rate: int = CLOCK_RATE) -> float:
    """The estimator averaged over the call, once settled (`settled_mean`)."""
    return settled_mean(rfc3550_estimates_ms(packets, clock_rate))


def last_of(estimates: list[float]) -> float:
    return estimates[-1] if estimates else 0.0


def settled_mean(estimates: list[float]) -> float:
    """The estimates' mean once the estimator settled. Its last value weighs only the last
    ~16 packets (a third of a second), so one stall as a call ends decided a whole call's
    jitter; the call's jitter buffer lived through all of it."""
    settled = estimates[ESTIMATOR_SETTLING:] or estimates
    return statistics.fmean(settled) if settled else 0.0


@dataclass(frozen=True)
class LossPattern:
    sent: int
    lost: int
    burst_r: float  # G.107's BurstR: 1 random loss; above 1 bursty
    mean_burst: float  # packets lost in a row, on average

    @property
    def loss_pct(self) -> float:
        return 100 * self.lost / self.sent if self.sent else 0.0


def loss_pattern(lost_flags: list[bool]) -> LossPattern:
    """Loss and its burstiness from the packets in sending order (True: lost), with the
    two-state Markov model of G.107 (7.4): p = P(lost | previous received), q = P(received |
    previous lost), BurstR = 1 / (p + q)."""
    sent, lost = len(lost_flags), sum(lost_flags)
    if lost == 0 or lost == sent:
        return LossPattern(sent, lost, 1.0, float(lost))  # no burst, or one of them all
    after_received = [now for before, now in itertools.pairwise(lost_flags) if not before]
    after_lost = [now for before, now in itertools.pairwise(lost_flags) if before]
    p = sum(after_received) / len(after_received) if after_received else 0.0
    q = (len(after_lost) - sum(after_lost)) / len(after_lost) if after_lost else 1.0
    bursts = sum(
        1
        for before, now in zip([False, *lost_flags], lost_flags, strict=False)
        if now and not before
    )
    return LossPattern(sent, lost, 1 / (p + q) if p + q else 1.0, lost / bursts)


def relative_delays_s(one_way_s: list[float]) -> list[float]:
    """Each packet's delay beyond the fastest one's, from their one-way delays (sent to
    received, the probe's one clock). A receiver's buffer would measure them from the RTP
    timestamps, with the sender's own pacing in them; the probe's sender is no talker's
    client (on a busy machine its frames go out late, then in a burst), so its pacing is
    left out: what is judged is the path."""
    fastest = min(one_way_s, default=0.0)
    return [delay - fastest for delay in one_way_s]


def adaptive_buffer_ms(relative_s: list[float]) -> float:
    """The jitter buffer's depth: PLAYOUT_QUANTILE of the relative delays, at least
    BUFFER_START_MS."""
    if not relative_s:
        return BUFFER_START_MS
    ordered = sorted(relative_s)
    at_quantile = ordered[min(len(ordered) - 1, int(PLAYOUT_QUANTILE * len(ordered)))]
    return max(BUFFER_START_MS, 1000 * at_quantile)


def too_late(relative_s: float, buffer_ms: float) -> bool:
    """Whether a packet missed its turn (a microsecond's grace: the buffer's depth is one of
    the delays, recomputed in floating point)."""
    return 1000 * relative_s > buffer_ms + 0.001


@dataclass(frozen=True)
class PathFigures:
    packets_sent: int
    packets_received: int
    one_way_ms: float  # mean over the received packets
    one_way_median_ms: float  # a typical packet's: a busy machine's stalls stretch the mean
    one_way_p95_ms: float
    jitter_ms: float  # RFC 3550's estimator, averaged over the call
    jitter_last_ms: float  # its value as the call ended
    loss: LossPattern  # lost on the way
    one_way_min_ms: float = 0.0  # the fastest packet's: where the jitter buffer's depth starts
    buffer_ms: float = BUFFER_START_MS  # the listener's jitter buffer (adaptive_buffer_ms)
    # received, but after their turn to play: concealed as if lost (the listening score
    # conceals exactly these: quality/listening.py)
    late_keys: frozenset[bytes] = frozenset()
    heard_loss: LossPattern | None = None  # lost or late: what the listener missed

    @property
    def late(self) -> int:
        return len(self.late_keys)

    @property
    def listener_loss(self) -> LossPattern:
        return self.heard_loss or self.loss


def path_figures(
    sent: list[Sent], received: list[Received], in_flight_s: float = 0.5
) -> PathFigures:
    """The figures of the packets sent while the subscriber was listening: from the first
    packet it received to the last one sent `in_flight_s` before the call ended (later ones
    may still have been on their way)."""
    by_key = {packet.key: packet for packet in received}
    if not received:
        return PathFigures(
            len(sent), 0, 0.0, 0.0, 0.0, 0.0, 0.0, LossPattern(len(sent), len(sent), 1.0, 0.0)
        )
    first = next((i for i, packet in enumerate(sent) if packet.key in by_key), len(sent))
    end = sent[-1].at - in_flight_s if sent else 0.0
    window = [packet for packet in sent[first:] if packet.at <= end] or sent[first:]
    delays = sorted(by_key[p.key].at - p.at for p in window if p.key in by_key)
    jitter = rfc3550_estimates_ms(received)  # once, for the call's mean and its last value
    pattern = loss_pattern([packet.key not in by_key for packet in window])
    heard = [packet for packet in window if packet.key in by_key]
    relative = relative_delays_s([by_key[packet.key].at - packet.at for packet in heard])
    buffer_ms = adaptive_buffer_ms(relative)
    late_keys = frozenset(
        p.key for p, r in zip(heard, relative, strict=True) if too_late(r, buffer_ms)
    )
    missed = [packet.key not in by_key or packet.key in late_keys for packet in window]
    return PathFigures(
        packets_sent=len(window),
        packets_received=len(delays),
        one_way_ms=1000 * statistics.fmean(delays) if delays else 0.0,
        one_way_median_ms=1000 * statistics.median(delays) if delays else 0.0,
        one_way_p95_ms=1000 * delays[int(0.95 * (len(delays) - 1))] if delays else 0.0,
        jitter_ms=settled_mean(jitter),
        jitter_last_ms=last_of(jitter),
        loss=pattern,
        one_way_min_ms=1000 * delays[0] if delays else 0.0,
        buffer_ms=buffer_ms,
        late_keys=late_keys,
        heard_loss=loss_pattern(missed),
    )
