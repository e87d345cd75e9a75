"""Tempo, beats and downbeats from onset envelopes (librosa for the envelopes and the first
tempo guess; the period refinement and the beat tracker are ours).

The beat tracker is Ellis' dynamic programme (as in librosa.beat) with a period in fractional
frames: librosa rounds the period to whole frames, so a 128 BPM track (40.37 frames of 256 at
22050 Hz) is tracked at 40 frames (129.2 BPM), drifts and slips a beat every few bars. The
period comes from the onset envelope's autocorrelation at up to 16 multiples of a first guess
(a whole number of frames), each peak interpolated; the BPM is then the slope of a
least-squares line through the tracked beat times. On steady material (the beats within
`STEADY_RESIDUAL_SECONDS` of that line) the beats are the line itself, gaps filled; otherwise
each tracked beat stays where it was found, so a live band's drift is followed.

Bars: 4/4 is assumed; which beat is the one comes from the low band (kick and bass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import librosa
import numpy as np
import numpy.typing as npt

from isomix.analysis.names import BEATS_PER_BAR, MAX_BPM, MIN_BPM

Signal = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]

SAMPLE_RATE: Final = 22_050
HOP: Final = 256  # 11.6 ms frames
N_FFT: Final = 1024
N_MELS: Final = 64
FRAME_RATE: Final = SAMPLE_RATE / HOP
# An onset envelope peaks this long after the attack that causes it (measured on clicks at
# several tempi and phases with these settings); beat times are moved back by it.
ONSET_LATENCY_SECONDS: Final = 0.0114
# How far apart the DP lets two beats be, as in Ellis (2007): the log of the ratio to the
# period, squared, times this.
TIGHTNESS: Final = 100.0
STEADY_RESIDUAL_SECONDS: Final = 0.02
# A stem quieter than this (RMS) adds nothing to the envelope (a song with no bass part).
SILENT_RMS: Final = 1e-4
# The low-band power right after a beat, over this long, says how strong the beat is.
BAR_PHASE_WINDOW_SECONDS: Final = 0.1


@dataclass(frozen=True)
class Beats:
    bpm: float
    beats: Floats  # seconds
    steady: bool


def log_mel(signal: Signal) -> Floats | None:
    """The signal's log-power mel spectrogram (the input of every onset envelope), or None
    for a silent signal. One per signal: the full band and the low band both read it."""
    if signal.size < N_FFT or float(np.sqrt(np.mean(np.square(signal)))) < SILENT_RMS:
        return None
    power = librosa.feature.melspectrogram(
        y=signal, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS
    )
    return np.asarray(librosa.power_to_db(power), dtype=np.float64)


def low_bands(cutoff_hz: float) -> slice:
    """The mel bands whose centre is below `cutoff_hz`."""
    centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmax=SAMPLE_RATE / 2)[1:-1]
    return slice(0, max(1, int(np.sum(centres < cutoff_hz))))


def onset_envelope(
    spectra: Sequence[tuple[Floats | None, float]], bands: slice | None = None
) -> Floats:
    """The weighted sum of each spectrogram's onset strength (spectral flux), each scaled to
    unit standard deviation so that a quiet stem counts as much as a loud one. `bands`: only
    those mel bands."""
    total: Floats | None = None
    for spectrum, weight in spectra:
        if spectrum is None:
            continue
        selected = spectrum if bands is None else spectrum[bands]
        env = np.asarray(
            librosa.onset.onset_strength(S=selected, sr=SAMPLE_RATE, hop_length=HOP, n_fft=N_FFT),
            dtype=np.float64,
        )
        spread = float(env.std())
        if spread <= 0:
            continue
        env = weight * env / spread
        if total is None:
            total = env
        else:
            length = min(len(total), len(env))
            total = total[:length] + env[:length]
    return total if total is not None else np.zeros(0)


def autocorrelation(env: Floats) -> Floats:
    centred = env - env.mean()
    spectrum = np.fft.rfft(centred, 2 * len(centred))
    return np.asarray(np.fft.irfft(spectrum * np.conj(spectrum))[: len(centred)])


def first_guess(acf: Floats) -> float:
    """The period in frames with the strongest autocorrelation, weighted by librosa's prior
    (log-normal around 120 BPM, one octave wide); whole frames only."""
    lags = np.arange(len(acf), dtype=np.float64)
    shortest = int(60.0 * FRAME_RATE / MAX_BPM)
    longest = min(len(acf) - 1, int(60.0 * FRAME_RATE / MIN_BPM) + 1)
    if longest <= shortest:
        return 60.0 * FRAME_RATE / 120.0
    candidates = lags[shortest:longest]
    bpm = 60.0 * FRAME_RATE / candidates
    prior = np.exp(-0.5 * np.log2(bpm / 120.0) ** 2)
    return float(candidates[int(np.argmax(acf[shortest:longest] * prior))])


def refine_period(acf: Floats, period: float) -> float:
    """The period in frames from the autocorrelation's peaks at 1..16 times `period`, each
    located to a fraction of a frame, fitted through the origin."""
    size = len(acf)
    lags: list[float] = []
    multiples: list[int] = []
    for multiple in range(1, 17):
        centre = multiple * period
        low = int(centre * 0.96) - 1
        high = int(centre * 1.04) + 2
        if low < 1 or high + 1 >= size // 2:
            break
        peak = low + int(np.argmax(acf[low:high]))
        if peak <= low or peak >= high - 1:
            continue  # the edge of the window: no peak near this multiple
        before, at, after = acf[peak - 1], acf[peak], acf[peak + 1]
        curvature = before - 2 * at + after
        offset = 0.5 * (before - after) / curvature if curvature < 0 else 0.0
        lags.append(peak + offset)
        multiples.append(multiple)
    if not lags:
        return period
    found = np.asarray(lags)
    weights = np.asarray(multiples, dtype=np.float64)
    return float(np.sum(weights * found) / np.sum(weights * weights))


def track(env: Floats, period: float) -> npt.NDArray[np.int64]:
    """Beat frames by dynamic programming (Ellis 2007) with a fractional `period`."""
    if len(env) == 0 or not np.any(env > 0):
        return np.zeros(0, dtype=np.int64)
    normalised = env / env.std()
    width = max(1, round(period / 32))
    window = np.exp(-0.5 * (np.arange(-width * 4, width * 4 + 1) / width) ** 2)
    local = np.convolve(normalised, window, mode="same")
    size = len(local)
    score = np.zeros(size)
    backlink = np.full(size, -1, dtype=np.int64)
    nearest = max(1, round(period / 2))
    farthest = max(nearest + 1, round(2 * period))
    offsets = np.arange(farthest, nearest - 1, -1)  # t - tau
    penalty = -TIGHTNESS * np.log(offsets / period) ** 2
    for frame in range(size):
        start = frame - farthest
        end = frame - nearest + 1
        candidates = score[max(0, start) : end] if end > 0 else score[:0]
        if candidates.size == 0:
            score[frame] = local[frame]
            continue
        weighted = candidates + penalty[len(penalty) - candidates.size :]
        best = int(np.argmax(weighted))
        if weighted[best] > 0:
            score[frame] = local[frame] + weighted[best]
            backlink[frame] = max(0, start) + best
        else:
            score[frame] = local[frame]
    peaks = np.flatnonzero((score[1:-1] >= score[:-2]) & (score[1:-1] > score[2:])) + 1
    if peaks.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = int(peaks[score[peaks] >= 0.5 * np.median(score[peaks])][-1])
    beats = [last]
    while backlink[beats[-1]] >= 0:
        beats.append(int(backlink[beats[-1]]))
    frames = np.asarray(beats[::-1], dtype=np.int64)
    # Weak beats at either end are the tracker carrying on through silence.
    strength = local[frames]
    threshold = 0.5 * float(np.sqrt(np.mean(strength**2)))
    strong = np.flatnonzero(strength >= threshold)
    return frames[strong[0] : strong[-1] + 1] if strong.size else frames[:0]


def _subframe(local: Floats, frames: npt.NDArray[np.int64]) -> Floats:
    """Each frame moved to its peak's interpolated position (at most half a frame)."""
    inside = np.clip(frames, 1, len(local) - 2)
    before, at, after = local[inside - 1], local[inside], local[inside + 1]
    curvature = before - 2 * at + after
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (before - after) / curvature, 0.0)
    return np.asarray(inside + np.clip(offset, -0.5, 0.5), dtype=np.float64)


