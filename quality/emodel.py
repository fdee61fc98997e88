"""The ITU-T G.107 E-model (06/2015): a call's transmission rating R from its delay and loss,
and R's estimated MOS (G.107 Annex B). Pure.

Every parameter not measured by the probe keeps G.107's default (its Table 2): a handset path
with no noise, no echo problem and no quantising distortion, which is what a clean VoIP path
through an SFU is. With all defaults R is 93.2 (G.107 section 7.7, the published reference
point), and MOS 4.41. The probe measures the one-way delay and the packet loss and its
burstiness; the codec's impairments come from `CodecProfile`.
"""

import math
from dataclasses import dataclass

# G.107 Table 2: the default values of the E-model's parameters (the ones the probe does not
# measure).
SLR = 8.0  # send loudness rating, dB
RLR = 2.0  # receive loudness rating, dB
STMR = 15.0  # sidetone masking rating, dB
LSTR = 18.0  # listener sidetone rating, dB
DS = 3.0  # D-value of the telephone, send side
TELR = 65.0  # talker echo loudness rating, dB
WEPL = 110.0  # weighted echo path loss, dB
QDU = 1.0  # quantising distortion units
NC = -70.0  # circuit noise referred to the 0 dBr point, dBm0p
NFOR = -64.0  # noise floor at the receive side, dBmp
PS = 35.0  # room noise at the send side, dB(A)
PR = 35.0  # room noise at the receive side, dB(A)
ADVANTAGE = 0.0  # A: the advantage factor (0: a wired call)


@dataclass(frozen=True)
class CodecProfile:
    """A codec's equipment impairment `ie` and its packet-loss robustness `bpl` (G.107
    section 7.4), as ITU-T G.113 Appendix I tabulates them, plus what it adds to the delay."""

    name: str
    ie: float
    bpl: float
    frame_ms: float  # one packet's audio: the packetisation delay
    lookahead_ms: float  # the encoder's algorithmic look-ahead
    source: str
    # whether G.107's BurstR raises the impairment of bursty loss for this codec (7.4); a
    # codec whose listeners hear bursts no worse than random loss takes all loss as random
    bursts_hurt_more: bool = True


CODECS = {
    "opus": CodecProfile(
        "opus",
        ie=0.0,
        bpl=10.1,
        frame_ms=20.0,
        lookahead_ms=6.5,
        source="fitted to wideband PESQ (ITU-T P.862.2) of the probe's own calls (aiortc's Opus,"
        " 96 kbit/s, libopus's concealment) under tc netem, 13 cells of loss, jitter and "
        "delay (bench/bench_listening.py, bench/fit_opus_profile.py, the table in "
        "bench/README.md): worst cell 0.21 MOS apart, 0.13 on average (RMS), in the "
        "E-model's listening form (the second run, the listener scored from its decoder's"
        " second frame; the first run's Ie 4, Bpl 10.3 were 0.34 apart on it). The fit "
        "starts from G.113 Appendix I's G.711 with PLC (Ie 0, Bpl 25.1: G.113 tabulates "
        "no Opus), which overrated every lossy cell by up to 1.1 MOS; as in published "
        "Opus- and SILK-aware E-model work, Ie and Bpl are fitted to PESQ. Bursts of 60 "
        "ms hurt no more than random loss to the listener (G.107's BurstR left it 0.39 "
        "MOS apart at best, both runs): loss is taken as random. The look-ahead is Opus's"
        " default 6.5 ms (RFC 6716 section 2)",
        bursts_hurt_more=False,
    ),
    "g711-plc": CodecProfile(
        "g711-plc",
        ie=0.0,
        bpl=25.1,
        frame_ms=20.0,
        lookahead_ms=0.0,
        source="G.113 Appendix I, Table I.3: G.711 with packet loss concealment",
    ),
    "g729a": CodecProfile(
        "g729a",
        ie=11.0,
        bpl=19.0,
        frame_ms=20.0,
        lookahead_ms=5.0,
        source="G.113 Appendix I, Tables I.1 and I.3: G.729A with VAD",
    ),
}


def _noise_floor_db() -> float:
    """No: the total noise at the receive side, from circuit, room and floor noise (7.1)."""
    olr = SLR + RLR
    nos = PS - SLR - DS - 100 + 0.004 * (PS - olr - DS - 14) ** 2
    pre = PR + 10 * math.log10(1 + 10 ** ((10 - LSTR) / 10))
    nor = RLR - 121 + pre + 0.008 * (pre - 35) ** 2
    nfo = NFOR + RLR
    powers = (NC, nos, nor, nfo)
    return 10 * math.log10(sum(10 ** (level / 10) for level in powers))


