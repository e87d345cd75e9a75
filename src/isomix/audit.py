"""The audit trail: who did what, when, from where, to which object. Append-only: rows are
added here and nowhere else, and the database refuses to change them (migration 0003)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from isomix.db import get_sessionmaker
from isomix.models import AuditEvent, User, utcnow

log = logging.getLogger(__name__)

Action = Literal[
    "signup",
    "login",
    "login_failed",
    "logout",
    "refresh_reused",
    "password_changed",
    "token_created",
    "token_revoked",
    "upload",
    "delete",
    "export",
    "plan_changed",
    "user_created",
    "user_disabled",
    "admin",
]
ACTIONS: Final = Action.__args__  # type: ignore[attr-defined]


def record(
    action: Action,
    *,
    user: User | None = None,
    user_id: str | None = None,
    email: str | None = None,
    ip: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    detail: dict[str, Any] | None = None,
    session: Session | None = None,
) -> None:
    """Append one event, in `session` (committed with it) or in a session of its own.

    Never a password, token or signature in `detail`: the trail is read by admins.
    """
    event = AuditEvent(
        at=utcnow(),
        user_id=user.id if user is not None else user_id,
        email=user.email if user is not None else email,
        action=action,
        ip=ip,
        object_type=object_type,
        object_id=object_id,
        detail=detail or {},
    )
    if session is not None:
        session.add(event)
        return
    with get_sessionmaker()() as own:
        own.add(event)
        own.commit()


def events(
    session: Session,
    *,
    user_id: str | None = None,
    since: datetime | None = None,
    action: str | None = None,
    limit: int = 1000,
) -> Sequence[AuditEvent]:
    """Oldest first, at most `limit` (the newest of them)."""
    query = select(AuditEvent)
    if user_id is not None:
        # What the user did, and what was done to them (an admin's change, the CLI's).
        query = query.where(
            or_(
                AuditEvent.user_id == user_id,
                and_(AuditEvent.object_type == "user", AuditEvent.object_id == user_id),
            )
        )
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    newest = session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)).all()
    return list(reversed(newest))
