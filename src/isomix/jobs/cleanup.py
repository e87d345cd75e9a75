"""Retention, garbage collection and the reconciler.

Everything works through row states with compare-and-set updates, deletes the row before the
files (a kill in between leaves an orphan that the next run removes), and never touches a job
that is processing under a live lease. Safe to kill at any point and to run concurrently.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import Counter
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
from isomix.models import Export, JobStatus, Project, StemSet, as_utc, utcnow
from isomix.objects import StoredObject, deletions, get_store
from isomix.objects.scratch import remove_dead_scratch

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
    # Bytes on disk of everything deleted (measured just before each deletion).
    freed_bytes: int = 0

    def summary(self) -> str:
        return (
            f"expired {self.expired_projects} project(s), deleted {self.deleted_exports} "
            f"export(s) and {self.deleted_stem_sets} stem set(s), removed "
            f"{self.removed_paths} leftover file(s)/folder(s), freed "
            f"{storage.format_bytes(self.freed_bytes)}; re-queued "
            f"{len(self.reconcile.requeued)} interrupted job(s), re-sent "
            f"{len(self.reconcile.resent)} queued job(s), failed {self.reconcile.failed} "
            "job(s) out of attempts"
        )


def disk_usage(path: Path) -> int:
    """Bytes of the regular files at or under `path` (symbolic links are not followed and
    count nothing); 0 when it is gone."""
    try:
        status = path.lstat()
    except OSError:
        return 0
    if stat.S_ISREG(status.st_mode):
        return status.st_size
    if not stat.S_ISDIR(status.st_mode):
        return 0
    total = 0
    for folder, _dirs, files in os.walk(path):  # does not descend into linked folders
        for name in files:
            try:
                child = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.S_ISREG(child.st_mode):
                total += child.st_size
    return total


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
    report.expired_projects = _expire_projects(now, report)
    report.deleted_exports = _delete_old_exports(now, report)
    report.deleted_stem_sets = _delete_unused_stem_sets(report)
    report.removed_paths = _sweep_files(now, report)
    remove_dead_scratch()  # plaintext a killed job or upload left on this machine
    _deleted, failing = deletions.run_due(now=now)
    if failing:
        log.warning("cleanup: %d file deletion(s) failed; retried later", failing)
    log.info("cleanup: %s", report.summary())
    return report


def _expirable_project(now: datetime) -> Any:
    """Past its expiry, not expired yet, and not under a live lease."""
    return and_(
        Project.expires_at < now,
        Project.status != JobStatus.expired,
        not_(_live_lease(Project, now)),
    )


def _expire_projects(now: datetime, report: CleanupReport) -> int:
    with lease.session() as db:
        rows = db.execute(
            select(Project.id, Project.status, Project.stem_set_id).where(_expirable_project(now))
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
            # Deleted after the commit (run_cleanup's deletions.run_due), retried until the
            # store confirms.
            deletions.schedule(db, storage.project_files_key(row.id))
            report.freed_bytes += usage(storage.project_files_key(row.id))
        expired += 1
    return expired


def _collectable_export(now: datetime, project_gone: Any) -> Any:
    """Older than the retention or of a project that is gone (`project_gone`, a condition on
    the joined Project), and not under a live lease."""
    cutoff = now - timedelta(hours=get_settings().retention_hours)
    return and_(or_(Export.created_at < cutoff, project_gone), not_(_live_lease(Export, now)))


def _delete_old_exports(now: datetime, report: CleanupReport) -> int:
    with lease.session() as db:
        rows = db.execute(
            select(Export.id, Export.status, Export.format)
            .join(Project, Project.id == Export.project_id)
            .where(_collectable_export(now, Project.status == JobStatus.expired))
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
            key = storage.export_file(row.id, row.format)
            deletions.schedule(db, key)
            report.freed_bytes += usage(key)
        deleted += 1
    return deleted


def _delete_unused_stem_sets(report: CleanupReport) -> int:
    deleted = 0
    for stem_set_id in stemsets.unused_ids():
        # Measured before: collect deletes the files itself, after its commit.
        size = _stem_set_usage(stem_set_id)
        if stemsets.collect(stem_set_id):
            deleted += 1
            report.freed_bytes += size
    return deleted


def _stem_set_usage(stem_set_id: str) -> int:
    with lease.session() as db:
        directory = db.scalar(select(StemSet.directory).where(StemSet.id == stem_set_id))
    return usage(storage.folder_key(directory)) if directory is not None else 0


def usage(key: str) -> int:
    """Bytes stored under a key or a folder key (as stored: sealed files with their tags)."""
    store = get_store()
    if store.kind == "s3":
        return sum(item.size for item in store.listing(key))
    return disk_usage(storage.resolve(key.rstrip("/")))


def _sweep_files(now: datetime, report: CleanupReport) -> int:
    """Remove what no row accounts for: dead jobs' scratch files, trash, orphans."""
    store = get_store()
    if store.kind == "s3":
        orphans = _orphan_objects(now)
        for item in orphans:
            store.delete(item.key)
            report.freed_bytes += item.size
        return len(orphans)
    removed = 0
    for path in _leftovers(now):
        size = disk_usage(path)
        if storage.remove(path):
            removed += 1
            report.freed_bytes += size
    return removed


def _leftovers(now: datetime) -> list[Path]:
    """What `_sweep_files` removes: the entries of stems/, exports/ and projects/ that no row
    accounts for. Only reads."""
    # The folders are listed before the rows are read: every row (and lease) is committed
    # before its files exist, so whatever is listed is covered by the snapshot below, and a
    # job that starts while this runs is never mistaken for an orphan.
    stem_entries = storage.entries(storage.STEMS)
    export_entries = storage.entries(storage.EXPORTS)
    project_entries = storage.entries(storage.PROJECTS)
    partial_entries = [
        child
        for path in project_entries
        if path.is_dir() and not path.is_symlink()
        for child in storage.entries(storage.partial_root(path.name))
    ]
    stem_dirs = stemsets.directories()
    with lease.session() as db:
        live_owners = {
            row.id: storage.partial_name(row.lease_owner or "")
            for row in db.execute(
                select(Project.id, Project.lease_owner).where(_live_lease(Project, now))
            )
        }
        live_projects = set(live_owners)
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

    found: list[Path] = []
    for path in stem_entries:
        if path.name.startswith(storage.TRASH_PREFIX):
            found.append(path)
        elif path.name.startswith("."):
            owner = storage.job_id_of_temp(path.name)
            if (owner is None and old(path)) or (owner is not None and owner not in live_projects):
                found.append(path)
        elif storage.stem_set_dir(path.name) not in stem_dirs and old(path):
            found.append(path)

    for path in export_entries:
        if path.name.startswith(storage.TRASH_PREFIX):
            found.append(path)
        elif path.name.startswith("."):
            owner = storage.job_id_of_temp(path.name)
            if (owner is None and old(path)) or (owner is not None and owner not in live_exports):
                found.append(path)
        elif path.name.split(".", 1)[0] not in export_ids:
            found.append(path)

    for path in project_entries:
        state = project_states.get(path.name)
        if state == JobStatus.expired or (state is None and old(path)):
            found.append(path)

    # Progressive parts are kept only while their worker holds the job's lease.
    found.extend(
        path for path in partial_entries if live_owners.get(path.parent.parent.name) != path.name
    )
    return found


def _orphan_objects(now: datetime) -> list[StoredObject]:
    """A bucket's objects that no row accounts for, older than ORPHAN_GRACE (an upload, a
    stem set and an export reach the store a moment before their row is committed).
    Scratch space is local to each process, so a bucket holds no temporary names."""
    listed = list(get_store().listing(""))  # before the rows, as in _leftovers
    stem_dirs = stemsets.directories()
    with lease.session() as db:
        project_states = {
            row.id: row.status for row in db.execute(select(Project.id, Project.status))
        }
        export_ids = set(db.scalars(select(Export.id)))
        live_parts = {
            storage.partial_dir(row.id, row.lease_owner or "")
            for row in db.execute(
                select(Project.id, Project.lease_owner).where(_live_lease(Project, now))
            )
        }
    found: list[StoredObject] = []
    for item in listed:
        top, _, rest = item.key.partition("/")
        owner = rest.split("/", 1)[0]
        # Progressive parts are kept only while their worker holds the job's lease.
        if top == storage.PROJECTS and rest.split("/")[1:2] == [storage.PARTIAL]:
            if "/".join(item.key.split("/")[:4]) not in live_parts:
                found.append(item)
            continue
        if now - as_utc(item.modified) <= ORPHAN_GRACE:
            continue
        if top == storage.PROJECTS:
            state = project_states.get(owner)
            orphan = state is None or state == JobStatus.expired
        elif top == storage.STEMS:
            orphan = storage.stem_set_dir(owner) not in stem_dirs
        elif top == storage.EXPORTS:
            orphan = owner.split(".", 1)[0] not in export_ids
        else:
            orphan = False  # not ours to judge
        if orphan:
            found.append(item)
    return found


# ---------------------------------------------------------------- dry run


