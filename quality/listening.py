"""A call's full-reference listening score: what its subscriber received, played out through
a caller's jitter buffer and decoded with libopus's loss concealment, compared with what its
publisher sent, by ITU-T P.862.2 (wideband PESQ, the `pesq` package). Pure but for the two
libraries it runs (libopus, PESQ).

PESQ rather than ViSQOL: P.862.2 is the ITU's wideband listening model, the one the Opus-aware
E-model work calibrates against; its `pesq` package wraps the ITU's own C code (fast: 0.1 s a
call) and needs numpy only, where the pure-Python ViSQOL port brings scipy, soundfile and a
libsvm build and takes seconds a call. Both judge listening quality only: neither hears the
delay, which the E-model's conversational MOS counts (its Id)."""

import math
from dataclasses import dataclass

import av
import numpy as np

from quality.opus import Decoder
from quality.voice import FRAME_SAMPLES, SAMPLE_RATE

MODEL = "pesq-p862.2-wb"
RATE = 16_000  # P.862.2's
ALIGNMENT_SEARCH_S = 0.25  # either side of where the first packet's frame was sent
# A listener's decoder joins the stream mid-utterance: its first frame has no previous one to
# overlap with, and is its own start-up, not the path's (scored, one clean 4 s call of the
# sandbox was heard at 1.93 and a clean 10 s stretch at 3.48; from the second frame on, 4.3+)
DECODER_START_FRAMES = 1


@dataclass(frozen=True)
class Heard:
    """One packet as the subscriber received it."""

    rtp_timestamp: int
    payload: bytes
    sent_index: int  # its frame's place among the publisher's, -1 when unknown
    late: bool = False  # too late for the listener's buffer, as the call's figures found it


@dataclass(frozen=True)
class Playout:
    """The listener's frames from the first one received on: each frame's payload, or None
    where the decoder conceals one (never received, or too late for the jitter buffer)."""

    frames: list[bytes | None]
    first_sent_index: int  # the publisher's frame the first of them is
    late: int  # received after their turn to play

    @property
    def concealed(self) -> int:
        return sum(frame is None for frame in self.frames)


def played_out(heard: list[Heard]) -> Playout:
    """The listener's frames: each packet in its place by its RTP timestamp (so reordering
    costs nothing a buffer can absorb), but those too late for the buffer, which are dropped:
    the ones the call's figures found late (quality/measure.py), so that the E-model and the
    listener miss the same packets."""
    if not heard:
        return Playout([], -1, 0)
    reference = heard[0].rtp_timestamp
    offsets = [((p.rtp_timestamp - reference + 2**31) % 2**32) - 2**31 for p in heard]
    start = min(offsets)
    frames: list[bytes | None] = [None] * (round((max(offsets) - start) / FRAME_SAMPLES) + 1)
    first_sent_index = -1
    for packet, offset in zip(heard, offsets, strict=True):
        slot = round((offset - start) / FRAME_SAMPLES)
        if slot == 0:
            first_sent_index = packet.sent_index
        if not packet.late:
            frames[slot] = packet.payload
    return Playout(frames, first_sent_index, sum(packet.late for packet in heard))


def decoded(playout: Playout) -> np.ndarray:
    """The listener's audio at 16 kHz, libopus concealing each missing frame."""
    with Decoder(RATE) as decoder:
        pieces = [decoder.decode(frame) for frame in playout.frames]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)


def wideband(pcm_48k: np.ndarray) -> np.ndarray:
    """The publisher's audio resampled to 16 kHz (FFmpeg's resampler, as PyAV runs it)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    frame = av.AudioFrame.from_ndarray(pcm_48k.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frames = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


def lag_of(reference: np.ndarray, degraded: np.ndarray, expected: int, search: int) -> int:
    """Where in `reference` `degraded` starts: the cross-correlation's peak within `search`
    samples of `expected` (the voice repeats: the peak is only looked for near it)."""
    size = 1 << math.ceil(math.log2(len(reference) + len(degraded)))
    spectrum = np.fft.rfft(reference.astype(float), size) * np.conj(
        np.fft.rfft(degraded.astype(float), size)
    )
    correlation = np.fft.irfft(spectrum, size)[: len(reference)]
    low, high = max(0, expected - search), min(len(reference), expected + search + 1)
    if low >= high:
        return max(0, min(expected, len(reference) - 1))
    return low + int(np.argmax(correlation[low:high]))


@dataclass(frozen=True)
class ListeningScore:
    mos_lqo: float | None  # P.862.2's MOS-LQO (1.04 to 4.64); None: not scored (`error`)
    concealed_pct: float  # frames the decoder concealed, of those the listener played
    error: str = ""
    model: str = MODEL


def listening_score(sent_pcm: np.ndarray, heard: list[Heard]) -> ListeningScore:
    """What the call sounded like, from the listener's second frame on: `sent_pcm` the
    publisher's 48 kHz audio from its first frame, `heard` the subscriber's packets as they
    came."""
    playout = played_out(heard)
    frames = len(playout.frames) or 1
    concealed = round(100 * playout.concealed / frames, 3)
    if not playout.frames:
        return ListeningScore(None, concealed, "no packet was received")
    step = FRAME_SAMPLES * RATE // SAMPLE_RATE
    degraded = decoded(playout)[DECODER_START_FRAMES * step :]
    if not len(degraded):
        return ListeningScore(None, concealed, "only the decoder's first frame was heard")
    reference = wideband(sent_pcm)
    expected = (max(playout.first_sent_index, 0) + DECODER_START_FRAMES) * step
    lag = lag_of(reference, degraded, expected, int(ALIGNMENT_SEARCH_S * RATE))
    span = min(len(degraded), len(reference) - lag)
    import pesq  # the control machine's: the probers' venv on the hosts has no PESQ

    try:
        mos = pesq.pesq(RATE, reference[lag : lag + span], degraded[:span], "wb")
    except pesq.PesqError as error:
        return ListeningScore(None, concealed, f"{type(error).__name__}: {error}")
    return ListeningScore(round(float(mos), 3), concealed)
