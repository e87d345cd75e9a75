"""Rows and files for job tests: a migrated SQLite database and real uploads on disk."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, update

from isomix.audio.io import encode
from isomix.config import get_settings
from isomix.db import get_sessionmaker
from isomix.models import Export, JobStatus, Project, StemSet, new_id, utcnow

TEST_MODEL = "demucs_unittest"


def song(seconds: float = 2.0, seed: int = 0) -> np.ndarray[Any, np.dtype[np.float32]]:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * 44100)) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    return np.stack([tone, np.roll(tone, 50)]).astype(np.float32) + (
        0.05 * rng.standard_normal((2, t.size)).astype(np.float32)
    )


def add_project(
    *,
    seconds: float = 2.0,
    seed: int = 0,
    filename: str = "song.wav",
    two_stems: str | None = None,
    raw: bytes | None = None,
    model: str = TEST_MODEL,
) -> str:
    """A queued project with its upload at projects/<id>/original.wav."""
    project = Project(
        id=new_id(),
        filename=filename,
        source_path="",
        content_sha256="",
        size_bytes=0,
        container="wav",
        model=model,
        two_stems=two_stems,
        shifts=1,
    )
    directory = get_settings().data_dir / "projects" / project.id
    directory.mkdir(parents=True)
    path = directory / "original.wav"
    if raw is None:
        encode(path, song(seconds, seed), 44100, format="wav", clip="none")
    else:
        path.write_bytes(raw)
    data = path.read_bytes()
    project.source_path = f"projects/{project.id}/original.wav"
    project.content_sha256 = hashlib.sha256(data).hexdigest()
    project.size_bytes = len(data)
    with get_sessionmaker()() as db, db.begin():
        db.add(project)
    return project.id


def add_export(project_id: str, mix: dict[str, Any], *, format: str = "wav", **extra: Any) -> str:
    export = Export(project_id=project_id, mix=mix, format=format, **extra)
    with get_sessionmaker()() as db, db.begin():
        db.add(export)
        db.flush()
        return export.id


def get_project(project_id: str) -> Project:
    with get_sessionmaker()() as db:
        project = db.get(Project, project_id)
        assert project is not None
        return project


def get_export(export_id: str) -> Export:
    with get_sessionmaker()() as db:
        export = db.get(Export, export_id)
        assert export is not None
        return export


def stem_sets() -> list[StemSet]:
    with get_sessionmaker()() as db:
        return list(db.scalars(select(StemSet)))


def expire_lease(model: type[Project] | type[Export], job_id: str) -> None:
    with get_sessionmaker()() as db, db.begin():
        db.execute(
            update(model)
            .where(model.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def set_status(model: type[Project] | type[Export], job_id: str, status: JobStatus) -> None:
    with get_sessionmaker()() as db, db.begin():
        db.execute(update(model).where(model.id == job_id).values(status=status))


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []
