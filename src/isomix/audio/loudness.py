"""Loudness normalisation of an export: a target in LUFS with a true-peak ceiling.

Integrated loudness is ITU-R BS.1770-4 (K-weighting, 400 ms gated blocks) as pyloudnorm
measures it. The true peak is the largest sample of the signal oversampled four times
(polyphase, `scipy.signal.resample_poly`), as BS.1770-4 Annex 2 measures it.

Reaching the target is a gain; where that gain would lift a true peak above the ceiling, a
simple look-ahead limiter takes the peak down instead: the gain at each sample is never more
than what keeps the oversampled peaks within `LIMITER_HOLD_SECONDS` of it under the ceiling,
and changes as a moving average over that window (so it starts falling that long before a
peak and recovers that long after). Limiting lowers the loudness a little, so gain and limiter
are applied again, a few rounds, until the loudness is within `TOLERANCE_LU` of the target;
a last plain gain makes sure no true peak is above the ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from isomix.audio.dsp import FloatAudio, db_to_gain

OVERSAMPLING: Final = 4
CEILING_DBTP: Final = -1.0
TOLERANCE_LU: Final = 0.1
LIMITER_HOLD_SECONDS: Final = 0.01
ROUNDS: Final = 6
_CHUNK: Final = 1 << 18
_MARGIN_DB: Final = 0.01  # the limiter aims this far under the ceiling: float32 rounding
_PAD: Final = 64  # input samples either side of a chunk: the polyphase filter's reach


@dataclass(frozen=True)
class Normalised:
    audio: FloatAudio
    measured_lufs: float | None  # before; None: too short or silent to measure
    lufs: float | None  # after
    true_peak_dbtp: float


def integrated_loudness(audio: FloatAudio, sample_rate: int) -> float | None:
    """LUFS of a (channels, n) signal; None when it is shorter than one 400 ms block or silent."""
    meter = pyloudnorm.Meter(sample_rate)
    if audio.shape[1] < round(meter.block_size * sample_rate) + 1:
        return None
    value = float(meter.integrated_loudness(audio.T.astype(np.float64)))
    return value if math.isfinite(value) else None


def true_peak_envelope(audio: FloatAudio) -> FloatAudio:
    """Per input sample, the largest |value| of the 4x oversampled signal at it, any channel."""
    n = audio.shape[1]
    envelope = np.zeros(n, dtype=np.float32)
    for start in range(0, n, _CHUNK):
        end = min(n, start + _CHUNK)
        lo, hi = max(0, start - _PAD), min(n, end + _PAD)
        up = resample_poly(audio[:, lo:hi], OVERSAMPLING, 1, axis=1)
        offset = (start - lo) * OVERSAMPLING
        part = np.abs(up[:, offset : offset + (end - start) * OVERSAMPLING])
        envelope[start:end] = part.reshape(audio.shape[0], end - start, OVERSAMPLING).max(
            axis=(0, 2)
        )
    return envelope


def true_peak_dbtp(audio: FloatAudio) -> float:
    if audio.shape[1] == 0:
        return -math.inf
    peak = float(true_peak_envelope(audio).max())
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def limit(audio: FloatAudio, sample_rate: int, ceiling_dbtp: float = CEILING_DBTP) -> FloatAudio:
    """The look-ahead limiter: peaks above the ceiling taken down, the rest untouched."""
    ceiling = db_to_gain(ceiling_dbtp)
    envelope = true_peak_envelope(audio)
    if envelope.size == 0 or float(envelope.max()) <= ceiling:
        return audio
    needed = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12)).astype(np.float32)
    width = 2 * max(1, round(LIMITER_HOLD_SECONDS * sample_rate)) + 1
    # The mean over a window of minima over the same window is, at every sample, no more
    # than the gain that sample needs: each minimum in the mean covers that sample.
    held = minimum_filter1d(needed, width, mode="nearest")
    gain = uniform_filter1d(held, width, mode="nearest")
    limited: FloatAudio = (audio * np.minimum(gain, needed)[np.newaxis, :]).astype(np.float32)
    return limited


def normalise(
    audio: FloatAudio,
    sample_rate: int,
    target_lufs: float,
    ceiling_dbtp: float = CEILING_DBTP,
) -> Normalised:
    measured = integrated_loudness(audio, sample_rate)
    out = audio
    loudness = measured
    if measured is not None:
        for _ in range(ROUNDS):
            assert loudness is not None
            if abs(loudness - target_lufs) <= TOLERANCE_LU and true_peak_dbtp(out) <= ceiling_dbtp:
                break
            out = limit(
                (out * np.float32(db_to_gain(target_lufs - loudness))).astype(np.float32),
                sample_rate,
                ceiling_dbtp - _MARGIN_DB,
            )
            loudness = integrated_loudness(out, sample_rate)
            if loudness is None:
                break
    # The limiter's gain moves between samples; a last plain gain settles any peak it left.
    peak = true_peak_dbtp(out)
    if peak > ceiling_dbtp:
        out = (out * np.float32(db_to_gain(ceiling_dbtp - peak - _MARGIN_DB))).astype(np.float32)
        loudness = integrated_loudness(out, sample_rate)
        peak = true_peak_dbtp(out)
    return Normalised(out, measured, loudness, peak)
