"""Deleting files from the store without ever forgetting one.

The rows that point at files are deleted in a transaction that also records the files'
keys in `blob_deletions`; after the commit the store is asked to delete them, and each key
whose deletion the store confirmed goes from the table. A deletion that failed (the store
unreachable, a refused request) stays, with its error, and the collector tries it again
later, backing off, until it succeeds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from isomix.db import session_scope
from isomix.models import BlobDeletion, utcnow
from isomix.objects import get_store

log = logging.getLogger(__name__)

FIRST_RETRY: Final = timedelta(seconds=30)
LONGEST_RETRY: Final = timedelta(hours=1)
BATCH: Final = 200


def schedule(db: Session, *keys: str) -> None:
    """Record `keys` for deletion, in the caller's transaction (the one deleting the rows)."""
    for key in keys:
        db.add(BlobDeletion(key=key))


def run_due(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete what is due; (deleted, still failing)."""
    moment = now or utcnow()
    with session_scope() as db:
        due = db.execute(
            select(BlobDeletion.id, BlobDeletion.key, BlobDeletion.attempts)
            .where(BlobDeletion.next_attempt_at <= moment)
            .order_by(BlobDeletion.id)
            .limit(BATCH)
        ).all()
    store = get_store()
    deleted = failed = 0
    for row_id, key, attempts in due:
        try:
            store.delete(key)
        except Exception as error:
            failed += 1
            wait = min(FIRST_RETRY * (2**attempts), LONGEST_RETRY)
            log.warning("deleting %s failed (attempt %d): %s", key, attempts + 1, error)
            with session_scope() as db:
                db.execute(
                    update(BlobDeletion)
                    .where(BlobDeletion.id == row_id)
                    .values(
                        attempts=attempts + 1,
                        next_attempt_at=moment + wait,
                        last_error=str(error)[:500],
                    )
                )
            continue
        deleted += 1
        with session_scope() as db:
            db.execute(delete(BlobDeletion).where(BlobDeletion.id == row_id))
    return deleted, failed


def pending_count() -> int:
    with session_scope() as db:
        return len(db.execute(select(BlobDeletion.id)).all())
