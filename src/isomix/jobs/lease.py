"""Leases on job rows: the compare-and-set that lets exactly one worker run a job.

A worker owns a job while `status = processing`, `lease_owner` is its id and
`lease_expires_at` is in the future. A heartbeat thread keeps the lease alive; a worker that
dies stops renewing it, and the next claim (or the reconciler) takes the job over. Redis keeps
no delivery count, so `attempts` on the row bounds how often a crashing input is retried.

The same thread writes what the user sees of a running job: the job reports progress, an
estimate of the time left and (projects) its stage (`ProjectStage`) through `LeaseKeeper`;
between two reports the keeper keeps counting that estimate down every `ETA_TICK_SECONDS`,
so an ETA never stands still while the job works on a long step.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from types import TracebackType
from typing import Any, Final

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from isomix.config import get_settings
from isomix.db import get_sessionmaker, rowcount
from isomix.jobs import events
from isomix.models import Export, JobCount, JobStatus, Project, ProjectStage, User, utcnow

log = logging.getLogger(__name__)

JobModel = type[Project] | type[Export]

WORKER_STOPPED: Final = (
    "the worker stopped during the job (crash, kill, out of memory or time limit)"
)
# Progress is written at most this often; the lease is renewed by the heartbeat anyway.
PROGRESS_INTERVAL_SECONDS: Final = 0.5
# Between two reports of the job, the time left is counted down and written this often.
ETA_TICK_SECONDS: Final = 1.0


def idle_values(model: JobModel) -> dict[str, Any]:
    """Columns that describe a running job only: cleared whenever a job starts or ends."""
    return {"stage": None, "eta_seconds": None, "ready_seconds": None} if model is Project else {}


class Claim(Enum):
    claimed = "claimed"
    gave_up = "gave_up"  # too many attempts: the row is now failed
    unavailable = "unavailable"  # someone else has it, or it is finished, cancelled or gone
    owner_busy = "owner_busy"  # the owner's plan runs no more separations at once: later


class JobAborted(Exception):
    """Raised inside a job (from a progress callback) to stop it without marking it failed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def lease_duration() -> timedelta:
    # Shorter than the broker's visibility timeout: when Redis redelivers the task of a worker
    # that was killed, its lease has already expired and the new copy can take over at once,
    # while a copy redelivered during a live job still finds the lease held and exits.
    visibility = get_settings().celery_visibility_timeout
    return timedelta(seconds=max(2.0, min(60.0, visibility / 2)))


def heartbeat_interval() -> float:
    return lease_duration().total_seconds() / 4


def session() -> Session:
    return get_sessionmaker()()


def claimable(model: JobModel, now: datetime) -> Any:
    return or_(
        model.status == JobStatus.queued,
        and_(
            model.status == JobStatus.processing,
            or_(model.lease_expires_at.is_(None), model.lease_expires_at < now),
        ),
    )