def fit_line(times: Floats, period: float) -> tuple[float, float, Floats]:
    """The least-squares line t = t0 + k * period' through beat times, each beat numbered by
    rounding its distance from the first to whole `period`s (a skipped beat keeps the count
    right); returns (t0, period', residuals)."""
    index = np.round((times - times[0]) / period)
    design = np.vstack([np.ones_like(index), index]).T
    (origin, slope), *_ = np.linalg.lstsq(design, times, rcond=None)
    return float(origin), float(slope), times - (origin + slope * index)


def beats_of(env: Floats, duration: float) -> Beats | None:
    """BPM and beat times (seconds) from an onset envelope; None when there is no pulse."""
    if len(env) < FRAME_RATE * 2 or not np.any(env > 0):
        return None
    acf = autocorrelation(env)
    period = refine_period(acf, first_guess(acf))
    frames = track(env, period)
    if len(frames) < 4:
        return None
    width = max(1, round(period / 32))
    window = np.exp(-0.5 * (np.arange(-width * 4, width * 4 + 1) / width) ** 2)
    local = np.convolve(env / env.std(), window, mode="same")
    times = _subframe(local, frames) / FRAME_RATE - ONSET_LATENCY_SECONDS
    origin, slope, residuals = fit_line(times, period / FRAME_RATE)
    bpm = 60.0 / slope
    if not MIN_BPM <= bpm <= MAX_BPM:
        return None
    steady = float(np.sqrt(np.mean(residuals**2))) <= STEADY_RESIDUAL_SECONDS
    if steady:
        first = round((times[0] - origin) / slope)
        last = round((times[-1] - origin) / slope)
        grid = origin + slope * np.arange(first, last + 1)
        times = grid[(grid >= 0) & (grid < duration)]
    else:
        times = np.clip(times, 0.0, duration)
    return Beats(bpm=bpm, beats=times, steady=steady)


