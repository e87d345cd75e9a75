"""The words of an analysis shared by the worker and the API: the 24 key names, the BPM range
a correction may take, and the JSON a stem set stores (`stem_sets.analysis`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

PITCH_CLASSES: Final = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES: Final = ("major", "minor")
# "C major", "C# major", ..., "B minor": sharps only, the one spelling of each key.
KEY_NAMES: Final = tuple(f"{tonic} {mode}" for mode in MODES for tonic in PITCH_CLASSES)
MIN_BPM: Final = 20.0
MAX_BPM: Final = 300.0
# Bars are counted in 4/4: a downbeat is every fourth beat (the bar phase is detected).
BEATS_PER_BAR: Final = 4


def key_name(tonic: int, mode: str) -> str:
    return f"{PITCH_CLASSES[tonic % 12]} {mode}"


@dataclass(frozen=True)
class Analysis:
    """What the worker detects, stored once per stem set."""

    bpm: float
    beats: tuple[float, ...]  # seconds
    downbeats: tuple[float, ...]  # seconds, a subset of `beats`
    key: str  # one of KEY_NAMES
    key_confidence: float  # 0..1

    def to_json(self) -> dict[str, Any]:
        return {
            "bpm": round(self.bpm, 2),
            "beats": [round(beat, 4) for beat in self.beats],
            "downbeats": [round(beat, 4) for beat in self.downbeats],
            "key": self.key,
            "key_confidence": round(self.key_confidence, 3),
        }


def from_json(value: Any) -> Analysis | None:
    """A stored analysis back, or None when there is none or it is not one (an older shape)."""
    if not isinstance(value, dict):
        return None
    try:
        analysis = Analysis(
            bpm=float(value["bpm"]),
            beats=tuple(float(beat) for beat in value["beats"]),
            downbeats=tuple(float(beat) for beat in value["downbeats"]),
            key=str(value["key"]),
            key_confidence=float(value["key_confidence"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return analysis if analysis.key in KEY_NAMES else None