def claim(model: JobModel, job_id: str, *, worker_id: str, now: datetime | None = None) -> Claim:
    """Take the job if it is queued or its lease expired, in one UPDATE; give up after N tries.

    A separation is taken only while its owner has fewer running than the row's `job_slots`
    (the plan's concurrent jobs); else `owner_busy`, and it stays queued.
    """
    now = now or utcnow()
    max_attempts = get_settings().max_attempts
    values: dict[str, Any] = {
        "status": JobStatus.processing,
        "attempts": model.attempts + 1,
        "lease_owner": worker_id,
        "lease_expires_at": now + lease_duration(),
        "started_at": now,
        "progress": 0.0,
        "error": None,
        "updated_at": now,
        **idle_values(model),
    }
    with session() as db, db.begin():
        conditions = [model.id == job_id, model.attempts < max_attempts, claimable(model, now)]
        # Single mode has one owner and no plan limit: its one worker takes jobs in turn.
        accounts = get_settings().accounts
        if model is Project and accounts and not _has_free_slot(db, job_id, now):
            return Claim.owner_busy
        taken = db.execute(
            update(model)
            .where(*conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if rowcount(taken) == 1:
            published(db, model, job_id)
            return Claim.claimed
        if give_up_if_exhausted(db, model, job_id, now=now):
            return Claim.gave_up
    return Claim.unavailable


def _has_free_slot(db: Session, project_id: str, now: datetime) -> bool:
    """Whether the project's owner runs fewer separations than its `job_slots`.

    The owner's user row is locked first (PostgreSQL; SQLite has one writer anyway), so two
    workers claiming two jobs of one owner at once count one after the other.
    """
    row = db.execute(
        select(Project.owner_id, Project.job_slots).where(Project.id == project_id)
    ).first()
    if row is None:
        return True  # gone: the claim finds nothing
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(User.id).where(User.id == row.owner_id).with_for_update())
    running = db.scalar(
        select(func.count())
        .select_from(Project)
        .where(
            Project.owner_id == row.owner_id,
            Project.id != project_id,
            Project.status == JobStatus.processing,
            Project.lease_expires_at >= now,  # live, as `claimable` and the collector say
        )
    )
    return bool((running or 0) < row.job_slots)


def give_up_if_exhausted(db: Session, model: JobModel, job_id: str, *, now: datetime) -> bool:
    """Mark the job failed when it would be retried but has used all its attempts."""
    max_attempts = get_settings().max_attempts
    row = db.execute(select(model.attempts, model.error).where(model.id == job_id)).first()
    if row is None or row.attempts < max_attempts:
        return False
    reason = f"gave up after {row.attempts} attempts: {row.error or WORKER_STOPPED}"
    failed = db.execute(
        update(model)
        .where(model.id == job_id, model.attempts >= max_attempts, claimable(model, now))
        .values(ended_values(JobStatus.failed, now=now, error=reason, **idle_values(model)))
        .execution_options(synchronize_session=False)
    )
    if rowcount(failed) == 1:
        count_ended(db, model, JobStatus.failed)
        published(db, model, job_id)
        log.warning("%s %s failed: %s", model.__tablename__, job_id, reason)
        return True
    return False


def published(db: Session, model: JobModel, job_id: str) -> None:
    """A project row changed in `db`: its event streams hear of it after the commit."""
    if model is Project:
        events.publish_after_commit(db, job_id)


def owned(model: JobModel, job_id: str, worker_id: str) -> Any:
    """SQL condition: the job is still being processed by this worker."""
    return and_(
        model.id == job_id,
        model.status == JobStatus.processing,
        model.lease_owner == worker_id,
    )


def ended_values(status: JobStatus, *, now: datetime, **values: Any) -> dict[str, Any]:
    """Column values of a job that has ended: its lease is released and its end time set."""
    return {
        "status": status,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": now,
        "updated_at": now,
        **values,
    }


def finish_owned(
    db: Session,
    model: JobModel,
    job_id: str,
    *,
    worker_id: str,
    status: JobStatus,
    now: datetime,
    **values: Any,
) -> bool:
    """End a job this worker holds, in the caller's transaction; False when it is not ours."""
    result = db.execute(
        update(model)
        .where(owned(model, job_id, worker_id))
        .values(ended_values(status, now=now, **{**idle_values(model), **values}))
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        return False
    count_ended(db, model, status)
    published(db, model, job_id)
    return True


def count_ended(db: Session, model: JobModel, status: JobStatus) -> None:
    """Add one to the jobs ended with `status` (`job_counts`, /metrics' isomix_jobs_total).

    Called in the transaction of the conditional UPDATE that ended the job, once that UPDATE
    changed the row: a job ends once, and a rolled-back ending is not counted. A crashed
    attempt taken over by another worker has not ended; a user's retry is a new run.
    """
    kind = "separation" if model is Project else "export"
    key = [JobCount.kind, JobCount.status]
    one_more = {"total": JobCount.total + 1}
    if db.get_bind().dialect.name == "postgresql":
        upsert: Any = postgresql.insert(JobCount).on_conflict_do_update(
            index_elements=key, set_=one_more
        )
    else:
        upsert = sqlite.insert(JobCount).on_conflict_do_update(index_elements=key, set_=one_more)
    db.execute(upsert.values(kind=kind, status=status.value, total=1))


def renew(model: JobModel, job_id: str, *, worker_id: str, **values: Any) -> bool:
    """Extend the lease (and write `values`, e.g. progress); False when the job is not ours."""
    now = utcnow()
    with session() as db, db.begin():
        result = db.execute(
            update(model)
            .where(owned(model, job_id, worker_id))
            .values(lease_expires_at=now + lease_duration(), updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            return False
        published(db, model, job_id)
        return True


def fail(model: JobModel, job_id: str, *, worker_id: str, reason: str) -> bool:
    with session() as db, db.begin():
        return finish_owned(
            db,
            model,
            job_id,
            worker_id=worker_id,
            status=JobStatus.failed,
            now=utcnow(),
            error=reason,
        )


def release(model: JobModel, job_id: str, *, worker_id: str) -> bool:
    """Hand a job back to the queue (the worker is shutting down); the attempt does not count."""
    now = utcnow()
    with session() as db, db.begin():
        result = db.execute(
            update(model)
            .where(owned(model, job_id, worker_id))
            .values(
                status=JobStatus.queued,
                attempts=model.attempts - 1,
                lease_owner=None,
                lease_expires_at=None,
                progress=0.0,
                updated_at=now,
                **idle_values(model),
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            return False
        published(db, model, job_id)
        return True


class LeaseKeeper:
    """Keeps a claimed job's lease alive from a thread and turns losing it into JobAborted.

    `check()`, `progress()` and `stage()` are called by the job itself (progress from the
    separation callback); they raise JobAborted when the row was cancelled, taken over, or
    when the worker was asked to stop.

    The thread also writes what the job reported but was not written yet (progress is
    throttled to one write per PROGRESS_INTERVAL_SECONDS) and counts the time left down from
    the job's last estimate, once per ETA_TICK_SECONDS.
    """

    def __init__(
        self,
        model: JobModel,
        job_id: str,
        *,
        worker_id: str,
        should_stop: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.job_id = job_id
        self.worker_id = worker_id
        self._should_stop = should_stop or (lambda: False)
        self._clock = clock
        self._lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id}", daemon=True)
        # What the row should say; guarded by _write_lock, which also orders the writes.
        self._write_lock = threading.Lock()
        self._percent: float | None = None
        self._stage: ProjectStage | None = None
        self._eta: tuple[float, float] | None = None  # (seconds left, clock() when estimated)
        self._pending = False
        self._last_write = -math.inf
        self._last_renew = clock()

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(min(heartbeat_interval(), ETA_TICK_SECONDS)):
            try:
                if not self.tick():
                    return
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("lease renewal of %s failed", self.job_id)

    def tick(self) -> bool:
        """One beat: write what is pending or the ETA counted down, or at least renew the
        lease when it is due. False once the job is no longer ours."""
        with self._write_lock:
            now = self._clock()
            counting = self._eta is not None and now - self._last_write >= ETA_TICK_SECONDS
            if self._pending or counting:
                return self._write(now)
            if now - self._last_renew < heartbeat_interval():
                return True
            self._last_renew = now
            if not renew(self.model, self.job_id, worker_id=self.worker_id):
                self._lost.set()
                return False
            return True

    def check(self) -> None:
        if self._should_stop():
            raise JobAborted("shutdown")
        if self._lost.is_set():
            raise JobAborted("lost")

    def confirm(self) -> None:
        """Check against the database, now, that the job is still ours (before a step that
        must not happen otherwise, like renaming results into place)."""
        self.check()
        if not renew(self.model, self.job_id, worker_id=self.worker_id):
            self._lost.set()
            raise JobAborted("lost")

    def progress(
        self,
        percent: float,
        *,
        eta_seconds: float | None = None,
        stage: ProjectStage | None = None,
    ) -> None:
        """Report progress (written at most every PROGRESS_INTERVAL_SECONDS, the rest by the
        thread) and abort if the job is no longer ours.

        `eta_seconds`: a new estimate of the time left, counted down from now on; None keeps
        counting down the last one. A new `stage` is written at once.
        """
        self.check()
        with self._write_lock:
            now = self._clock()
            self._percent = percent
            if eta_seconds is not None:
                self._eta = (max(eta_seconds, 0.0), now)
            changed = stage is not None and stage != self._stage
            if stage is not None:
                self._stage = stage
            self._pending = True
            due = now - self._last_write >= PROGRESS_INTERVAL_SECONDS
            if not (changed or due or percent >= 100):
                return
            if not self._write(now):
                raise JobAborted("lost")

    def stage(self, stage: ProjectStage) -> None:
        """The job moved on to `stage` (projects only): written at once."""
        self.check()
        with self._write_lock:
            self._stage = stage
            if not self._write(self._clock()):
                raise JobAborted("lost")

    def eta_at(self, now: float) -> float | None:
        """The time left as it stands at clock time `now`: the last estimate, counted down."""
        if self._eta is None:
            return None
        seconds, since = self._eta
        return max(seconds - (now - since), 0.0)

    def _write(self, now: float) -> bool:
        """Write progress, the counted-down ETA and the stage (with _write_lock held)."""
        values: dict[str, Any] = {}
        if self._percent is not None:
            values["progress"] = round(min(max(self._percent, 0.0), 99.9), 1)
        if self.model is Project:
            eta = self.eta_at(now)
            if eta is not None:
                values["eta_seconds"] = round(eta, 1)
            values["stage"] = self._stage
        self._pending = False
        self._last_write = self._last_renew = now
        try:
            renewed = renew(self.model, self.job_id, worker_id=self.worker_id, **values)
        except OperationalError:
            # A busy or briefly unreachable database must not fail the job from its own
            # thread: the heartbeat writes what is pending at its next beat (and only a
            # lease that really ran out makes the job someone else's).
            log.warning("progress of %s not written; retrying at the next beat", self.job_id)
            self._pending = True
            return True
        if not renewed:
            self._lost.set()
            return False
        return True
