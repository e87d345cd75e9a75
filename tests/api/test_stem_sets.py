"""Shared stem sets: every claim and release goes through isomix.stemsets, and one guard
(nothing counts it, no project points at it) protects a stem set from every deleter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import update

from isomix import stemsets, storage
from isomix.audio.io import encode
from isomix.db import get_sessionmaker
from isomix.models import JobStatus, Project, StemSet, new_id

from .support import http_scope

NAMES = ("vocals", "no_vocals")


def write_stem_set(stem_set_id: str) -> str:
    """A complete stem set folder, as a job leaves it."""
    directory = storage.stem_set_dir(stem_set_id)
    audio = np.zeros((2, 4410), np.float32)
    for name in NAMES:
        encode(storage.resolve(storage.stem_file(directory, name, "master")), audio, 44100,
               format="flac", clip="none")  # fmt: skip
        encode(storage.resolve(storage.stem_file(directory, name, "preview")), audio, 44100,
               format="mp3", clip="none")  # fmt: skip
    storage.write_json(
        storage.resolve(storage.peaks_file(directory)),
        {"duration_seconds": 0.1, "buckets": 1, "stems": {name: [0.0] for name in NAMES}},
    )
    return directory


def add_stem_set(*, refcount: int, key: str = "sha:model::1") -> StemSet:
    stem_set_id = new_id()
    stem_set = StemSet(
        id=stem_set_id,
        cache_key=key,
        directory=write_stem_set(stem_set_id),
        stem_names={"names": list(NAMES)},
        duration_seconds=0.1,
        refcount=refcount,
    )
    with get_sessionmaker()() as db, db.begin():
        db.add(stem_set)
    return stem_set


def add_ready_project(stem_set_id: str) -> str:
    project = Project(
        filename="song.wav",
        source_path="projects/x/original.wav",
        content_sha256="sha",
        size_bytes=1,
        container="wav",
        duration_seconds=0.1,
        model="demucs_unittest",
        status=JobStatus.ready,
        progress=100.0,
        stem_set_id=stem_set_id,
    )
    with get_sessionmaker()() as db, db.begin():
        db.add(project)
    return project.id


def refcount_of(stem_set_id: str) -> int | None:
    with get_sessionmaker()() as db:
        stem_set = db.get(StemSet, stem_set_id)
        return None if stem_set is None else stem_set.refcount


def test_deleting_a_project_keeps_stems_another_project_uses(
    client: TestClient, data_dir: Path
) -> None:
    # A count that went wrong (say, a crash mid-way in an older version) must not let one
    # project's deletion take the stems of another: the "no project points at it" guard holds.
    stem_set = add_stem_set(refcount=1)
    first = add_ready_project(stem_set.id)
    second = add_ready_project(stem_set.id)
    assert client.delete(f"/api/projects/{first}").status_code == 204
    assert refcount_of(stem_set.id) == 0
    assert (data_dir / stem_set.directory).is_dir()
    body = client.get(f"/api/projects/{second}").json()
    assert [stem["name"] for stem in body["stems"]] == list(NAMES)
    assert client.get(body["stems"][0]["url"]).status_code == 200

    assert client.delete(f"/api/projects/{second}").status_code == 204
    assert refcount_of(stem_set.id) is None
    assert not (data_dir / stem_set.directory).exists()


def test_collect_only_takes_an_unused_stem_set(data_dir: Path, client: TestClient) -> None:
    stem_set = add_stem_set(refcount=0)
    project_id = add_ready_project(stem_set.id)
    assert stemsets.collect(stem_set.id) is False  # a project points at it
    assert stemsets.unused_ids() == []
    with get_sessionmaker()() as db, db.begin():
        db.execute(update(Project).where(Project.id == project_id).values(stem_set_id=None))
    assert stemsets.unused_ids() == [stem_set.id]
    assert stemsets.collect(stem_set.id) is True
    assert not (data_dir / stem_set.directory).exists()
    assert stemsets.collect(stem_set.id) is False  # already gone: nothing to do


def test_an_incomplete_stem_set_is_never_reused(
    data_dir: Path, client: TestClient, song: bytes
) -> None:
    stem_set = add_stem_set(refcount=1)
    storage.resolve(storage.stem_file(stem_set.directory, NAMES[0], "preview")).unlink()
    with get_sessionmaker()() as db, db.begin():
        assert stemsets.claim_existing(db, stem_set.cache_key) is None
    assert refcount_of(stem_set.id) == 1
    with get_sessionmaker()() as db, db.begin():
        storage.resolve(storage.stem_file(stem_set.directory, NAMES[0], "preview")).touch()
        claimed = stemsets.claim_existing(db, stem_set.cache_key)
        assert claimed is not None and claimed.id == stem_set.id
    assert refcount_of(stem_set.id) == 2


def test_a_delete_racing_the_worker_releases_the_stem_set_the_worker_gave(
    client: TestClient, data_dir: Path
) -> None:
    # The route loaded the project while it was processing (no stem set); the worker then
    # committed its stem set; the delete must release that one, not the stale "none".
    from isomix.api.auth import principal_of
    from isomix.api.routes.projects import delete_project
    from isomix.config import get_settings

    stem_set = add_stem_set(refcount=1)  # counted by the worker's claim below
    project_id = add_ready_project(stem_set.id)
    with get_sessionmaker()() as db, db.begin():
        db.execute(update(Project).where(Project.id == project_id).values(stem_set_id=None))
    with get_sessionmaker()() as session:
        stale = session.get(Project, project_id)
        assert stale is not None and stale.stem_set_id is None
        with get_sessionmaker()() as worker, worker.begin():  # the worker's commit
            worker.execute(
                update(Project).where(Project.id == project_id).values(stem_set_id=stem_set.id)
            )
        settings = get_settings()
        request = Request(http_scope("DELETE", f"/api/projects/{project_id}", []))
        owner = principal_of(request, session, settings)
        assert owner is not None
        assert delete_project(stale, session, request, settings, owner).status_code == 204
    assert refcount_of(stem_set.id) is None  # released and collected
    assert not (data_dir / stem_set.directory).exists()
