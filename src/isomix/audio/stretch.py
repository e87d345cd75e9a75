"""Tempo and pitch of an export: the chain the mixer plays, with the library its worklet runs.

The mixer (frontend/src/audio/engine.ts, practice.ts) plays every stem at `playbackRate =
tempo` (Web Audio's AudioBufferSourceNode: linear interpolation between samples, which moves
the pitch by 12 * log2(tempo) semitones too), sums them, and shifts the sum's pitch by
`pitch - 12 * log2(tempo)` semitones with Signalsmith Stretch in an AudioWorklet (npm
`signalsmith-stretch` 1.3.2, JS/WASM). The export does the same to the mix: `varispeed` (the
same linear interpolation; a linear step, so on the sum it equals the stems' sum) and then the
same C++ library through its Python binding (`python-stretch` 0.3.1), configured as the
worklet is by default:

- `presetDefault(channels, sampleRate)`: 120 ms blocks, a 30 ms interval (5292 / 1323 samples
  at 44.1 kHz);
- `setTransposeSemitones(semitones, tonalityLimit)` with the worklet's `tonalityHz` of 8000,
  i.e. a limit of 8000 / sampleRate (python-stretch's own default, 0, is another sound: 13 dB
  of difference measured on a -2 semitone shift);
- a time factor of 1 (the tempo is the varispeed's), no formant shift.

At 100 % and 0 semitones nothing runs (the worklet is bypassed too): the export is the mix.

The stretch is not linear and reacts to its input's last bits (measured on a tone plus noise,
Python only): stretching each stem and summing is 3.5 dB from stretching the sum, and an input
changed by -100 dB noise or rounded to 24 bits gives sample residuals only 14-28 dB down and
magnitude-spectrum residuals 30-45 dB down. The binding processes a whole buffer in one go
(seek over the input latency, process, flush the output latency), so its output is aligned
with its input; the worklet starts from silence, so the first block may differ.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from isomix.audio.dsp import FloatAudio

# The worklet's default tonality limit (`tonalityHz` in signalsmith-stretch's web wrapper).
TONALITY_HZ: Final = 8000.0
MIN_TEMPO: Final = 0.5
MAX_TEMPO: Final = 1.5
MAX_SEMITONES: Final = 12.0


def is_neutral(tempo: float, semitones: float) -> bool:
    """At 100 % and 0 semitones the stems are not stretched at all: the export is the mix."""
    return tempo == 1.0 and semitones == 0.0


def shift_semitones(tempo: float, semitones: float) -> float:
    """What the pitch shift after the varispeed moves (practice.ts `stretchSemitones`)."""
    return semitones - 12 * math.log2(tempo)


def varispeed(audio: FloatAudio, tempo: float) -> FloatAudio:
    """`audio` played at `tempo` x its speed as an AudioBufferSourceNode plays it: output sample
    k is the input at k * tempo, linearly interpolated; round(n / tempo) samples."""
    n = audio.shape[1]
    if tempo == 1.0 or n == 0:
        return audio
    length = round(n / tempo)
    positions = np.arange(length, dtype=np.float64) * tempo
    source = np.arange(n, dtype=np.float64)
    out = np.empty((audio.shape[0], length), dtype=np.float32)
    for channel in range(audio.shape[0]):
        out[channel] = np.interp(positions, source, audio[channel], right=0.0)
    return out


def stretch(audio: FloatAudio, sample_rate: int, *, tempo: float, semitones: float) -> FloatAudio:
    """`audio` (channels, n) at `tempo` (0.75: slower, 1.25: faster) without a pitch change,
    transposed by `semitones` without a tempo change: round(n / tempo) samples."""
    if not MIN_TEMPO <= tempo <= MAX_TEMPO:
        raise ValueError(f"tempo must be within [{MIN_TEMPO}, {MAX_TEMPO}], got {tempo}")
    if not -MAX_SEMITONES <= semitones <= MAX_SEMITONES:
        raise ValueError(f"semitones must be within ±{MAX_SEMITONES}, got {semitones}")
    if is_neutral(tempo, semitones) or audio.shape[1] == 0:
        return audio
    played = varispeed(audio, tempo)
    # Here, not at the top: the API imports this module for the bounds.
    from python_stretch.Signalsmith import Stretch

    processor = Stretch()
    processor.preset(played.shape[0], float(sample_rate))
    processor.timeFactor = 1.0
    processor.setTransposeSemitones(shift_semitones(tempo, semitones), TONALITY_HZ / sample_rate)
    out = processor.process(np.ascontiguousarray(played, dtype=np.float32))
    return np.asarray(out, dtype=np.float32)