def low_power(spectra: Sequence[Floats | None], bands: slice) -> Floats:
    """The power per frame in the low mel bands, summed over the spectrograms (linear: an
    accent twice as loud has four times the power, where a log flux hardly tells them apart)."""
    total: Floats | None = None
    for spectrum in spectra:
        if spectrum is None:
            continue
        power = np.asarray(librosa.db_to_power(spectrum[bands]).sum(axis=0), dtype=np.float64)
        if total is None:
            total = power
        else:
            length = min(len(total), len(power))
            total = total[:length] + power[:length]
    return total if total is not None else np.zeros(0)


def bar_phase(power: Floats, beats: Floats) -> int:
    """Which of the first `BEATS_PER_BAR` beats starts a bar (4/4 assumed): the phase whose
    beats carry the most low-frequency power just after them (kick and bass land on the
    one), compared in log so that a loud chorus does not outvote the rest."""
    if len(power) == 0 or len(beats) < BEATS_PER_BAR:
        return 0
    span = max(1, round(BAR_PHASE_WINDOW_SECONDS * FRAME_RATE))
    starts = np.clip(np.round(beats * FRAME_RATE).astype(int), 0, len(power) - 1)
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    ends = np.minimum(starts + span, len(power))
    mean = (cumulative[ends] - cumulative[starts]) / np.maximum(ends - starts, 1)
    strength = np.log(mean + 1e-10)
    scores = [float(np.mean(strength[phase::BEATS_PER_BAR])) for phase in range(BEATS_PER_BAR)]
    return int(np.argmax(scores))
