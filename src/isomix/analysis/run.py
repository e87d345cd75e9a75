"""One analysis of a separated song: the stems in, an `Analysis` out; and the warm-up that
compiles librosa's numba functions when a worker starts instead of in its first job."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from isomix.analysis import key, tempo
from isomix.analysis.names import BEATS_PER_BAR, Analysis

log = logging.getLogger(__name__)

# The low band the bar phase is read from: kick drum and bass.
LOW_BAND_HZ = 200.0


def _mono(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(audio.mean(axis=0) if audio.ndim == 2 else audio, dtype=np.float32)


def _resample(signal: npt.NDArray[np.float32], source: int, target: int) -> npt.NDArray[np.float32]:
    if source == target:
        return signal
    if source == 2 * target:
        # 44.1 to 22.05 kHz for onsets: the mean of each pair is a low-pass good enough for
        # spectral flux, and five times cheaper than a polyphase filter.
        even = signal[: signal.size // 2 * 2]
        return np.asarray(0.5 * (even[0::2] + even[1::2]), dtype=np.float32)
    common = math.gcd(source, target)
    return np.asarray(resample_poly(signal, target // common, source // common), dtype=np.float32)


def analyse(stems: Mapping[str, npt.NDArray[np.float32]], sample_rate: int) -> Analysis | None:
    """Tempo, beats, bars and key of the song these stems sum to ((channels, samples) arrays
    at `sample_rate`). The drum and bass stems sharpen the beat and find the bar; the key is
    read from everything but the drums. None when there is no pulse (silence, a drone)."""
    if not stems:
        return None
    rate = tempo.SAMPLE_RATE
    drums = _resample(_mono(stems["drums"]), sample_rate, rate) if "drums" in stems else None
    bass = _resample(_mono(stems["bass"]), sample_rate, rate) if "bass" in stems else None
    rest: npt.NDArray[np.float32] | None = None
    for name, audio in stems.items():
        if name not in ("drums", "bass"):
            rest = _mono(audio) if rest is None else rest + _mono(audio)
    harmonic = _resample(rest, sample_rate, rate) if rest is not None else None
    parts = [part for part in (harmonic, bass) if part is not None]
    pitched = np.asarray(np.sum(parts, axis=0), dtype=np.float32) if parts else None
    mixture = pitched if drums is None else drums if pitched is None else pitched + drums
    assert mixture is not None
    duration = mixture.size / rate
    # Two spectrograms, not one per stem: the drums, and everything pitched (bass included);
    # the mixture's onsets are their sum. Without a drum stem, the pitched one is the mixture.
    drum_spectrum = tempo.log_mel(drums) if drums is not None else None
    pitched_spectrum = tempo.log_mel(pitched) if pitched is not None else None
    env = tempo.onset_envelope([(drum_spectrum, 1.0), (pitched_spectrum, 1.0)])
    found = tempo.beats_of(env, duration)
    if found is None:
        return None
    low = tempo.low_power([drum_spectrum, pitched_spectrum], tempo.low_bands(LOW_BAND_HZ))
    phase = tempo.bar_phase(low, found.beats)
    name, confidence = key.detect_key(
        key.chroma_profile(
            _resample(pitched if pitched is not None else mixture, rate, key.SAMPLE_RATE)
        )
    )
    return Analysis(
        bpm=found.bpm,
        beats=tuple(float(beat) for beat in found.beats),
        downbeats=tuple(float(beat) for beat in found.beats[phase::BEATS_PER_BAR]),
        key=name,
        key_confidence=confidence,
    )


def warm_up() -> float:
    """Run a short analysis so numba compiles (or loads from its cache) what librosa jits;
    returns the seconds it took. Never raises: a worker starts whatever happens here."""
    started = time.monotonic()
    try:
        rate = tempo.SAMPLE_RATE
        seconds = np.arange(rate * 4) / rate
        pulse = (np.sin(2 * np.pi * 2 * seconds) > 0.99).astype(np.float32)
        tone = 0.1 * np.sin(2 * np.pi * 220 * seconds).astype(np.float32)
        analyse({"drums": pulse[None, :], "other": tone[None, :]}, rate)
    except Exception:
        log.exception("analysis warm-up failed")
    return time.monotonic() - started
