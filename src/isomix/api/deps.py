"""Request dependencies: a database session per request, settings, 404-raising lookups, and
the check that a worker can take new work (`WorkerAvailable`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from isomix.api.errors import ApiError, not_found
from isomix.config import Settings, get_settings
from isomix.db import get_sessionmaker
from isomix.models import Export, Project


def get_session() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


# Ownership checks come with accounts; until then an unknown id is the only 404.
def get_project(project_id: str, session: SessionDep) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise not_found("Project")
    return project


def get_export(export_id: str, session: SessionDep) -> Export:
    export = session.get(Export, export_id)
    if export is None:
        raise not_found("Export")
    return export


ProjectDep = Annotated[Project, Depends(get_project)]
ExportDep = Annotated[Export, Depends(get_export)]


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
