"""Pure audio maths shared by the export renderer and the peaks endpoint.

The mix here must sound exactly like the browser's Web Audio graph (API.md, "Mix semantics"):
per stem GainNode -> StereoPannerNode -> master GainNode, then a hard clip on export.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatAudio = npt.NDArray[np.float32]
AnyAudio = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class StemMix:
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False
    pan: float = 0.0


# A stem the user did not touch: 0 dB, centre, unmuted, not soloed.
NEUTRAL_MIX: Final = StemMix()


def db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))


def audible_stems(settings: Mapping[str, StemMix]) -> set[str]:
    """Solo wins over everything not soloed; mute wins over solo."""
    any_solo = any(mix.solo for mix in settings.values())
    return {name for name, mix in settings.items() if (not any_solo or mix.solo) and not mix.mute}


def pan_gains(pan: float) -> tuple[float, float]:
    """(gL, gR) of the Web Audio StereoPannerNode equal-power law."""
    if not -1.0 <= pan <= 1.0:
        raise ValueError(f"pan must be within [-1, 1], got {pan}")
    x = pan + 1 if pan <= 0 else pan
    return math.cos(x * math.pi / 2), math.sin(x * math.pi / 2)


def pan_stereo(audio: AnyAudio, pan: float) -> FloatAudio:
    """StereoPannerNode on a stereo (2, n) input: a pan moves one side into the other."""
    _require_stereo(audio)
    out = np.zeros(audio.shape, dtype=np.float32)
    add_panned(out, audio, gain=1.0, pan=pan, scratch=np.empty(audio.shape[1], np.float32))
    return out


def add_panned(
    mix: FloatAudio, audio: AnyAudio, *, gain: float, pan: float, scratch: FloatAudio
) -> None:
    """mix[:, :n] += StereoPannerNode(gain * audio): the one pan law of the export.

    Equal-power like Web Audio's stereo input case: panning left keeps the left channel and
    moves part of the right into it (and the other way round). `scratch` holds one channel.
    """
    gain_left, gain_right = pan_gains(pan)
    n = audio.shape[1]
    buffer = scratch[:n]
    left, right = mix[0, :n], mix[1, :n]
    if pan <= 0:
        _add_scaled(left, audio[0], gain, buffer)
        _add_scaled(left, audio[1], gain * gain_left, buffer)
        _add_scaled(right, audio[1], gain * gain_right, buffer)
    else:
        _add_scaled(left, audio[0], gain * gain_left, buffer)
        _add_scaled(right, audio[0], gain * gain_right, buffer)
        _add_scaled(right, audio[1], gain, buffer)


def render_mix(
    stems: Mapping[str, AnyAudio],
    settings: Mapping[str, StemMix],
    master_gain_db: float = 0.0,
    *,
    clip: bool = True,
) -> FloatAudio:
    """Sum of the audible stems, each gained then panned, times the master gain, clipped
    (unless `clip` is false: an export that stretches or normalises the mix clips after).

    Stems absent from ``settings`` play at 0 dB, centre, unmuted. Stems of different lengths
    are summed from the start; the mix is as long as the longest stem. Works in place: the
    output plus one channel of scratch space, whatever the number of stems.
    """
    for audio in stems.values():
        _require_stereo(audio)
    length = max((audio.shape[1] for audio in stems.values()), default=0)
    mix = np.zeros((2, length), dtype=np.float32)
    scratch = np.empty(length, dtype=np.float32)
    full = {name: settings.get(name, NEUTRAL_MIX) for name in stems}
    for name in sorted(audible_stems(full)):
        setting = full[name]
        add_panned(
            mix, stems[name], gain=db_to_gain(setting.gain_db), pan=setting.pan, scratch=scratch
        )
    mix *= np.float32(db_to_gain(master_gain_db))
    if clip:
        np.clip(mix, -1.0, 1.0, out=mix)
    return mix


def compute_peaks(audio: AnyAudio, buckets: int) -> list[float]:
    """Max |sample| over both channels in each of ``buckets`` equal slices, 4 decimals.

    With fewer samples than buckets, each bucket shows the sample under it.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    if audio.ndim != 2:
        raise ValueError(f"Expected audio of shape (channels, samples), got {audio.shape}")
    n = audio.shape[1]
    if n == 0 or audio.shape[0] == 0:
        return [0.0] * buckets
    starts = (np.arange(buckets, dtype=np.int64) * n) // buckets
    if n >= buckets:
        # reduceat on max and min avoids materialising |audio| (a 20-minute song is 200 MB).
        per_channel = [
            np.maximum(np.maximum.reduceat(row, starts), -np.minimum.reduceat(row, starts))
            for row in audio
        ]
        peaks = np.max(np.stack(per_channel), axis=0)
    else:
        peaks = np.max(np.abs(audio[:, starts]), axis=0)
    return [round(float(value), 4) for value in peaks]


def _add_scaled(target: FloatAudio, source: AnyAudio, factor: float, scratch: FloatAudio) -> None:
    if factor == 0.0:
        return
    np.multiply(source, np.float32(factor), out=scratch, casting="unsafe")
    target += scratch


def _require_stereo(audio: AnyAudio) -> None:
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise ValueError(f"Expected stereo audio of shape (2, samples), got {audio.shape}")