@dataclass(frozen=True)
class Doomed:
    """One thing a cleanup would delete, and the bytes it holds on disk now."""

    id: str  # the row's id; for a leftover, its path relative to the data directory
    size_bytes: int
    note: str = ""  # what a person knows it by (a project's file name)


@dataclass
class CleanupPlan:
    """What `run_cleanup` would do now, found by `plan_cleanup` without changing anything."""

    expired_projects: list[Doomed] = field(default_factory=list)
    deleted_exports: list[Doomed] = field(default_factory=list)
    deleted_stem_sets: list[Doomed] = field(default_factory=list)
    removed_paths: list[Doomed] = field(default_factory=list)
    requeued: list[tuple[str, str]] = field(default_factory=list)  # (table, id)
    resent: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(
            item.size_bytes
            for items in (
                self.expired_projects,
                self.deleted_exports,
                self.deleted_stem_sets,
                self.removed_paths,
            )
            for item in items
        )

    def summary(self) -> str:
        return (
            f"would expire {len(self.expired_projects)} project(s), delete "
            f"{len(self.deleted_exports)} export(s) and {len(self.deleted_stem_sets)} stem "
            f"set(s), remove {len(self.removed_paths)} leftover file(s)/folder(s), freeing "
            f"{storage.format_bytes(self.freed_bytes)}; would re-queue {len(self.requeued)} "
            f"interrupted job(s), re-send {len(self.resent)} queued job(s), fail "
            f"{len(self.failed)} job(s) out of attempts"
        )


def plan_cleanup(*, now: datetime | None = None) -> CleanupPlan:
    """What `run_cleanup(now=now)` would expire, delete, remove and free, with the same
    rules, reading rows and sizes only. A run right after it does exactly this unless
    something changes in between (an upload, a job starting or ending)."""
    now = as_utc(now) if now else utcnow()
    settings = get_settings()
    plan = CleanupPlan()
    with lease.session() as db:
        for model in (Project, Export):
            table = model.__tablename__
            dead = db.execute(
                select(model.id, model.attempts).where(
                    model.status == JobStatus.processing,
                    or_(model.lease_expires_at.is_(None), model.lease_expires_at < now),
                )
            ).all()
            for job in dead:
                exhausted = job.attempts >= settings.max_attempts
                (plan.failed if exhausted else plan.requeued).append((table, job.id))
            if settings.redis_url:
                stale = db.scalars(
                    select(model.id).where(
                        model.status == JobStatus.queued, model.updated_at < now - STALE_QUEUED
                    )
                ).all()
                plan.resent.extend((table, job_id) for job_id in stale)

        expiring = db.execute(
            select(Project.id, Project.filename, Project.stem_set_id).where(_expirable_project(now))
        ).all()
        for project in expiring:
            size = usage(storage.project_files_key(project.id))
            plan.expired_projects.append(Doomed(project.id, size, project.filename))

        # The exports of projects that expire in this run go too (run_cleanup expires first).
        project_gone = or_(Project.status == JobStatus.expired, _expirable_project(now))
        exports = db.execute(
            select(Export.id, Export.format, Project.filename)
            .join(Project, Project.id == Export.project_id)
            .where(_collectable_export(now, project_gone))
        ).all()
        for export in exports:
            size = usage(storage.export_file(export.id, export.format))
            note = f"{export.format} of {export.filename}"
            plan.deleted_exports.append(Doomed(export.id, size, note))

        # stemsets.collect's rule after the expiries: counted by no one, pointed at by none.
        expiring_ids = {project.id for project in expiring}
        released = Counter(project.stem_set_id for project in expiring if project.stem_set_id)
        still_used = {
            pointer.stem_set_id
            for pointer in db.execute(
                select(Project.id, Project.stem_set_id).where(Project.stem_set_id.is_not(None))
            )
            if pointer.id not in expiring_ids
        }
        stem_rows = db.execute(select(StemSet.id, StemSet.directory, StemSet.refcount)).all()
        for stem_set in stem_rows:
            if stem_set.refcount - released[stem_set.id] <= 0 and stem_set.id not in still_used:
                size = usage(storage.folder_key(stem_set.directory))
                plan.deleted_stem_sets.append(Doomed(stem_set.id, size))

    if get_store().kind == "s3":
        for item in _orphan_objects(now):
            plan.removed_paths.append(Doomed(item.key, item.size))
        return plan
    root = storage.data_root()
    for path in _leftovers(now):
        plan.removed_paths.append(Doomed(path.relative_to(root).as_posix(), disk_usage(path)))
    return plan


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
