"""Conversion of decoded frames to float32 stereo at one rate, into one growing buffer."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import cast

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame

FloatAudio = npt.NDArray[np.float32]


class StereoConverter:
    """Resample any frame to float planar at the target rate; mono duplicated, >2 downmixed.

    Mono is duplicated by hand: FFmpeg's resampler would spread it at -3 dB per side, while
    demucs (and our listeners) expect a mono file to play at its own level in both ears.
    """

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._resampler: av.AudioResampler | None = None
        self._signature: tuple[str, str, int] | None = None
        self._mono = False

    def convert(self, frame: AudioFrame) -> Iterator[FloatAudio]:
        signature = (frame.format.name, frame.layout.name, frame.sample_rate)
        if signature != self._signature:
            # A stream may change rate or layout midway (concatenated MP3s): drain the old
            # resampler, then start one that matches.
            yield from self.flush()
            self._mono = len(frame.layout.channels) == 1
            self._resampler = av.AudioResampler(
                format="fltp", layout="mono" if self._mono else "stereo", rate=self._rate
            )
            self._signature = signature
        assert self._resampler is not None
        for converted in self._resampler.resample(frame):
            yield self._as_stereo(converted)

    def flush(self) -> Iterator[FloatAudio]:
        if self._resampler is None:
            return
        resampler, self._resampler, self._signature = self._resampler, None, None
        for converted in resampler.resample(None):
            yield self._as_stereo(converted)

    def _as_stereo(self, frame: AudioFrame) -> FloatAudio:
        planes = cast(FloatAudio, frame.to_ndarray())
        if self._mono:
            return np.broadcast_to(planes[:1], (2, planes.shape[1]))
        return planes


class StereoBuffer:
    """Growable (2, n) float32 buffer: one flat allocation, left channel then right channel.

    Grows by 1.5x with ``ndarray.resize`` (a realloc, often in place) and is trimmed in place at
    the end, so a 20-minute song never exists twice in memory.
    """

    def __init__(self, capacity: int, max_capacity: int | None = None) -> None:
        self._flat: FloatAudio = np.empty(2 * capacity, dtype=np.float32)
        self._capacity = capacity
        self._max_capacity = max_capacity
        self.length = 0

    def append(self, block: FloatAudio) -> None:
        count = block.shape[1]
        needed = self.length + count
        if needed > self._capacity:
            capacity = max(needed, math.ceil(self._capacity * 1.5))
            if self._max_capacity is not None:
                capacity = max(needed, min(capacity, self._max_capacity))
            self._grow(capacity)
        cap, start = self._capacity, self.length
        self._flat[start:needed] = block[0]
        self._flat[cap + start : cap + needed] = block[1]
        self.length = needed

    def _grow(self, capacity: int) -> None:
        old = self._capacity
        self._flat.resize(2 * capacity, refcheck=False)
        # Move the right channel to its new offset (numpy copes with the overlap).
        self._flat[capacity : capacity + self.length] = self._flat[old : old + self.length]
        self._capacity = capacity

    def finish(self) -> FloatAudio:
        n, cap = self.length, self._capacity
        if n < cap:
            self._flat[n : 2 * n] = self._flat[cap : cap + n]
            self._flat.resize(2 * n, refcheck=False)
        audio = self._flat.reshape(2, n)
        self._flat = np.empty(0, dtype=np.float32)
        return audio
