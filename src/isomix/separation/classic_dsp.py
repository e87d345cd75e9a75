"""Weight-free DSP building blocks for the low-quality "classic" fallback engine.

Small pure functions on float32 arrays: an STFT pair with exact reconstruction, median-filter
harmonic/percussive estimates, a REPET-SIM style repeating-background model and soft masks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import fft as sp_fft
from scipy.ndimage import maximum_filter1d, median_filter

Real = npt.NDArray[np.float32]
Spectrum = npt.NDArray[np.complex64]

# Keeps masks finite on silent bins; far below any audible magnitude.
_TINY = np.float32(1e-12)


def hann(n_fft: int) -> Real:
    """Periodic Hann window: overlap-adds to a constant at hop n_fft/4."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def stft(audio: Real, n_fft: int, hop: int) -> Spectrum:
    """(channels, n) -> (channels, bins, frames), centred frames, Hann window."""
    if n_fft % hop:
        raise ValueError("n_fft must be a multiple of hop")
    channels, n = audio.shape
    frames = n // hop + 1
    padded_length = (frames - 1) * hop + n_fft
    padded = np.zeros((channels, padded_length), dtype=np.float32)
    padded[:, n_fft // 2 : n_fft // 2 + n] = audio
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
    spectrum: Spectrum = sp_fft.rfft(windows * hann(n_fft), axis=-1)
    return np.ascontiguousarray(spectrum.transpose(0, 2, 1))


def istft(spectrum: Spectrum, n_fft: int, hop: int, length: int) -> Real:
    """Inverse of `stft` (least-squares overlap-add): istft(stft(x)) == x to float rounding."""
    channels, _, frames = spectrum.shape
    window = hann(n_fft)
    pieces = sp_fft.irfft(spectrum.transpose(0, 2, 1), n=n_fft, axis=-1).astype(np.float32)
    pieces *= window
    overlaps = n_fft // hop
    total = (frames - 1) * hop + n_fft
    out = np.zeros((channels, total), dtype=np.float32)
    weight = np.zeros(total, dtype=np.float32)
    # hop divides n_fft, so the overlap-add is `overlaps` strided additions, not a frame loop.
    split = pieces.reshape(channels, frames, overlaps, hop)
    window_sq = (window**2).reshape(overlaps, hop)
    for part in range(overlaps):
        start = part * hop
        out[:, start : start + frames * hop] += split[:, :, part, :].reshape(channels, -1)
        weight[start : start + frames * hop] += np.tile(window_sq[part], frames)
    begin = n_fft // 2
    result = out[:, begin : begin + length] / np.maximum(weight[begin : begin + length], _TINY)
    return result.astype(np.float32)


def soft_mask(target: Real, rest: Real, power: float) -> Real:
    """Wiener-style mask target^p / (target^p + rest^p), 0 where both are silent."""
    target_p = np.power(target, power, dtype=np.float32)
    rest_p = np.power(rest, power, dtype=np.float32)
    return (target_p / (target_p + rest_p + _TINY)).astype(np.float32)


def side_fraction(spectrum: Spectrum) -> Real:
    """Per bin, |L-R|^2 / (|L|^2+|R|^2): 0 for centre-panned sound, 1 for one side or
    uncorrelated (wide) sound; zeros for mono input."""
    if spectrum.shape[0] != 2:
        return np.zeros(spectrum.shape[1:], dtype=np.float32)
    left, right = spectrum
    side = np.abs(left - right) ** 2
    total = np.abs(left) ** 2 + np.abs(right) ** 2
    fraction: Real = np.minimum(side / (total + _TINY), 1.0).astype(np.float32)
    return fraction


def harmonic_percussive(magnitude: Real, time_kernel: int, freq_kernel: int) -> tuple[Real, Real]:
    """Median across time (sustained, harmonic) and across frequency (broadband, percussive)."""
    harmonic = median_filter(magnitude, size=(1, time_kernel), mode="reflect")
    percussive = median_filter(magnitude, size=(freq_kernel, 1), mode="reflect")
    return harmonic.astype(np.float32), percussive.astype(np.float32)


def lowpass_weight(freqs: Real, cutoff: float, width: float) -> Real:
    """Per-bin weight: 1 below cutoff - width/2, 0 above cutoff + width/2, linear between."""
    weight: Real = np.clip((cutoff + width / 2 - freqs) / width, 0.0, 1.0).astype(np.float32)
    return weight[:, None]


def bandpass_weight(freqs: Real, low: float, high: float) -> Real:
    """Soft band: half-octave-ish ramps below `low` and above `high`."""
    above_low = 1.0 - lowpass_weight(freqs, low, low / 2)
    below_high = lowpass_weight(freqs, high, high / 4)
    return (above_low * below_high).astype(np.float32)


def repeating_background(
    magnitude: Real, neighbours: int, min_gap: int, frame_block: int = 256
) -> Real:
    """REPET-SIM: per frame, the median of its most similar other frames, capped at the frame.

    What repeats through the excerpt (drum loops, riffs, pads) survives the median; what does
    not (mostly the lead vocal) is removed. `min_gap` frames around each frame are excluded and
    only local similarity peaks are candidates, so the neighbours come from other repetitions.
    """
    frames = magnitude.shape[1]
    if frames < 2:
        return magnitude.copy()
    norms = np.linalg.norm(magnitude, axis=0, keepdims=True)
    unit = magnitude / (norms + np.float32(1e-9))
    similarity = (unit.T @ unit).astype(np.float32)
    local_peak = maximum_filter1d(similarity, size=2 * min_gap + 1, axis=1, mode="nearest")
    similarity[similarity < local_peak] = -np.inf
    offsets = np.abs(np.arange(frames)[:, None] - np.arange(frames)[None, :])
    similarity[offsets < min_gap] = -np.inf
    count = max(1, min(neighbours, frames - 1))
    chosen = np.argpartition(-similarity, count - 1, axis=1)[:, :count]
    model = np.empty_like(magnitude)
    for start in range(0, frames, frame_block):
        stop = min(frames, start + frame_block)
        # (bins, block, count) gathered, so memory stays at one block of frames.
        gathered = magnitude[:, chosen[start:stop]]
        model[:, start:stop] = np.median(gathered, axis=2)
    return np.minimum(model, magnitude)
