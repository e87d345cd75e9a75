"""A project's `analysis` body: the stem set's detection, with the owner's corrections."""

from __future__ import annotations

from typing import Any

from isomix import schemas
from isomix.analysis.names import KEY_NAMES, MAX_BPM, MIN_BPM, from_json
from isomix.models import Project


def corrections(project: Project) -> dict[str, Any]:
    """The owner's corrections that still make sense (a stored value out of range is
    ignored rather than shown)."""
    stored = project.analysis_override if isinstance(project.analysis_override, dict) else {}
    kept: dict[str, Any] = {}
    bpm = stored.get("bpm")
    if isinstance(bpm, int | float) and MIN_BPM <= bpm <= MAX_BPM:
        kept["bpm"] = float(bpm)
    if stored.get("key") in KEY_NAMES:
        kept["key"] = stored["key"]
    return kept


def analysis_out(project: Project) -> schemas.Analysis | None:
    detected = from_json(project.stem_set.analysis) if project.stem_set is not None else None
    if detected is None:
        return None
    corrected = corrections(project)
    return schemas.Analysis(
        bpm=corrected.get("bpm", detected.bpm),
        bpm_detected=detected.bpm,
        key=corrected.get("key", detected.key),
        key_detected=detected.key,
        key_confidence=detected.key_confidence,
        beats=list(detected.beats),
        downbeats=list(detected.downbeats),
        corrected=bool(corrected),
    )
