"""The built-in runner of `isomix serve`: one worker process, no Redis; the rows are the queue.

Jobs are taken oldest first (by queued_at). A job that was running when the server died is
taken again once its lease has expired, so nothing queued or in flight is lost on a restart.
The worker is a *spawned* process so the API process never imports torch.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.synchronize import Event
from typing import Any, Final

from sqlalchemy import select, update

from isomix.db import rowcount
from isomix.jobs import lease
from isomix.jobs.lease import JobModel
from isomix.models import Export, JobStatus, Project, as_utc, utcnow

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 0.3
CLEANUP_EVERY_SECONDS: Final = 600.0
STOP_TIMEOUT_SECONDS: Final = 15.0


def worker_id(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def next_jobs(now: datetime | None = None, *, limit: int = 8) -> list[tuple[JobModel, str]]:
    """Claimable jobs, oldest first: queued ones and those whose worker's lease ran out."""
    now = now or utcnow()
    found: list[tuple[datetime, JobModel, str]] = []
    with lease.session() as db:
        for model in (Project, Export):
            rows = db.execute(
                select(model.queued_at, model.id)
                .where(lease.claimable(model, now))
                .order_by(model.queued_at, model.id)
                .limit(limit)
            ).all()
            found.extend((as_utc(row.queued_at), model, row.id) for row in rows)
    found.sort(key=lambda item: item[0])
    return [(model, job_id) for _, model, job_id in found[:limit]]


def release_dead_local_leases(now: datetime | None = None) -> int:
    """Expire at once the leases of embedded workers of this machine whose process is gone
    (the server was killed), so a restart resumes their jobs without waiting for the lease."""
    now = now or utcnow()
    prefix = f"embedded:{socket.gethostname()}:"
    released = 0
    with lease.session() as db, db.begin():
        for model in (Project, Export):
            rows = db.execute(
                select(model.id, model.lease_owner).where(
                    model.status == JobStatus.processing, model.lease_owner.startswith(prefix)
                )
            ).all()
            for row in rows:
                try:
                    pid = int(row.lease_owner.rsplit(":", 2)[1])
                except (ValueError, IndexError):
                    continue
                if _process_exists(pid):
                    continue
                result = db.execute(
                    update(model)
                    .where(
                        model.id == row.id,
                        model.status == JobStatus.processing,
                        model.lease_owner == row.lease_owner,
                    )
                    .values(lease_expires_at=now)
                    .execution_options(synchronize_session=False)
                )
                released += rowcount(result)
    return released


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_job(model: JobModel, job_id: str, *, worker_id: str, should_stop: Any = None) -> None:
    from isomix.jobs import tasks

    if model is Project:
        tasks.run_separation(job_id, worker_id=worker_id, should_stop=should_stop)
    else:
        tasks.run_export(job_id, worker_id=worker_id, should_stop=should_stop)


def drain(*, limit: int | None = None) -> int:
    """Run queued jobs in this process until none is left (or `limit` ran); for tests."""
    me = worker_id("drain")
    ran = 0
    tried: set[tuple[str, str]] = set()
    while limit is None or ran < limit:
        jobs = [job for job in next_jobs() if (job[0].__tablename__, job[1]) not in tried]
        if not jobs:
            break
        model, job_id = jobs[0]
        run_job(model, job_id, worker_id=me)
        # A job is run once per drain: a row that is claimable again right away (handed
        # back) must not make drain spin.
        tried.add((model.__tablename__, job_id))
        ran += 1
    return ran


# ---------------------------------------------------------------- the worker process


@dataclass
class EmbeddedWorker:
    process: multiprocessing.process.BaseProcess
    stop_event: Event

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Ask the worker to stop (a running job is handed back to the queue), then wait."""
        self.stop_event.set()
        self.process.join(timeout)
        if self.process.is_alive():
            log.warning("embedded worker did not stop in %.0f s; terminating it", timeout)
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def start_embedded_worker() -> EmbeddedWorker:
    context = multiprocessing.get_context("spawn")
    stop_event = context.Event()
    process = context.Process(
        target=_worker_main, args=(stop_event,), name="isomix-embedded-worker", daemon=True
    )
    process.start()
    log.info("embedded worker started (pid %s)", process.pid)
    return EmbeddedWorker(process=process, stop_event=stop_event)


def _worker_main(stop_event: Event) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # The handler only flips a plain flag: calling stop_event.set() from it deadlocks when the
    # signal lands while this thread is inside stop_event.wait(), which holds the same lock.
    signalled: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: signalled.append(received))
    parent = multiprocessing.parent_process()
    me = worker_id("embedded")

    def should_stop() -> bool:
        # Also stop when the server died without telling us: its successor takes over.
        return (
            bool(signalled) or stop_event.is_set() or (parent is not None and not parent.is_alive())
        )

    from isomix.jobs.cleanup import run_cleanup

    try:
        released = release_dead_local_leases()
        if released:
            log.info("resuming %s job(s) of a worker that died with the server", released)
    except Exception:
        log.exception("could not look for jobs of a dead worker")
    next_cleanup = time.monotonic()
    while not should_stop():
        try:
            if time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + CLEANUP_EVERY_SECONDS
                run_cleanup()
            jobs = next_jobs(limit=1)
            if jobs:
                model, job_id = jobs[0]
                run_job(model, job_id, worker_id=me, should_stop=should_stop)
                continue
        except Exception:  # the database may be briefly unavailable; keep the worker alive
            log.exception("embedded worker loop error")
        stop_event.wait(POLL_SECONDS)
    log.info("embedded worker stopped")
