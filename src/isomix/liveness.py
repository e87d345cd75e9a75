"""Worker liveness: every process that runs jobs (the embedded worker, each Celery pool child)
writes a heartbeat row every few seconds from a thread of its own, so the row stays fresh
while a long separation keeps the process busy; /metrics counts the fresh ones.

A clean stop deletes the row at once; a killed process leaves it to go stale. Rows of
processes gone for a day are deleted by the heartbeats of the others.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from isomix.db import get_sessionmaker, rowcount
from isomix.models import WorkerHeartbeat, as_utc, utcnow

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS: Final = 10.0
# Alive: a heartbeat younger than this (four missed beats, room for a busy database).
ALIVE_SECONDS: Final = 45.0
FORGET_AFTER: Final = timedelta(days=1)
PRUNE_EVERY_BEATS: Final = 30
KINDS: Final = ("embedded", "celery")


def beat(worker_id: str, kind: str, *, now: datetime | None = None) -> None:
    """Record that this worker is alive now (only its own process writes its row)."""
    now = now or utcnow()
    with get_sessionmaker()() as db, db.begin():
        seen = db.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.worker_id == worker_id)
            .values(seen_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(seen) == 0:
            db.add(
                WorkerHeartbeat(
                    worker_id=worker_id,
                    kind=kind,
                    hostname=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started_at=now,
                    seen_at=now,
                )
            )


def forget(worker_id: str) -> None:
    """A worker stopping cleanly: no longer counted, without waiting for its row to age."""
    with get_sessionmaker()() as db, db.begin():
        db.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id))


def prune(*, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - FORGET_AFTER
    with get_sessionmaker()() as db, db.begin():
        return rowcount(db.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < cutoff)))


@dataclass(frozen=True)
class KindLiveness:
    alive: int
    last_seen_seconds: float | None  # since the newest heartbeat of the kind; None: never


def liveness(db: Session, now: datetime) -> dict[str, KindLiveness]:
    """Per kind: how many workers beat within ALIVE_SECONDS, and the age of the newest beat."""
    recent = now - timedelta(seconds=ALIVE_SECONDS)
    rows = db.execute(
        select(
            WorkerHeartbeat.kind,
            func.count().filter(WorkerHeartbeat.seen_at >= recent),
            func.max(WorkerHeartbeat.seen_at),
        ).group_by(WorkerHeartbeat.kind)
    ).all()
    found = {
        kind: KindLiveness(
            alive=alive or 0,
            last_seen_seconds=max(0.0, (now - as_utc(newest)).total_seconds()) if newest else None,
        )
        for kind, alive, newest in rows
    }
    return {kind: found.get(kind, KindLiveness(0, None)) for kind in {*KINDS, *found}}


class Heartbeat:
    """The thread that beats for one worker process until `stop()`."""

    def __init__(self, kind: str, worker_id: str, interval: float = HEARTBEAT_SECONDS) -> None:
        self.kind = kind
        self.worker_id = worker_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="isomix-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval)
        try:
            forget(self.worker_id)
        except Exception:  # the row then ages out like a dead worker's
            log.warning("heartbeat of %s not removed", self.worker_id, exc_info=True)

    def _loop(self) -> None:
        beats = 0
        while True:
            try:
                beat(self.worker_id, self.kind)
                if beats % PRUNE_EVERY_BEATS == 0:
                    prune()
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("heartbeat of %s not written", self.worker_id, exc_info=True)
            beats += 1
            if self._stop.wait(self.interval):
                return
