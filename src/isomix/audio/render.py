"""An export's render after the mix: which stems and samples go in, then tempo, pitch and
loudness, then the clip. The order is the one the mixer plays: the range (a loop or a section)
and the chosen stems, the mix (dsp.render_mix, unclipped), the time stretch and pitch shift of
the whole mix (stretch.py), loudness to a target with a true-peak ceiling (loudness.py), and
the hard clip of the export last.

With the defaults (the whole song, every stem, 100 %, 0 semitones, no loudness target) every
step but the mix and the clip is skipped: the export is the mix as before these options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from isomix.audio import stretch
from isomix.audio.dsp import FloatAudio

# A loudness target an export may ask for (streaming services use -14 to -16, EBU R 128 -23).
MIN_LUFS: Final = -30.0
MAX_LUFS: Final = -6.0


@dataclass(frozen=True)
class RenderOptions:
    start_seconds: float | None = None
    end_seconds: float | None = None
    include_stems: tuple[str, ...] | None = None  # None: every stem
    tempo: float = 1.0
    pitch_semitones: float = 0.0
    loudness_lufs: float | None = None

    @classmethod
    def from_mix(cls, mix: Mapping[str, Any]) -> RenderOptions:
        """The options of an export row's stored request (rows from before them: defaults)."""
        include = mix.get("include_stems")
        return cls(
            start_seconds=_number(mix.get("start_seconds")),
            end_seconds=_number(mix.get("end_seconds")),
            include_stems=tuple(str(name) for name in include) if include is not None else None,
            tempo=_number(mix.get("tempo")) or 1.0,
            pitch_semitones=_number(mix.get("pitch_semitones")) or 0.0,
            loudness_lufs=_number(mix.get("loudness_lufs")),
        )

    def stems_of(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """The project's stems that go into the mix, in the project's order."""
        if self.include_stems is None:
            return names
        return tuple(name for name in names if name in self.include_stems)

    def window(self, length: int, sample_rate: int) -> slice:
        """The samples of a stem of `length` samples in the range: exact sample positions
        round(seconds * rate), the end clamped to the stem."""
        start = 0 if self.start_seconds is None else round(self.start_seconds * sample_rate)
        end = length if self.end_seconds is None else round(self.end_seconds * sample_rate)
        start = min(max(start, 0), length)
        return slice(start, min(max(end, start), length))


def finish(mix: FloatAudio, sample_rate: int, options: RenderOptions) -> FloatAudio:
    """The unclipped mix through tempo and pitch, loudness, then the clip."""
    # Here, not at the top: the API imports this module, and scipy is slow to import.
    from isomix.audio import loudness

    out = stretch.stretch(mix, sample_rate, tempo=options.tempo, semitones=options.pitch_semitones)
    if options.loudness_lufs is not None:
        out = loudness.normalise(out, sample_rate, options.loudness_lufs).audio
    np.clip(out, -1.0, 1.0, out=out)
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
