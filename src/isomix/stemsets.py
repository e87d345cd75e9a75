"""Stem sets shared between projects: the cache key, and every claim and release of one.

Two uploads with the same content and the same options get the same stems, so a finished
stem set is shared by every project that points at it, and `refcount` counts them. Claims
(an upload or a job that reuses a stem set, a job that registers a new one) and releases
(a project deleted or expired) all go through here, inside the caller's transaction, so the
count and the project's `stem_set_id` change together. A stem set is deleted only by
`collect`, with one guard for every caller: nothing counts it and no project points at it,
checked in the same statement that deletes the row. The files go after the commit: a crash
in between leaves an orphan folder for the collector, never a row pointing at missing files.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import delete, exists, not_, select, update
from sqlalchemy.orm import Session

from isomix import storage
from isomix.config import Settings
from isomix.db import get_sessionmaker, rowcount
from isomix.models import Project, StemSet
from isomix.objects import deletions, get_store
from isomix.objects.layout import read_stem_layout

log = logging.getLogger(__name__)

# Fixed namespace for stem set ids derived from (project, cache key); never change it.
_STEM_SET_NAMESPACE: Final = uuid.UUID("6f1c1a52-3d0e-4d7b-9a51-5b0f2f7a4c11")


@dataclass(frozen=True)
class Claimed:
    id: str
    duration_seconds: float


@dataclass(frozen=True)
class Registered:
    id: str
    directory: str  # where the project's stems now are: the job's own folder, or another's


def cache_key(
    content_sha256: str,
    model: str,
    two_stems: str | None,
    shifts: int,
    *,
    owner_id: str | None = None,
) -> str:
    """Same upload content and options, same stems: the key stem sets are shared by.

    With `owner_id`, only that owner's projects share (ISOMIX_SHARED_CACHE off): the content
    hash is mixed with the owner, so the key keeps its length and tells nothing of others.
    """
    content = content_sha256
    if owner_id is not None:
        content = hashlib.sha256(f"{owner_id}\n{content_sha256}".encode()).hexdigest()
    return f"{content}:{model}:{two_stems or ''}:{shifts}"


def project_cache_key(project: Project, settings: Settings) -> str:
    """The key of a project's stems under this server's sharing rule."""
    return cache_key(
        project.content_sha256,
        project.model,
        project.two_stems,
        project.shifts,
        owner_id=None if settings.reuse_stems_across_owners else project.owner_id,
    )


def new_stem_set_id(project_id: str, key: str) -> str:
    # Deterministic per project and options: a rerun after a crash between the rename and the
    # commit finds its own finished directory and reuses it instead of writing a second one.
    return str(uuid.uuid5(_STEM_SET_NAMESPACE, f"{project_id}\n{key}"))


def _increment(db: Session, stem_set_id: str) -> bool:
    taken = db.execute(
        update(StemSet)
        .where(StemSet.id == stem_set_id)
        .values(refcount=StemSet.refcount + 1)
        .execution_options(synchronize_session=False)
    )
    return rowcount(taken) == 1


def claim_existing(db: Session, key: str) -> Claimed | None:
    """Count one more user of the finished stem set with this key, if there is a complete one.

    The increment is a compare-and-set against `collect`: either it lands first and the
    collector's guarded delete then finds the stem set in use, or the row is already gone and
    the caller separates again.
    """
    row = db.execute(
        select(StemSet.id, StemSet.directory, StemSet.duration_seconds).where(
            StemSet.cache_key == key
        )
    ).first()
    if row is None:
        return None
    if read_stem_layout(get_store(), row.directory) is None:
        log.warning("stem set %s is incomplete in the store; not reusing it", row.id)
        return None
    if not _increment(db, row.id):
        return None
    return Claimed(id=row.id, duration_seconds=row.duration_seconds)


def claim_new(
    db: Session,
    *,
    stem_set_id: str,
    key: str,
    names: Sequence[str],
    duration_seconds: float,
    stored_bytes: int | None = None,
) -> Registered:
    """Register a stem set a job has just written (its files already in place) and count its
    project; when another job registered the same key first, count that one instead, unless
    its files no longer read back: then that row is pointed at the new files (its other
    projects are mended too; the damaged folder, now unreferenced, is swept by the collector).

    An IntegrityError means another job inserted the same key between the select and the
    insert: retry the transaction.
    """
    directory = storage.stem_set_dir(stem_set_id)
    existing = db.execute(
        select(StemSet.id, StemSet.directory).where(StemSet.cache_key == key)
    ).first()
    if existing is not None:
        if read_stem_layout(get_store(), existing.directory) is None:
            log.warning("stem set %s is damaged on disk; pointing it at %s", existing.id, directory)
            mended = db.execute(
                update(StemSet)
                .where(StemSet.id == existing.id)
                .values(
                    directory=directory,
                    stem_names=names_value(names),
                    duration_seconds=duration_seconds,
                    refcount=StemSet.refcount + 1,
                    previews_pending=True,
                    stored_bytes=stored_bytes,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(mended) == 1:
                return Registered(existing.id, directory)
        elif _increment(db, existing.id):
            return Registered(existing.id, existing.directory)
    db.add(
        StemSet(
            id=stem_set_id,
            cache_key=key,
            directory=storage.stem_set_dir(stem_set_id),
            stem_names=names_value(names),
            duration_seconds=duration_seconds,
            refcount=1,
            previews_pending=True,
            stored_bytes=stored_bytes,
        )
    )
    db.flush()
    return Registered(stem_set_id, directory)


def names_value(names: Sequence[str]) -> dict[str, Any]:
    """What `StemSet.stem_names` stores for a stem set of `names`."""
    return {"names": list(names)}


def names_of(value: dict[str, Any]) -> tuple[str, ...]:
    """The stem names a `StemSet.stem_names` value holds."""
    return tuple(str(name) for name in value.get("names", ()))


@dataclass(frozen=True)
class PendingPreviews:
    id: str
    directory: str
    names: tuple[str, ...]


def next_pending_previews() -> PendingPreviews | None:
    """The oldest stem set whose MP3 previews are still to be encoded, if any."""
    with get_sessionmaker()() as db:
        row = db.execute(
            select(StemSet.id, StemSet.directory, StemSet.stem_names)
            .where(StemSet.previews_pending)
            .order_by(StemSet.created_at)
            .limit(1)
        ).first()
    if row is None:
        return None
    return PendingPreviews(row.id, row.directory, names_of(row.stem_names))


def previews_done(pending: PendingPreviews, stored: int | None = None) -> None:
    """Mark the MP3 previews of `pending` written (unless the row has been pointed at other
    files meanwhile: those have their own quick previews), with the set's bytes now."""
    values: dict[str, Any] = {"previews_pending": False}
    if stored is not None:
        values["stored_bytes"] = stored
    with get_sessionmaker()() as db, db.begin():
        db.execute(
            update(StemSet)
            .where(StemSet.id == pending.id, StemSet.directory == pending.directory)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def release(db: Session, stem_set_id: str | None) -> None:
    """One user fewer (a project deleted, expired or moved off it); `collect` may then go."""
    if stem_set_id is None:
        return
    db.execute(
        update(StemSet)
        .where(StemSet.id == stem_set_id)
        .values(refcount=StemSet.refcount - 1)
        .execution_options(synchronize_session=False)
    )


def _unused() -> Any:
    referenced = exists().where(Project.stem_set_id == StemSet.id)
    return (StemSet.refcount <= 0) & not_(referenced)


def collect(stem_set_id: str) -> bool:
    """Delete the stem set and its files if nothing uses it any more; True when it went."""
    with get_sessionmaker()() as db, db.begin():
        directory = db.scalar(select(StemSet.directory).where(StemSet.id == stem_set_id))
        if directory is None:
            return False
        # Compare-and-set: an upload that just found this stem set counted itself in.
        deleted = db.execute(
            delete(StemSet)
            .where(StemSet.id == stem_set_id, _unused())
            .execution_options(synchronize_session=False)
        )
        if rowcount(deleted) != 1:
            return False
        deletions.schedule(db, storage.folder_key(directory))
    deletions.run_due()
    return True


def unused_ids() -> list[str]:
    with get_sessionmaker()() as db:
        return list(db.scalars(select(StemSet.id).where(_unused())))


def directories() -> set[str]:
    with get_sessionmaker()() as db:
        return set(db.scalars(select(StemSet.directory)))
