"""Who is asking: the one dependency that turns a request into a `Principal` (a user and the
plan they are on), and the check of signed links.

Single mode (ISOMIX_AUTH_MODE=single): every request is the local owner on the owner plan.
Accounts mode: `Authorization: Bearer` with an access token (JWT, from sign-in) or a personal
API token (`isk_...`); nothing else. The user is read on every request, so a disabled user
or a plan change takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from isomix import plans, signing
from isomix.accounts import access, tokens, users
from isomix.api.errors import ApiError
from isomix.config import Settings, get_settings
from isomix.db import get_sessionmaker
from isomix.models import User

Via = Literal["single", "access_token", "api_token"]


@dataclass(frozen=True)
class Principal:
    user: User
    plan: plans.Plan
    plan_until: datetime | None
    plan_source: str | None
    via: Via

    @property
    def user_id(self) -> str:
        return self.user.id


def unauthenticated(detail: str = "Sign in first.") -> ApiError:
    return ApiError(401, "unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def principal_of(request: Request, session: Session, settings: Settings) -> Principal | None:
    """The signed-in user of this request, or None (no or bad credentials)."""
    if not settings.accounts:
        owner = users.ensure_local_owner(session)
        return Principal(owner, plans.owner_plan(settings), None, None, "single")
    token = bearer_token(request)
    if token is None:
        return None
    via: Via
    if tokens.looks_like_api_token(token):
        user = tokens.user_of_api_token(session, token)
        via = "api_token"
    else:
        user_id = access.subject(token, settings) if access.looks_like_jwt(token) else None
        user = session.get(User, user_id) if user_id is not None else None
        via = "access_token"
    if user is None or user.disabled_at is not None:
        return None
    state = users.plan_of(session, user, settings)
    return Principal(user, state.plan, state.until, state.source, via)


def _session() -> Session:
    return get_sessionmaker()()


# Single mode has one principal: read once per settings object (tests swap settings), not on
# every request, where its session and query were a fifth of a status read's CPU time.
_single_mode: tuple[Settings, Principal] | None = None


def _cached_single_mode(settings: Settings) -> Principal | None:
    cached = _single_mode
    if settings.accounts or cached is None or cached[0] is not settings:
        return None
    return cached[1]


def principal_for(request: Request) -> Principal:
    """401 unless signed in (blocking: reads the database). Reads in a short session of its
    own: the request's session (deps.get_session) is for the route."""
    global _single_mode
    settings = get_settings()
    cached = _cached_single_mode(settings)
    if cached is not None:
        return cached
    with _session() as session:
        principal = principal_of(request, session, settings)
        if principal is None:
            raise unauthenticated(
                "Sign in first."
                if bearer_token(request) is None
                else "The sign-in has expired or was revoked; sign in again."
            )
        session.expunge(principal.user)
    if not settings.accounts:
        _single_mode = (settings, principal)
    return principal


async def current_principal(request: Request) -> Principal:
    """The `CurrentUser` dependency: `principal_for` in a worker thread, or on the event loop
    straight from the cache in single mode (no thread, no database)."""
    cached = _cached_single_mode(get_settings())
    if cached is not None:
        return cached
    return await run_in_threadpool(principal_for, request)


CurrentUser = Annotated[Principal, Depends(current_principal)]


def admin_principal(principal: CurrentUser) -> Principal:
    if not principal.user.is_admin:
        raise ApiError(403, "forbidden", "Only an admin can do this.")
    return principal


AdminUser = Annotated[Principal, Depends(admin_principal)]


def signed_link(request: Request) -> bool:
    """Whether the request came by a signed link; False when it carries no signature.
    A signature that is wrong, for another object, or expired is a 403."""
    query = dict(request.query_params)
    if not signing.is_signed(query):
        return False
    if not signing.verify(request.url.path, query, get_settings()):
        raise ApiError(
            403,
            "link_expired",
            "This link has expired or does not belong to this file; reload the page for a "
            "fresh one.",
        )
    return True
