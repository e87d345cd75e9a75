"""Audit events of a request: the acting user and the client's address (through
`ISOMIX_TRUSTED_PROXIES`), the one way a route writes to the trail."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from isomix import audit
from isomix.api.auth import Principal
from isomix.api.client_ip import client_ip_of
from isomix.config import get_settings


def record_action(
    request: Request,
    action: audit.Action,
    actor: Principal,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    detail: dict[str, Any] | None = None,
    session: Session | None = None,
) -> None:
    """`audit.record` for what `actor` did in this request (in `session` when given)."""
    audit.record(
        action,
        user_id=actor.user_id,
        email=actor.user.email,
        ip=client_ip_of(request, get_settings()),
        object_type=object_type,
        object_id=object_id,
        detail=detail,
        session=session,
    )
