"""Tempo, beats and key of a new stem set, analysed in the worker once its project is ready.

The separation job calls `analyse_stem_set` with the stems still in memory right after the
commit that marks the project ready: the song is playable at once, the analysis follows a
second or so later, stored on `stem_sets.analysis` (every project sharing the stem set has
it) and announced as a change of each of those projects so open mixers update. It never
fails the separation: an error is logged and the stem set stays without an analysis. A stem
set reused by deduplication already has one.

Stem sets without one (made before the analysis existed, or whose worker died between ready
and the analysis) are analysed from their masters when a worker has nothing else to do
(`analyse_next`); one where nothing is found is marked (`NOT_FOUND`) and not tried again.

librosa compiles its numba functions at their first call (seconds, or about a second from
numba's on-disk cache): `start_warm_up` does that on a thread when a worker starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import String, cast, func, select, update

from isomix import stemsets, storage
from isomix.analysis.names import Analysis
from isomix.audio.errors import AudioError
from isomix.audio.io import MODEL_SAMPLE_RATE, decode
from isomix.jobs import lease
from isomix.jobs.events import publish_after_commit
from isomix.models import Project, StemSet, utcnow
from isomix.objects import get_store

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


# Stored for a stem set analysed without result (no pulse, unreadable masters): not an
# analysis (names.from_json reads it as none), but not to be tried again either.
NOT_FOUND: Final[dict[str, Any]] = {"pulse": False}
# A new stem set is analysed by its own job right after its commit; the backfill leaves it
# that long.
BACKFILL_AFTER: Final = timedelta(minutes=5)


def analyse_next(*, now: datetime | None = None) -> bool:
    """Analyse the oldest stem set that has no analysis yet, from its masters in the store;
    True when there was one (analysed, or marked NOT_FOUND)."""
    moment = now or utcnow()
    unanalysed = func.coalesce(cast(StemSet.analysis, String), "null") == "null"
    with lease.session() as db:
        row = db.execute(
            select(StemSet.id, StemSet.directory, StemSet.stem_names)
            .where(unanalysed, StemSet.created_at < moment - BACKFILL_AFTER)
            .order_by(StemSet.created_at)
            .limit(1)
        ).first()
    if row is None:
        return False
    store = get_store()
    stems: dict[str, npt.NDArray[np.float32]] = {}
    try:
        for name in stemsets.names_of(row.stem_names):
            with store.local_copy(storage.stem_file(row.directory, name, "master")) as master:
                stems[name] = decode(master, sample_rate=MODEL_SAMPLE_RATE)
    except (OSError, AudioError) as error:
        log.warning("stem set %s: not analysed, its masters do not read (%s)", row.id, error)
        stems = {}
    result = analyse_stem_set(row.id, stems, MODEL_SAMPLE_RATE) if stems else None
    if result is None:
        _mark_not_found(row.id)
    return True


def _mark_not_found(stem_set_id: str) -> None:
    with lease.session() as db, db.begin():
        db.execute(
            update(StemSet)
            .where(StemSet.id == stem_set_id)
            .values(analysis=NOT_FOUND)
            .execution_options(synchronize_session=False)
        )


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
