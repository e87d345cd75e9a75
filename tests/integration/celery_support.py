"""Helpers of the Celery integration tests: enqueue a real project, read its row, wait."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from conftest import wait_until

from isomix.audio.io import encode
from isomix.db import get_sessionmaker
from isomix.jobs import queue
from isomix.models import JobStatus, Project, new_id

JOB_TIMEOUT = 90.0


def add_project(
    data_dir: Path,
    *,
    seed: int,
    seconds: float | None = None,
    samples: int | None = None,
) -> str:
    """A committed, enqueued project of noise lasting `seconds`, or exactly `samples` long."""
    rng = np.random.default_rng(seed)
    length = samples if seconds is None else round(seconds * 44100)
    assert length is not None, "give seconds or samples"
    audio = (0.1 * rng.standard_normal((2, length))).astype(np.float32)
    project_id = new_id()
    relative = f"projects/{project_id}/original.wav"
    encode(data_dir / relative, audio, 44100, format="wav", clip="none")
    data = (data_dir / relative).read_bytes()
    with get_sessionmaker()() as db, db.begin():
        db.add(
            Project(
                id=project_id,
                filename="song.wav",
                source_path=relative,
                content_sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                container="wav",
                model="demucs_unittest",
                shifts=1,
            )
        )
    queue.enqueue_separation(project_id)  # after the commit, as the API does
    return project_id


def status_of(project_id: str) -> Project:
    with get_sessionmaker()() as db:
        project = db.get(Project, project_id)
        assert project is not None
        return project


def wait_finished(project_ids: list[str], timeout: float = JOB_TIMEOUT) -> None:
    finished = {JobStatus.ready, JobStatus.failed}
    wait_until(
        lambda: all(status_of(pid).status in finished for pid in project_ids),
        timeout,
        f"{len(project_ids)} job(s) to finish",
    )


def stem_dir_names(data_dir: Path) -> list[str]:
    directory = data_dir / "stems"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []
