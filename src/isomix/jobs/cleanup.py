"""Retention, garbage collection and the reconciler.

Everything works through row states with compare-and-set updates, deletes the row before the
files (a kill in between leaves an orphan that the next run removes), and never touches a job
that is processing under a live lease. Safe to kill at any point and to run concurrently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import and_, delete, not_, or_, select, update

from isomix import stemsets, storage
from isomix.config import get_settings
from isomix.db import rowcount
from isomix.jobs import lease, queue
from isomix.jobs.lease import JobModel
from isomix.models import Export, JobStatus, Project, as_utc, utcnow

log = logging.getLogger(__name__)

# A directory or file with no row is only collected after this long: uploads and stem sets
# reach the disk a moment before their row is committed.
ORPHAN_GRACE: Final = timedelta(hours=1)
# Celery mode: a queued row untouched for this long has its message sent again (the broker
# may have lost it: Redis is not a database). Duplicates are harmless: the claim dedups.
STALE_QUEUED: Final = timedelta(minutes=5)


@dataclass
class ReconcileReport:
    requeued: list[tuple[str, str]] = field(default_factory=list)  # (table, id)
    resent: list[tuple[str, str]] = field(default_factory=list)
    failed: int = 0


@dataclass
class CleanupReport:
    expired_projects: int = 0
    deleted_exports: int = 0
    deleted_stem_sets: int = 0
    removed_paths: int = 0
    reconcile: ReconcileReport = field(default_factory=ReconcileReport)

    def summary(self) -> str:
        return (
            f"expired {self.expired_projects} project(s), deleted {self.deleted_exports} "
            f"export(s) and {self.deleted_stem_sets} stem set(s), removed "
            f"{self.removed_paths} leftover file(s)/folder(s); re-queued "
            f"{len(self.reconcile.requeued)} interrupted job(s), re-sent "
            f"{len(self.reconcile.resent)} queued job(s), failed {self.reconcile.failed} "
            "job(s) out of attempts"
        )


def _live_lease(model: JobModel, now: datetime) -> Any:
    # is_not(None) first: with a NULL expiry the comparison is NULL, and not_(NULL) would
    # leave such a row out of both "live" and "not live".
    return and_(
        model.status == JobStatus.processing,
        model.lease_expires_at.is_not(None),
        model.lease_expires_at >= now,
    )


# ---------------------------------------------------------------- reconciler


def reconcile(*, now: datetime | None = None, enqueue: bool = True) -> ReconcileReport:
    """Re-queue jobs whose worker died; in Celery mode, re-send messages for stale queued rows."""
    now = as_utc(now) if now else utcnow()
    report = ReconcileReport()
    for model in (Project, Export):
        _requeue_expired(model, now, report)
        if get_settings().redis_url:
            _resend_stale(model, now, report)
    if enqueue:
        for table, job_id in report.requeued + report.resent:
            queue.enqueue(table, job_id)
    return report


def _requeue_expired(model: JobModel, now: datetime, report: ReconcileReport) -> None:
    with lease.session() as db:
        ids = db.scalars(
            select(model.id).where(
                model.status == JobStatus.processing,
                or_(model.lease_expires_at.is_(None), model.lease_expires_at < now),
            )
        ).all()
    for job_id in ids:
        with lease.session() as db, db.begin():
            if lease.give_up_if_exhausted(db, model, job_id, now=now):
                report.failed += 1
                continue
            result = db.execute(
                update(model)
                .where(
                    model.id == job_id,
                    model.status == JobStatus.processing,
                    or_(model.lease_expires_at.is_(None), model.lease_expires_at < now),
                )
                .values(
                    status=JobStatus.queued,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) == 1:
                log.warning("%s %s: its worker stopped; re-queued", model.__tablename__, job_id)
                report.requeued.append((model.__tablename__, job_id))


def _resend_stale(model: JobModel, now: datetime, report: ReconcileReport) -> None:
    stale = now - STALE_QUEUED
    with lease.session() as db, db.begin():
        ids = db.scalars(
            select(model.id).where(model.status == JobStatus.queued, model.updated_at < stale)
        ).all()
        for job_id in ids:
            # updated_at doubles as "last sent": one re-send per STALE_QUEUED per row.
            result = db.execute(
                update(model)
                .where(
                    model.id == job_id,
                    model.status == JobStatus.queued,
                    model.updated_at < stale,
                )
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) == 1:
                report.resent.append((model.__tablename__, job_id))


# ---------------------------------------------------------------- retention and GC


def run_cleanup(*, now: datetime | None = None) -> CleanupReport:
    now = as_utc(now) if now else utcnow()
    report = CleanupReport(reconcile=reconcile(now=now))
    report.expired_projects = _expire_projects(now)
    report.deleted_exports = _delete_old_exports(now)
    report.deleted_stem_sets = _delete_unused_stem_sets()
    report.removed_paths = _sweep_files(now)
    log.info("cleanup: %s", report.summary())
    return report


def _expire_projects(now: datetime) -> int:
    with lease.session() as db:
        rows = db.execute(
            select(Project.id, Project.status, Project.stem_set_id).where(
                Project.expires_at < now,
                Project.status != JobStatus.expired,
                not_(_live_lease(Project, now)),
            )
        ).all()
    expired = 0
    for row in rows:
        with lease.session() as db, db.begin():
            result = db.execute(
                update(Project)
                .where(
                    Project.id == row.id,
                    Project.status == row.status,
                    # A repeated upload may have given it a new expiry since the select.
                    Project.expires_at < now,
                    Project.stem_set_id == row.stem_set_id
                    if row.stem_set_id
                    else Project.stem_set_id.is_(None),
                    not_(_live_lease(Project, now)),
                )
                .values(
                    status=JobStatus.expired,
                    stem_set_id=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    eta_seconds=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                continue
            stemsets.release(db, row.stem_set_id)
        expired += 1
        # After the commit: a kill here leaves the upload, which _sweep_files removes.
        storage.delete_project_files(row.id)
    return expired


def _delete_old_exports(now: datetime) -> int:
    cutoff = now - timedelta(hours=get_settings().retention_hours)
    project_gone = Project.status == JobStatus.expired
    with lease.session() as db:
        rows = db.execute(
            select(Export.id, Export.status)
            .join(Project, Project.id == Export.project_id)
            .where(
                or_(Export.created_at < cutoff, project_gone),
                not_(_live_lease(Export, now)),
            )
        ).all()
    deleted = 0
    for row in rows:
        with lease.session() as db, db.begin():
            result = db.execute(
                delete(Export)
                .where(
                    Export.id == row.id,
                    Export.status == row.status,
                    not_(_live_lease(Export, now)),
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                continue
        deleted += 1
        storage.delete_export_files(row.id)
    return deleted


def _delete_unused_stem_sets() -> int:
    return sum(stemsets.collect(stem_set_id) for stem_set_id in stemsets.unused_ids())


def _sweep_files(now: datetime) -> int:
    """Remove what no row accounts for: dead jobs' scratch files, trash, orphans."""
    removed = 0
    # The folders are listed before the rows are read: every row (and lease) is committed
    # before its files exist, so whatever is listed is covered by the snapshot below, and a
    # job that starts while this runs is never mistaken for an orphan.
    stem_entries = storage.entries(storage.STEMS)
    export_entries = storage.entries(storage.EXPORTS)
    project_entries = storage.entries(storage.PROJECTS)
    stem_dirs = stemsets.directories()
    with lease.session() as db:
        live_projects = set(db.scalars(select(Project.id).where(_live_lease(Project, now))))
        live_exports = set(db.scalars(select(Export.id).where(_live_lease(Export, now))))
        project_states = {
            row.id: row.status for row in db.execute(select(Project.id, Project.status))
        }
        export_ids = set(db.scalars(select(Export.id)))

    def old(path: Path) -> bool:
        try:
            modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        except FileNotFoundError:
            return False
        return now - modified > ORPHAN_GRACE

    def remove(path: Path) -> None:
        nonlocal removed
        removed += int(storage.remove(path))

    for path in stem_entries:
        if path.name.startswith(storage.TRASH_PREFIX):
            remove(path)
        elif path.name.startswith("."):
            owner = storage.job_id_of_temp(path.name)
            if (owner is None and old(path)) or (owner is not None and owner not in live_projects):
                remove(path)
        elif storage.stem_set_dir(path.name) not in stem_dirs and old(path):
            remove(path)

    for path in export_entries:
        if path.name.startswith(storage.TRASH_PREFIX):
            remove(path)
        elif path.name.startswith("."):
            owner = storage.job_id_of_temp(path.name)
            if (owner is None and old(path)) or (owner is not None and owner not in live_exports):
                remove(path)
        elif path.name.split(".", 1)[0] not in export_ids:
            remove(path)

    for path in project_entries:
        state = project_states.get(path.name)
        if state == JobStatus.expired or (state is None and old(path)):
            remove(path)
    return removed


def remove_partial_uploads() -> int:
    """Delete project folders that have no row and hold nothing but a partial upload
    (`original.upload`, or not even that): what a crash in the middle of an upload leaves.

    For the embedded server at start, before it listens: then no upload can be under way.
    Never call it while another process may be receiving uploads into this data directory
    (several API processes): their uploads look exactly like this until their row is
    committed. Returns how many folders were removed; the ORPHAN_GRACE sweep of `run_cleanup`
    catches the rest.
    """
    with lease.session() as db:
        project_ids = set(db.scalars(select(Project.id)))
    removed = 0
    for path in storage.entries(storage.PROJECTS):
        if path.name in project_ids or not path.is_dir() or path.is_symlink():
            continue
        try:
            names = {child.name for child in path.iterdir()}
        except FileNotFoundError:
            continue
        if names <= {storage.UPLOAD_TEMP_NAME} and storage.remove(path):
            log.info("removed %s: an upload that never completed", path.name)
            removed += 1
    return removed
