"""Request dependencies: a database session per request, settings, 404-raising lookups, and
the check that a worker can take new work (`WorkerAvailable`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from isomix.api.auth import CurrentUser, Principal, principal_for, signed_link
from isomix.api.errors import ApiError, not_found
from isomix.config import Settings, get_settings
from isomix.db import get_sessionmaker
from isomix.models import Export, Mix, Project, User

T = TypeVar("T")


# A request's sync dependencies and route each run in a thread of a shared pool (40), and the
# request waits for a free thread between them. A request that held a database connection
# while waiting could wait forever once every thread is taken by requests waiting for a
# connection (the pool holds fewer): hundreds of event streams opened at once hung the API.
# So no connection is held across that wait: the loading dependencies below end their
# transaction (`_released`), and the session is closed on the event loop, not in a thread.
async def get_session() -> AsyncIterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


def _released(session: Session, loaded: T) -> T:
    """`loaded`, with the session's connection given back (objects stay usable: the
    sessions do not expire them on commit)."""
    session.commit()
    return loaded


async def _settings() -> Settings:
    # A coroutine: FastAPI runs a plain function dependency in a worker thread.
    return get_settings()


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]


# Ownership is checked here and nowhere else: another user's object is a 404, exactly like
# a missing one (tests/api/test_ownership.py walks every id route with two users).
def _owned_project(session: Session, project_id: str, owner_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None or project.owner_id != owner_id:
        raise not_found("Project")
    return project


def _owned_export(session: Session, export_id: str, owner_id: str) -> Export:
    export = session.get(Export, export_id)
    if export is None or export.project.owner_id != owner_id:
        raise not_found("Export")
    return export


def get_project(project_id: str, session: SessionDep, principal: CurrentUser) -> Project:
    return _released(session, _owned_project(session, project_id, principal.user_id))


def get_export(export_id: str, session: SessionDep, principal: CurrentUser) -> Export:
    return _released(session, _owned_export(session, export_id, principal.user_id))


ProjectDep = Annotated[Project, Depends(get_project)]
ExportDep = Annotated[Export, Depends(get_export)]


def get_mix(mix_id: str, project: ProjectDep, session: SessionDep) -> Mix:
    """A named mix of a project the caller owns (another project's mix: 404)."""
    mix = session.get(Mix, mix_id)
    if mix is None or mix.project_id != project.id:
        raise not_found("Mix")
    return _released(session, mix)


MixDep = Annotated[Mix, Depends(get_mix)]


@dataclass(frozen=True)
class Linked:
    """An object reached by a download or event link: by a valid signature (no principal:
    the server handed the link to the owner) or by the owner's own credentials."""

    object: Any
    principal: Principal | None


def _signer_enabled(session: Session, owner_id: str) -> None:
    owner = session.get(User, owner_id)
    if owner is None or owner.disabled_at is not None:
        raise not_found("Project")


def get_linked_project(project_id: str, request: Request, session: SessionDep) -> Linked:
    if signed_link(request):
        project = session.get(Project, project_id)
        if project is None:
            raise not_found("Project")
        _signer_enabled(session, project.owner_id)
        return _released(session, Linked(project, None))
    principal = principal_for(request)
    owned = _owned_project(session, project_id, principal.user_id)
    return _released(session, Linked(owned, principal))


def get_linked_export(export_id: str, request: Request, session: SessionDep) -> Linked:
    if signed_link(request):
        export = session.get(Export, export_id)
        if export is None:
            raise not_found("Export")
        _signer_enabled(session, export.project.owner_id)
        return _released(session, Linked(export, None))
    principal = principal_for(request)
    owned = _owned_export(session, export_id, principal.user_id)
    return _released(session, Linked(owned, principal))


LinkedProject = Annotated[Linked, Depends(get_linked_project)]
LinkedExport = Annotated[Linked, Depends(get_linked_export)]


def require_worker(request: Request, settings: SettingsDep) -> None:
    """Refuse new work (503 with Retry-After) while the embedded worker cannot run it: dead
    and waiting for its restart, or dying again and again. Queued, it would wait for nobody.

    `isomix serve` hands its worker to the app (`app.state.embedded_worker`); an app without
    one (tests, other servers) and Celery mode (ISOMIX_REDIS_URL, workers of their own) are
    not checked.
    """
    if settings.redis_url is not None:
        return
    worker = getattr(request.app.state, "embedded_worker", None)
    if worker is None:
        return
    state = worker.availability()
    if state.available:
        return
    raise ApiError(
        503,
        "worker_unavailable",
        f"No worker can take new jobs right now: {state.reason}. Nothing was stored; "
        f"try again in {state.retry_after} s.",
        headers={"Retry-After": str(state.retry_after)},
    )


# For routes that queue work: `dependencies=[WorkerAvailable]`, checked before the body is read.
WorkerAvailable = Depends(require_worker)
