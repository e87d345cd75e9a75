"""Daily upload quota: reserved in one conditional UPDATE so that parallel uploads cannot
both take the last one; given back when an upload is refused later or its job never starts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from isomix.db import rowcount
from isomix.models import UsageDay, as_utc, utcnow


def day_of(moment: datetime) -> str:
    """The UTC day of a moment (PostgreSQL hands back times in the session's time zone)."""
    return as_utc(moment).astimezone(UTC).date().isoformat()


def next_reset(moment: datetime) -> datetime:
    """Midnight UTC after `moment`: when a daily limit starts again."""
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(days=1)


def _ensure_row(session: Session, user_id: str, day: str) -> None:
    if session.get(UsageDay, (user_id, day)) is not None:
        return
    try:
        with session.begin_nested():
            session.add(UsageDay(user_id=user_id, day=day, uploads=0))
    except IntegrityError:
        pass  # another request made it first


def reserve_upload(session: Session, user_id: str, limit: int | None, *, now: datetime) -> bool:
    """Take one of today's uploads; False when none is left. Committed.

    The count and the check are one statement (`uploads < limit` in the UPDATE's WHERE):
    SQLite runs it under its write lock, PostgreSQL re-checks the row after a concurrent
    update, so exactly `limit` reservations succeed however many race.
    """
    day = day_of(now)
    _ensure_row(session, user_id, day)
    statement = update(UsageDay).where(UsageDay.user_id == user_id, UsageDay.day == day)
    if limit is not None:
        statement = statement.where(UsageDay.uploads < limit)
    taken = session.execute(
        statement.values(uploads=UsageDay.uploads + 1).execution_options(synchronize_session=False)
    )
    session.commit()
    return rowcount(taken) == 1


def give_back(session: Session, user_id: str, reserved_at: datetime) -> None:
    """Return a reservation made at `reserved_at` (to its own day). Committed."""
    session.execute(
        update(UsageDay)
        .where(
            UsageDay.user_id == user_id,
            UsageDay.day == day_of(reserved_at),
            UsageDay.uploads > 0,
        )
        .values(uploads=UsageDay.uploads - 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def uploads_today(session: Session, user_id: str, *, now: datetime | None = None) -> int:
    day = day_of(now or utcnow())
    return (
        session.scalar(
            select(UsageDay.uploads).where(UsageDay.user_id == user_id, UsageDay.day == day)
        )
        or 0
    )
