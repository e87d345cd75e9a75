"""Request dependencies: a database session per request, settings, 404-raising lookups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from isomix.api.errors import not_found
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
