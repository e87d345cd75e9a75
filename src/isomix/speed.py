"""Real-time factors (seconds of compute per second of audio), measured here or assumed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from isomix.models import SeparationStat

# Until a model has run on this machine: roughly a CPU laptop; classic DSP is much faster.
DEFAULT_RTF = 1.0
DEFAULT_RTF_BY_MODEL = {"classic": 0.1, "htdemucs_ft": 4.0, "mdx_extra": 4.0}
RECENT_RUNS = 20


def measured_rtf(session: Session, model: str) -> float | None:
    """Mean real-time factor of the model's recent runs on this deployment, if any."""
    rows = session.execute(
        select(SeparationStat.audio_seconds, SeparationStat.compute_seconds)
        .where(SeparationStat.model == model, SeparationStat.audio_seconds > 0)
        .order_by(SeparationStat.finished_at.desc())
        .limit(RECENT_RUNS)
    ).all()
    if not rows:
        return None
    audio = sum(float(row.audio_seconds) for row in rows)
    compute = sum(float(row.compute_seconds) for row in rows)
    return compute / audio


def expected_rtf(session: Session, model: str) -> float:
    measured = measured_rtf(session, model)
    if measured is not None:
        return measured
    return DEFAULT_RTF_BY_MODEL.get(model, DEFAULT_RTF)
