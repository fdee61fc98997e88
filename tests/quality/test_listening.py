"""The full-reference listening score, offline: the probe's voice as aiortc's own Opus encoder
codes it, a listener's jitter buffer, libopus's concealment and PESQ judging what was heard
against what was sent. (A real call is scored on the sandbox: tests/roles/test_site_deploy.py.)"""

import json
from dataclasses import dataclass, replace

import numpy as np
import pytest

from quality import calibration, voice
from quality.calibration import Cell, ScoredCall
from quality.call import coded_voice
from quality.emodel import CODECS
from quality.listening import (
    MODEL,
    RATE,
    Heard,
    decoded,
    lag_of,
    listening_score,
    played_out,
    wideband,
)
from quality.measure import LossPattern, PathFigures, relative_delays_s, too_late
from quality.opus import Decoder
from quality.report import judged, summary
from quality.voice import FRAME_SAMPLES, SAMPLE_RATE

pytestmark = pytest.mark.quality
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True)
class Encoded:
    sent_pcm: np.ndarray
    payloads: list[bytes]
    timestamps: list[int]


def encoded_voice(seconds: float, start_timestamp: int = 1_000) -> Encoded:
    """The probe's voice coded as a call codes it: aiortc's OpusEncoder, frame by frame."""
    coded = coded_voice(int(seconds / FRAME_S), np.random.default_rng(5))
    timestamps = [(start_timestamp + t) % 2**32 for t in coded.timestamps]
    return Encoded(coded.pcm, coded.payloads, timestamps)


def heard(
    call: Encoded,
    lost: frozenset[int] | set[int] = frozenset(),
    delays_s: list[float] | None = None,
    buffer_ms: float = 20.0,
) -> list[Heard]:
    """The packets as a subscriber gets them: 40 ms after sending, plus `delays_s`; those a
    buffer of `buffer_ms` misses marked late, by the call's figures' rule (quality/measure.py)."""
    delays = delays_s or [0.0] * len(call.payloads)
    kept = [index for index in range(len(call.payloads)) if index not in lost]
    relative = relative_delays_s([delays[index] for index in kept])
    packets = [
        (index * FRAME_S + 0.04 + delays[index],
         Heard(call.timestamps[index], call.payloads[index], index, too_late(extra, buffer_ms)))
        for index, extra in zip(kept, relative, strict=True)
    ]  # fmt: skip
    return [packet for _, packet in sorted(packets, key=lambda arrival: arrival[0])]


@pytest.fixture(scope="module")
def call() -> Encoded:
    return encoded_voice(10.0)


def test_the_voice_is_speech_like_at_its_nominal_level() -> None:
    """Active about half the time, as a talker in conversation is, at -26 dBov when active,
    its energy in speech's band."""
    loop = voice.loop()
    frames = loop[: len(loop) // 960 * 960].reshape(-1, 960)
    frame_db = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) / voice.FULL_SCALE + 1e-12)
    active = frame_db > -50
    assert 0.4 <= active.mean() <= 0.75, active.mean()
    active_level = 10 * np.log10(np.mean(frames[active] ** 2) / voice.FULL_SCALE**2)
    assert active_level == pytest.approx(voice.ACTIVE_LEVEL_DBOV, abs=1.5)
    spectrum = np.abs(np.fft.rfft(loop)) ** 2
    frequency = np.fft.rfftfreq(len(loop), 1 / voice.SAMPLE_RATE)
    assert spectrum[(frequency > 80) & (frequency < 7_500)].sum() / spectrum.sum() > 0.99


def test_every_frame_codes_to_a_payload_of_its_own_across_passes_of_the_loop() -> None:
    """The probe matches packets by payload: its pauses and its loop's repeats must not give
    two identical ones."""
    long_call = encoded_voice(voice.LOOP_S * 1.5)
    assert len(set(long_call.payloads)) == len(long_call.payloads)


def test_a_clean_call_scores_near_pesqs_top_and_loss_lowers_it(call: Encoded) -> None:
    """PESQ's wideband scale tops at 4.64: Opus at aiortc's 96 kbit/s, nothing lost, scores near
    it; every tenth frame lost (concealed by libopus) scores far lower."""
    clean = listening_score(call.sent_pcm, heard(call))
    assert clean.model == MODEL and clean.error == ""
    assert clean.mos_lqo is not None and clean.mos_lqo >= 4.2, clean
    assert clean.concealed_pct == 0
    lossy = listening_score(call.sent_pcm, heard(call, lost=set(range(5, 500, 10))))
    assert lossy.mos_lqo is not None and lossy.mos_lqo < clean.mos_lqo - 1.0, lossy
    assert lossy.concealed_pct == pytest.approx(10, abs=0.5)


def test_packets_later_than_the_jitter_buffer_are_concealed_earlier_ones_reordered(
    call: Encoded,
) -> None:
    """Every fifth packet 30 ms late: a 20 ms buffer drops them (they arrive after their turn),
    a 40 ms buffer plays them, reordered, as if nothing happened."""
    delays = [0.03 if index % 5 == 0 else 0.0 for index in range(len(call.payloads))]
    arrived, held = heard(call, delays_s=delays), heard(call, delays_s=delays, buffer_ms=40.0)
    assert [p.sent_index for p in arrived[:3]] == [1, 0, 2], "the late first arrives second"
    shallow, deep = played_out(arrived), played_out(held)
    assert shallow.late == len(call.payloads) // 5 and shallow.frames[5] is None
    assert deep.late == 0 and deep.frames == call.payloads
    assert deep.first_sent_index == 0
    late = listening_score(call.sent_pcm, arrived)
    played = listening_score(call.sent_pcm, held)
    assert late.concealed_pct == pytest.approx(20, abs=0.5)
    assert played.mos_lqo is not None and late.mos_lqo is not None
    assert played.mos_lqo >= 4.2 and late.mos_lqo < played.mos_lqo - 1.0


