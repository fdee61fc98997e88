"""libopus's decoder with its packet loss concealment, as a caller's client runs it.

PyAV (aiortc's codecs) decodes only the packets it is given: a lost packet leaves a gap of
silence, which no client plays. libopus conceals one when asked to decode "no packet"
(`opus_decode` with no data, RFC 6716 section 4.4); PyAV does not expose that call, so this
binds the three functions it needs from the libopus PyAV ships (or the system's)."""

import ctypes
import ctypes.util
from pathlib import Path

import av
import numpy as np


class OpusUnavailable(Exception):
    pass


def _library() -> ctypes.CDLL:
    bundled = sorted((Path(av.__file__).parent.parent / "av.libs").glob("libopus*.so*"))
    system = ctypes.util.find_library("opus")
    for candidate in [*(str(path) for path in bundled), *([system] if system else [])]:
        try:
            library = ctypes.CDLL(candidate)
        except OSError:
            continue
        library.opus_decoder_create.restype = ctypes.c_void_p
        library.opus_decoder_create.argtypes = [
            ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)
        ]  # fmt: skip
        library.opus_decode.restype = ctypes.c_int
        library.opus_decode.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
            ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_int,
        ]  # fmt: skip
        library.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        return library
    raise OpusUnavailable("no libopus: neither PyAV's own nor the system's (libopus0)")


class Decoder:
    """A mono decoder at `sample_rate` (8, 12, 16, 24 or 48 kHz): libopus downmixes a stereo
    stream and resamples itself."""

    def __init__(self, sample_rate: int, frame_ms: float = 20.0) -> None:
        self._opus = _library()
        error = ctypes.c_int(0)
        self._state = self._opus.opus_decoder_create(sample_rate, 1, ctypes.byref(error))
        if error.value or not self._state:
            raise OpusUnavailable(f"opus_decoder_create({sample_rate}): error {error.value}")
        self.frame_samples = int(sample_rate * frame_ms / 1000)
        self._pcm = (ctypes.c_int16 * self.frame_samples)()

    def decode(self, payload: bytes | None) -> np.ndarray:
        """One frame's samples: the payload's, or concealed when it is None (lost, late)."""
        decoded = self._opus.opus_decode(
            self._state, payload, len(payload) if payload else 0, self._pcm,
            self.frame_samples, 0,
        )  # fmt: skip
        if decoded < 0:
            raise ValueError(f"opus_decode: error {decoded}")
        return np.ctypeslib.as_array(self._pcm)[:decoded].copy()

    def close(self) -> None:
        if self._state:
            self._opus.opus_decoder_destroy(self._state)
            self._state = None

    def __enter__(self) -> "Decoder":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
