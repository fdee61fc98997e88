"""The probe's talker: an artificial voice, speech-like enough for a full-reference listening
model to judge what a call did to it. Pure (numpy).

A listening model (PESQ) is built for speech: it finds utterances by their activity, weighs
the bands speech fills and judges how a codec and its loss concealment rebuild them; a tone
under noise gives it nothing to judge. The voice follows the idea of ITU-T P.50's artificial
voice: words of syllables, each a voiced vowel (harmonics of a pitch that moves, shaped by the
vowel's formants) after an optional unvoiced consonant (noise in the high band), words and
phrases parted by pauses, an active level of -26 dBov (P.56's nominal), over a faint noise
floor so that no two 20 ms frames are identical (the probe matches packets by payload). It is
one fixed loop, the same at every run (its seed); the caller keeps what it sent when a call is
scored (quality/listening.py)."""

from dataclasses import dataclass
from functools import cache

import numpy as np

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms: one packet's audio
LOOP_S = 20.0
SEED = 27
ACTIVE_LEVEL_DBOV = -26.0
NOISE_FLOOR_DBOV = -60.0
FULL_SCALE = 32768.0

# formants (Hz) of five vowels, after Peterson and Barney's averages for an adult talker
VOWELS = (
    (730.0, 1090.0, 2440.0),  # a
    (530.0, 1840.0, 2480.0),  # e
    (270.0, 2290.0, 3010.0),  # i
    (570.0, 840.0, 2410.0),  # o
    (300.0, 870.0, 2240.0),  # u
)
FORMANT_BANDWIDTHS_HZ = (90.0, 110.0, 170.0)
HIGHEST_HARMONIC_HZ = 7_500.0  # the top of wideband speech; Opus codes up to 20 kHz anyway


@dataclass(frozen=True)
class Segment:
    start: int  # samples
    length: int
    kind: str  # "vowel" or "consonant"
    vowel: int = 0
    pitch_hz: float = 120.0
    pitch_end_hz: float = 120.0


def _layout(rng: np.random.Generator, total: int) -> list[Segment]:
    """Phrases of 2-4 words, words of 1-3 syllables: about 60 % of the time active, as a
    talker in conversation is (P.59)."""
    segments, at = [], int(0.3 * SAMPLE_RATE)
    while at < total - SAMPLE_RATE:
        base_pitch = rng.uniform(100, 160)
        for _word in range(rng.integers(2, 5)):
            for _syllable in range(rng.integers(1, 4)):
                if rng.random() < 0.6:
                    length = int(rng.uniform(0.04, 0.09) * SAMPLE_RATE)
                    segments.append(Segment(at, length, "consonant"))
                    at += length
                length = int(rng.uniform(0.10, 0.22) * SAMPLE_RATE)
                start = base_pitch * rng.uniform(0.9, 1.25)
                segments.append(
                    Segment(at, length, "vowel", int(rng.integers(len(VOWELS))), start,
                            start * rng.uniform(0.8, 1.05))
                )  # fmt: skip
                at += length
            at += int(rng.uniform(0.08, 0.25) * SAMPLE_RATE)
        at += int(rng.uniform(0.35, 0.7) * SAMPLE_RATE)
    return [segment for segment in segments if segment.start + segment.length <= total]


def _envelope(length: int, ramp_s: float = 0.015) -> np.ndarray:
    ramp = min(int(ramp_s * SAMPLE_RATE), length // 2)
    envelope = np.ones(length)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / max(ramp, 1))
    envelope[:ramp], envelope[length - ramp :] = rise, rise[::-1]
    return envelope


def _formant_gain(frequency_hz: np.ndarray, vowel: int) -> np.ndarray:
    """The vocal tract's response at the harmonics: one resonance per formant, on a glottal
    source falling 12 dB an octave."""
    gain = (100.0 / np.maximum(frequency_hz, 100.0)) ** 2
    for formant, bandwidth in zip(VOWELS[vowel], FORMANT_BANDWIDTHS_HZ, strict=True):
        detuning = (frequency_hz - formant) / (bandwidth / 2)
        gain = gain * np.sqrt(1 + (formant / bandwidth) ** 2 / (1 + detuning**2))
    return np.asarray(gain, dtype=np.float64)


def _vowel(segment: Segment, rng: np.random.Generator) -> np.ndarray:
    pitch = np.linspace(segment.pitch_hz, segment.pitch_end_hz, segment.length)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    harmonics = np.arange(1, int(HIGHEST_HARMONIC_HZ // segment.pitch_hz) + 1)
    gains = _formant_gain(harmonics * (segment.pitch_hz + segment.pitch_end_hz) / 2, segment.vowel)
    offsets = rng.uniform(0, 2 * np.pi, len(harmonics))
    wave = np.zeros(segment.length)
    for harmonic, gain, offset in zip(harmonics, gains, offsets, strict=True):
        wave += gain * np.sin(harmonic * phase + offset)
    return np.asarray(wave * _envelope(segment.length))


def _consonant(segment: Segment, rng: np.random.Generator) -> np.ndarray:
    """A fricative: noise from 2.5 to 7 kHz."""
    spectrum = np.fft.rfft(rng.normal(0, 1, segment.length))
    frequency = np.fft.rfftfreq(segment.length, 1 / SAMPLE_RATE)
    spectrum[(frequency < 2_500) | (frequency > 7_000)] = 0
    return np.asarray(np.fft.irfft(spectrum, segment.length) * _envelope(segment.length, 0.008))


def _at_level(signal: np.ndarray, active: np.ndarray, level_dbov: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(signal[active] ** 2)))
    return signal * (FULL_SCALE * 10 ** (level_dbov / 20) / rms)


@cache
def loop() -> np.ndarray:
    """The voice's loop: LOOP_S seconds at 48 kHz, full scale 32768, no noise."""
    rng = np.random.default_rng(SEED)
    total = int(LOOP_S * SAMPLE_RATE)
    speech, active = np.zeros(total), np.zeros(total, dtype=bool)
    for segment in _layout(rng, total):
        make = _vowel if segment.kind == "vowel" else _consonant
        part = make(segment, rng)
        if segment.kind == "consonant":
            part *= 0.25  # a fricative is quieter than the vowel it leads into
        span = slice(segment.start, segment.start + segment.length)
        speech[span] += part / (np.sqrt(np.mean(part**2)) or 1.0)
        active[span] = True
    voice = _at_level(speech, active, ACTIVE_LEVEL_DBOV)
    voice.setflags(write=False)  # shared by every caller (cached)
    return voice


def samples(start: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` 16-bit samples of the voice from sample `start` on (the loop repeats), over a
    noise floor of `rng`'s: fresh noise, so that a frame differs from the same frame of an
    earlier pass of the loop."""
    voice = loop()
    speech = voice[(start + np.arange(count)) % len(voice)]
    noise = rng.normal(0, FULL_SCALE * 10 ** (NOISE_FLOOR_DBOV / 20), count)
    return np.clip(np.round(speech + noise), -32768, 32767).astype(np.int16)
