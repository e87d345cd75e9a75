"""The embedded worker's choice of the next job with plans in play (accounts mode): a job its
owner may not start yet stays queued, and the worker runs the next one instead of spinning."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jobs_helpers import TEST_MODEL, add_project, get_project
from sqlalchemy import update

from isomix.config import get_settings
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs import embedded
from isomix.migrate import ensure_schema
from isomix.models import JobStatus, Project, User, new_id, utcnow


class InstantEngine:
    name = TEST_MODEL
    sources = ("drums", "bass", "other", "vocals")
    sample_rate = 44100

    def separate(
        self, mix: Any, options: Any, progress: Any = None, on_part: Any = None
    ) -> dict[str, Any]:
        return {name: mix * np.float32(0.25) for name in self.sources}


@pytest.fixture(autouse=True)
def accounts_database(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ISOMIX_AUTH_MODE", "accounts")
    get_settings.cache_clear()
    reset_engines()
    ensure_schema()
    import isomix.separation.engine

    monkeypatch.setattr(isomix.separation.engine, "get_engine", lambda *_, **__: InstantEngine())
    yield
    reset_engines()
    get_settings.cache_clear()


def new_owner() -> str:
    owner_id = new_id()
    with get_sessionmaker()() as db, db.begin():
        db.add(User(id=owner_id, email=f"{owner_id}@example.com"))
    return owner_id


def owned_project(owner_id: str, *, priority: int, seed: int) -> str:
    project_id = add_project(seed=seed)
    with get_sessionmaker()() as db, db.begin():
        db.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(owner_id=owner_id, priority=priority, job_slots=1)
        )
    return project_id


def running_elsewhere(project_id: str) -> None:
    """The project is being separated by another (live) worker."""
    with get_sessionmaker()() as db, db.begin():
        db.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(
                status=JobStatus.processing,
                lease_owner="embedded:elsewhere:1:abc",
                lease_expires_at=utcnow() + timedelta(minutes=5),
            )
        )


def test_a_busy_owners_job_waits_and_the_next_owners_job_runs() -> None:
    pro_user, free_user = new_owner(), new_owner()
    running = owned_project(pro_user, priority=10, seed=1)
    running_elsewhere(running)
    # First in line by priority, but its owner's one slot is taken.
    waiting = owned_project(pro_user, priority=10, seed=2)
    other = owned_project(free_user, priority=0, seed=3)

    assert embedded.run_next_job(worker_id="embedded:here:2:def") is True

    assert get_project(other).status == JobStatus.ready
    assert get_project(waiting).status == JobStatus.queued
    assert get_project(running).status == JobStatus.processing


def test_nothing_runnable_returns_false_instead_of_spinning() -> None:
    owner = new_owner()
    running_elsewhere(owned_project(owner, priority=0, seed=1))
    waiting = owned_project(owner, priority=0, seed=2)

    assert embedded.run_next_job(worker_id="embedded:here:2:def") is False
    assert get_project(waiting).status == JobStatus.queued
