"""The key (tonic and mode) from a chromagram, by correlation with key profiles
(Krumhansl-Schmuckler's method with Temperley's Kostka-Payne profiles)."""

from __future__ import annotations

import warnings
from typing import Final

import librosa
import numpy as np
import numpy.typing as npt

from isomix.analysis.names import MODES, key_name

SAMPLE_RATE: Final = 11_025
N_FFT: Final = 4096  # 2.7 Hz bins: the semitones of the bass octave apart
HOP: Final = 2048
# Temperley (2007), from the Kostka-Payne corpus: how often each scale degree sounds in
# major and minor keys, from the tonic up.
MAJOR_PROFILE: Final = (
    0.748,
    0.060,
    0.488,
    0.082,
    0.670,
    0.460,
    0.096,
    0.715,
    0.104,
    0.366,
    0.057,
    0.400,
)
MINOR_PROFILE: Final = (
    0.712,
    0.084,
    0.474,
    0.618,
    0.049,
    0.460,
    0.105,
    0.747,
    0.404,
    0.067,
    0.133,
    0.330,
)


def chroma_profile(signal: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """How much of each pitch class the signal holds over its whole length (C first)."""
    if signal.size < N_FFT or not np.any(signal):
        return np.zeros(12)
    power = np.abs(librosa.stft(signal, n_fft=N_FFT, hop_length=HOP)) ** 2  # once, for both
    with warnings.catch_warnings():
        # Noise or a drum-only song has no stable pitches to tune by: then A = 440 Hz.
        warnings.simplefilter("ignore", UserWarning)
        tuning = float(librosa.estimate_tuning(S=power, sr=SAMPLE_RATE, n_fft=N_FFT))
    chroma = librosa.feature.chroma_stft(
        S=power, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, norm=None, tuning=tuning
    )
    return np.asarray(chroma.sum(axis=1), dtype=np.float64)


def correlations(profile: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Pearson correlation with each of the 24 keys, in KEY_NAMES order (majors, then minors)."""
    scores = np.zeros(24)
    if not np.any(profile) or np.allclose(profile, profile[0]):
        return scores
    for row, template in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        base = np.asarray(template)
        for tonic in range(12):
            scores[row * 12 + tonic] = np.corrcoef(profile, np.roll(base, tonic))[0, 1]
    return scores


def detect_key(profile: npt.NDArray[np.float64]) -> tuple[str, float]:
    """The best-matching key and a confidence in 0..1: how far the winner stands above the
    runner-up, relative to how far it stands above the average key (a relative major/minor
    pair that fits almost equally well gives a low confidence)."""
    scores = correlations(profile)
    order = np.argsort(scores)[::-1]
    best, second = float(scores[order[0]]), float(scores[order[1]])
    spread = best - float(scores.mean())
    confidence = 0.0 if spread <= 0 else min(1.0, max(0.0, (best - second) / spread))
    winner = int(order[0])
    return key_name(winner % 12, MODES[winner // 12]), confidence