def basic_signal_to_noise() -> float:
    """Ro (7.1): 94.77 with the defaults."""
    return 15 - 1.5 * (SLR + _noise_floor_db())


def _stmr_o(echo_delay_ms: float) -> float:
    return -10 * math.log10(10 ** (-STMR / 10) + math.exp(-echo_delay_ms / 4) * 10 ** (-TELR / 10))


def simultaneous_impairment(echo_delay_ms: float = 0.0) -> float:
    """Is (7.2): loudness, sidetone and quantising distortion; 1.43 with the defaults."""
    ro = basic_signal_to_noise()
    olr = SLR + RLR
    xolr = olr + 0.2 * (64 + _noise_floor_db() - RLR)
    iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)
    stmr_o = _stmr_o(echo_delay_ms)
    ist = (
        12 * (1 + ((stmr_o - 13) / 6) ** 8) ** (1 / 8)
        - 28 * (1 + ((stmr_o + 1) / 19.4) ** 35) ** (1 / 35)
        - 13 * (1 + ((stmr_o - 3) / 33) ** 13) ** (1 / 13)
        + 29
    )
    q = 37 - 15 * math.log10(QDU)
    g = 1.07 + 0.258 * q + 0.0602 * q**2
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    iq = 15 * math.log10(1 + 10**y + 10**z)
    return float(iolr + ist + iq)


def delay_impairment(one_way_ms: float) -> float:
    """Id (7.3): talker echo, listener echo and the absolute delay's own impairment, for a
    VoIP path whose echo path delay T and mouth-to-ear delay Ta are both the one-way delay and
    whose round trip Tr is twice it."""
    t, ta, tr = one_way_ms, one_way_ms, 2 * one_way_ms
    ro = basic_signal_to_noise()
    roe = -1.5 * (_noise_floor_db() - RLR)
    terv = TELR - 40 * math.log10((1 + t / 10) / (1 + t / 150)) + 6 * math.exp(-0.3 * t**2)
    if STMR < 9:
        terv += simultaneous_impairment(t) / 2
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-t))
    rle = 10.5 * (WEPL + 7) * (tr + 1) ** -0.25
    idle = (ro - rle) / 2 + math.sqrt((ro - rle) ** 2 / 4 + 169)
    idd = 0.0
    if ta > 100:
        x = math.log10(ta / 100) / math.log10(2)
        idd = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    return float(idte + idle + idd)


def effective_equipment_impairment(codec: CodecProfile, loss_pct: float, burst_r: float) -> float:
    """Ie-eff (7.4): the codec's impairment grown by the packet loss (in %) and its
    burstiness (BurstR 1: random loss; above 1: bursty; ignored where the codec's
    `bursts_hurt_more` is False)."""
    if loss_pct <= 0:
        return codec.ie
    burst_r = burst_r if codec.bursts_hurt_more else 1.0
    return codec.ie + (95 - codec.ie) * loss_pct / (loss_pct / burst_r + codec.bpl)


def rating(one_way_ms: float, loss_pct: float, burst_r: float, codec: CodecProfile) -> float:
    """R = Ro - Is - Id - Ie-eff + A (7.0)."""
    return (
        basic_signal_to_noise()
        - simultaneous_impairment(one_way_ms)
        - delay_impairment(one_way_ms)
        - effective_equipment_impairment(codec, loss_pct, burst_r)
        + ADVANTAGE
    )


def best_mos(codec: CodecProfile, buffer_ms: float) -> float:
    """The MOS of a perfect path for the codec: no loss, no network delay, the jitter buffer's
    least depth (a clean sandbox path scores within a few hundredths of it)."""
    return mos_of(rating(mouth_to_ear_ms(0.0, buffer_ms, codec), 0.0, 1.0, codec))


def mos_of(r: float) -> float:
    """The estimated MOS (conversational quality, G.107 Annex B, B-4)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


def mouth_to_ear_ms(network_one_way_ms: float, buffer_ms: float, codec: CodecProfile) -> float:
    """What a caller hears as delay: the fastest packet's one-way delay, the jitter buffer's
    depth beyond it (quality/measure.py: adaptive_buffer_ms), the packetisation and the codec's
    look-ahead."""
    return network_one_way_ms + buffer_ms + codec.frame_ms + codec.lookahead_ms
