"""Named mixes: a project's mixer settings saved by its owner under a name, the last one opened
first."""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, Response
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from isomix import schemas
from isomix.api import urls
from isomix.api.deps import MixDep, ProjectDep, SessionDep
from isomix.api.errors import ApiError, error_responses
from isomix.api.present import mix_out
from isomix.models import Mix, Project, utcnow

router = APIRouter(tags=["mixes"])

MAX_SETTINGS_BYTES: Final = 64 * 1024  # a mix's settings as compact JSON
MAX_MIXES_PER_PROJECT: Final = 100


def _settings_value(settings: schemas.MixSettings) -> dict[str, Any]:
    value = settings.model_dump(mode="json")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_SETTINGS_BYTES:
        raise ApiError(
            413,
            "settings_too_large",
            f"A mix's settings are at most {MAX_SETTINGS_BYTES // 1024} KiB as JSON; "
            f"these are {size} bytes.",
        )
    return value


def _name_taken(name: str) -> ApiError:
    return ApiError(409, "name_taken", f"This project already has a mix named {name!r}.")


def _commit_named(session: Session, name: str) -> None:
    # The unique (project, name) index decides a race between two saves of one name.
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise _name_taken(name) from None


def _has_name(session: Session, project: Project, name: str, other_than: str = "") -> bool:
    found = session.scalar(
        select(Mix.id).where(Mix.project_id == project.id, Mix.name == name, Mix.id != other_than)
    )
    return found is not None


@router.get(
    urls.PROJECT_MIXES, response_model=list[schemas.Mix], responses=error_responses(401, 404)
)
def list_mixes(project: ProjectDep, session: SessionDep) -> list[schemas.Mix]:
    """The project's named mixes by name; the one to open is the latest `opened_at`."""
    mixes = session.scalars(select(Mix).where(Mix.project_id == project.id).order_by(Mix.name))
    return [mix_out(mix) for mix in mixes]


@router.post(
    urls.PROJECT_MIXES,
    status_code=201,
    response_model=schemas.Mix,
    responses=error_responses(401, 404, 409, 413, 422),
)
def create_mix(project: ProjectDep, body: schemas.MixCreate, session: SessionDep) -> schemas.Mix:
    """Save the mixer's settings under a new name (409 `name_taken` for a name in use)."""
    settings = _settings_value(body.settings)
    if _has_name(session, project, body.name):
        raise _name_taken(body.name)
    count = session.scalar(select(func.count()).where(Mix.project_id == project.id)) or 0
    if count >= MAX_MIXES_PER_PROJECT:
        raise ApiError(
            409,
            "too_many_mixes",
            f"A project keeps at most {MAX_MIXES_PER_PROJECT} named mixes; delete one first.",
        )
    now = utcnow()
    mix = Mix(
        project_id=project.id,
        owner_id=project.owner_id,
        name=body.name,
        settings=settings,
        created_at=now,
        updated_at=now,
    )
    session.add(mix)
    _commit_named(session, body.name)
    return mix_out(mix)


@router.patch(
    urls.MIX, response_model=schemas.Mix, responses=error_responses(401, 404, 409, 413, 422)
)
def update_mix(
    mix: MixDep, project: ProjectDep, body: schemas.MixUpdate, session: SessionDep
) -> schemas.Mix:
    """Rename a mix, replace its settings, or both."""
    if body.settings is not None:
        mix.settings = _settings_value(body.settings)
    if body.name is not None and body.name != mix.name:
        if _has_name(session, project, body.name, other_than=mix.id):
            raise _name_taken(body.name)
        mix.name = body.name
    mix.updated_at = utcnow()
    session.add(mix)
    _commit_named(session, mix.name)
    return mix_out(mix)


@router.post(urls.MIX_OPEN, response_model=schemas.Mix, responses=error_responses(401, 404))
def open_mix(mix: MixDep, session: SessionDep) -> schemas.Mix:
    """Mark the mix as the one opened last: the mixer opens it next time."""
    # Opening is not a change: updated_at stays (the column's onupdate would move it).
    session.execute(
        update(Mix).where(Mix.id == mix.id).values(opened_at=utcnow(), updated_at=Mix.updated_at)
    )
    session.commit()
    session.refresh(mix)
    return mix_out(mix)


@router.delete(urls.MIX, status_code=204, responses=error_responses(401, 404))
def delete_mix(mix: MixDep, session: SessionDep) -> Response:
    session.delete(mix)
    session.commit()
    return Response(status_code=204)