def test_a_listener_joining_mid_stream_is_scored_from_its_decoders_second_frame() -> None:
    """A subscriber hears the voice from wherever the SFU began forwarding: a clean stretch
    is scored near PESQ's top wherever it starts. From 4.8 s into the voice, a decoder's
    first frame (its start-up: nothing to overlap with) scored the clean stretch 3.47 (10 s)
    and 2.71 (3.5 s) when it was scored too."""
    long_call = encoded_voice(15.0)
    packets = heard(long_call)
    for first in (100, 240, 260):
        for frames in (175, 500):
            score = listening_score(long_call.sent_pcm, packets[first : first + frames])
            assert score.mos_lqo is not None and score.mos_lqo >= 4.2, (first, frames, score)


def test_the_rtp_timestamp_may_wrap_during_a_call() -> None:
    wrapping = encoded_voice(2.0, start_timestamp=2**32 - 20 * FRAME_SAMPLES)
    playout = played_out(heard(wrapping))
    assert playout.frames == wrapping.payloads


def test_a_lost_frame_is_concealed_not_silenced(call: Encoded) -> None:
    """libopus fills a lost frame in the middle of a vowel with sound, where PyAV would leave
    a gap."""
    loud = max(range(50, 400), key=lambda i: np.abs(call.sent_pcm[i * 960 : (i + 1) * 960]).mean())
    with Decoder(RATE) as decoder:
        for payload in call.payloads[:loud]:
            decoder.decode(payload)
        concealed = decoder.decode(None)
    assert len(concealed) == FRAME_SAMPLES // 3
    sent = call.sent_pcm[loud * 960 : (loud + 1) * 960]
    assert np.abs(concealed).mean() > 0.2 * np.abs(sent).mean()


def test_the_alignment_finds_where_the_heard_audio_starts(call: Encoded) -> None:
    reference = wideband(call.sent_pcm)
    degraded = decoded(played_out(heard(call)[100:]))  # from the 100th frame on
    lag = lag_of(reference, degraded, expected=100 * 320, search=4000)
    # a packet decodes to its frame's audio 6.5 ms late (Opus's look-ahead, 104 samples at
    # 16 kHz): the heard audio starts that much before frame 100 in what was sent
    assert lag == pytest.approx(100 * 320 - 104, abs=2)


def test_a_call_heard_not_at_all_is_not_scored(call: Encoded) -> None:
    score = listening_score(call.sent_pcm, [])
    assert score.mos_lqo is None and score.error == "no packet was received"


def test_the_report_carries_both_scores(call: Encoded) -> None:
    score = listening_score(call.sent_pcm, heard(call, lost={40, 41, 90}))
    figures = PathFigures(500, 497, 40.0, 40.0, 41.0, 0.5, 0.5, LossPattern(500, 3, 1.2, 1.5))
    report = judged("sbx1-sfu01", "172.31.0.10", figures, 0.2, 1.0, 10.0, CODECS["opus"],
                    listening=score)  # fmt: skip
    assert report.listening_mos == score.mos_lqo and report.concealed_pct == pytest.approx(0.6)
    assert report.late_pct == 0 and report.heard_loss_pct == report.loss_pct
    as_json = json.loads(report.to_json())
    assert as_json["listening_mos"] == score.mos_lqo and as_json["listening_model"] == MODEL
    text = summary(report)
    assert f"full reference                     MOS-LQO {score.mos_lqo:.2f} ({MODEL})" in text
    assert "heard (decoded, concealed)         0.60 % of frames concealed" in text
    not_scored = judged("sbx1-sfu01", "172.31.0.10", figures, 0.2, 1.0, 10.0)
    assert "full reference" not in summary(not_scored) and not_scored.listening_mos is None


def synthetic_cells(ie: float, bpl: float) -> list[Cell]:
    """Cells whose listening scores are exactly the E-model's with (ie, bpl)."""
    truth = replace(CODECS["opus"], ie=ie, bpl=bpl)
    cells = []
    conditions = [("clean", 47, 0, 1), ("1 %", 47, 1, 1), ("5 %", 47, 5, 1),
                  ("10 % bursty", 47, 10, 2.5), ("200 ms", 247, 0, 1)]  # fmt: skip
    for name, delay, loss, burst in conditions:
        call = ScoredCall(delay, loss, burst, 0.0)
        mos = calibration.cell_mos(Cell(name, (call,)), truth)
        cells.append(Cell(name, (replace(call, listening_mos=mos),)))
    return cells


def test_the_fit_finds_the_codec_parameters_the_scores_came_from() -> None:
    cells = synthetic_cells(ie=6.0, bpl=9.5)
    found = calibration.fit(cells, CODECS["opus"])
    assert (found.codec.ie, found.codec.bpl) == pytest.approx((6.0, 9.5), abs=0.11)
    assert found.worst_error < 0.01 and found.codec.frame_ms == CODECS["opus"].frame_ms
    as_g711 = calibration.judged(cells, CODECS["g711-plc"])
    # G.711's concealment is more robust than these scores: it overrates every lossy cell
    assert as_g711.errors["10 % bursty"] > 0.5 and as_g711.errors["1 %"] > 0
    assert as_g711.worst_error == max(abs(e) for e in as_g711.errors.values())
