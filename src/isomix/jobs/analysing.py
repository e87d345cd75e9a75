"""Tempo, beats and key of a new stem set, analysed in the worker once its project is ready.

The separation job calls `analyse_stem_set` with the stems still in memory right after the
commit that marks the project ready: the song is playable at once, the analysis follows a
second or so later, stored on `stem_sets.analysis` (every project sharing the stem set has
it) and announced as a change of each of those projects so open mixers update. It never
fails the separation: an error is logged and the stem set stays without an analysis. A stem
set reused by deduplication already has one.

librosa compiles its numba functions at their first call (seconds, or about a second from
numba's on-disk cache): `start_warm_up` does that on a thread when a worker starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, update

from isomix.analysis.names import Analysis
from isomix.jobs import lease
from isomix.jobs.events import publish_after_commit
from isomix.models import Project, StemSet, utcnow

log = logging.getLogger(__name__)


def analyse_stem_set(
    stem_set_id: str, stems: Mapping[str, npt.NDArray[np.float32]], sample_rate: int
) -> Analysis | None:
    """Analyse and store; never raises (the separation has already succeeded)."""
    try:
        from isomix.analysis.run import analyse  # librosa: workers only

        started = time.monotonic()
        result = analyse(stems, sample_rate)
        log.info(
            "stem set %s analysed in %.2f s: %s",
            stem_set_id,
            time.monotonic() - started,
            f"{result.bpm:.1f} BPM, {result.key}" if result is not None else "no pulse found",
        )
        if result is not None:
            store_analysis(stem_set_id, result)
        return result
    except Exception:
        log.exception("stem set %s: the analysis failed; the stems are unaffected", stem_set_id)
        return None


def store_analysis(stem_set_id: str, result: Analysis) -> None:
    """Put the analysis on the stem set and tell every project using it that it changed
    (`updated_at`: the embedded broadcaster polls it; a publish: the scaled one)."""
    with lease.session() as db, db.begin():
        db.execute(
            update(StemSet)
            .where(StemSet.id == stem_set_id)
            .values(analysis=result.to_json())
            .execution_options(synchronize_session=False)
        )
        projects = list(db.scalars(select(Project.id).where(Project.stem_set_id == stem_set_id)))
        if projects:
            db.execute(
                update(Project)
                .where(Project.id.in_(projects))
                .values(updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        for project_id in projects:
            publish_after_commit(db, project_id)


def start_warm_up() -> threading.Thread:
    """Compile librosa's numba functions in the background (a worker's first analysis would
    otherwise pay for it)."""

    def run() -> None:
        from isomix.analysis.run import warm_up

        log.info("analysis warmed up in %.1f s", warm_up())

    thread = threading.Thread(target=run, name="analysis-warm-up", daemon=True)
    thread.start()
    return thread
