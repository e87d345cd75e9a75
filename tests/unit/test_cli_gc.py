"""`isomix gc [--dry-run]`: what a real run frees is what the dry run said, and nothing under
a live lease is touched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jobs_helpers import add_export, add_project, expire_lease, get_export, get_project
from sqlalchemy import select, update

from isomix import storage
from isomix.cli import main
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs import cleanup
from isomix.jobs.lease import Claim, claim
from isomix.migrate import ensure_schema
from isomix.models import Export, JobStatus, Project, StemSet, new_id, utcnow


@pytest.fixture(autouse=True)
def database(data_dir: Path) -> Iterator[None]:
    reset_engines()
    ensure_schema()
    yield
    reset_engines()


def gc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["gc", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, size: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return size


def stem_set(data_dir: Path, *, refcount: int, size: int) -> str:
    stem_set_id = new_id()
    directory = storage.stem_set_dir(stem_set_id)
    write(data_dir / directory / "drums.flac", size)
    with get_sessionmaker()() as db, db.begin():
        db.add(
            StemSet(
                id=stem_set_id,
                cache_key=f"key-{stem_set_id}",
                directory=directory,
                stem_names={"names": ["drums"]},
                duration_seconds=1.0,
                refcount=refcount,
            )
        )
    return stem_set_id


def project(
    size: int, *, stem_set_id: str | None = None, expired: bool = False, **values: Any
) -> str:
    """A ready project with an upload of `size` bytes, past its expiry if `expired`."""
    project_id = add_project(raw=os.urandom(size))
    values = {"status": JobStatus.ready, "stem_set_id": stem_set_id, **values}
    if expired:
        values["expires_at"] = utcnow() - timedelta(minutes=1)
    with get_sessionmaker()() as db, db.begin():
        db.execute(update(Project).where(Project.id == project_id).values(**values))
    return project_id


def export(data_dir: Path, project_id: str, size: int, *, days_old: float = 0) -> str:
    export_id = add_export(
        project_id,
        {"stems": {}},
        format="wav",
        status=JobStatus.ready,
        created_at=utcnow() - timedelta(days=days_old),
    )
    path = storage.export_file(export_id, "wav")
    write(data_dir / path, size)
    with get_sessionmaker()() as db, db.begin():
        db.execute(update(Export).where(Export.id == export_id).values(path=path))
    return export_id


def snapshot(data_dir: Path) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, int]]:
    """Every row of the job tables and every file and folder under the data folders."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with get_sessionmaker()() as db:
        for model in (Project, Export, StemSet):
            columns = list(model.__table__.columns)
            rows[model.__tablename__] = sorted(
                tuple(row) for row in db.execute(select(*columns)).all()
            )
    files: dict[str, int] = {}
    for top in (storage.PROJECTS, storage.STEMS, storage.EXPORTS):
        for folder, dirs, names in os.walk(data_dir / top):
            for name in dirs:
                files[os.path.relpath(os.path.join(folder, name), data_dir) + "/"] = 0
            for name in names:
                path = os.path.join(folder, name)
                files[os.path.relpath(path, data_dir)] = os.path.getsize(path)
    return rows, files


@dataclass
class Scene:
    expiring: list[str]  # projects past their expiry
    kept_project: str
    old_export: str
    export_of_expiring: str
    kept_export: str
    collected_stem_sets: list[str]
    kept_stem_set: str
    leftovers: list[Path]
    kept_paths: list[Path]
    interrupted: str  # processing, its worker gone
    freed: int  # bytes all of the above hold


def build_scene(data_dir: Path) -> Scene:
    freed = 0
    only_a = stem_set(data_dir, refcount=1, size=3_000)  # goes when `a` expires
    shared = stem_set(data_dir, refcount=2, size=4_000)  # `b` keeps it
    unused = stem_set(data_dir, refcount=0, size=5_000)  # nobody at all
    freed += 3_000 + 5_000
    a = project(1_100, stem_set_id=only_a, expired=True)
    b = project(1_200, stem_set_id=shared)
    c = project(1_300, stem_set_id=shared, expired=True)
    freed += 1_100 + 1_300
    old_export = export(data_dir, b, 700, days_old=8)  # past ISOMIX_RETENTION_HOURS (7 days)
    export_of_expiring = export(data_dir, a, 600)
    kept_export = export(data_dir, b, 500)
    freed += 700 + 600

    trash = data_dir / "stems" / ".trash-old"
    freed += write(trash / "vocals.flac", 90)
    stray = data_dir / "exports" / f"{new_id()}.mp3"  # no row
    freed += write(stray, 80)
    dead_scratch = data_dir / "stems" / storage.temp_name(new_id())  # its job is gone
    freed += write(dead_scratch / "bass.flac", 70)
    young_orphan = data_dir / "stems" / new_id()  # maybe a commit is about to happen
    write(young_orphan / "peaks.json", 60)

    interrupted = project(900, status=JobStatus.processing, attempts=1)
    expire_lease(Project, interrupted)
    return Scene(
        expiring=[a, c],
        kept_project=b,
        old_export=old_export,
        export_of_expiring=export_of_expiring,
        kept_export=kept_export,
        collected_stem_sets=[only_a, unused],
        kept_stem_set=shared,
        leftovers=[trash, stray, dead_scratch],
        kept_paths=[young_orphan],
        interrupted=interrupted,
        freed=freed,
    )


COUNTS = "2 project(s), {}2 export(s) and 2 stem set(s), {}3 leftover file(s)/folder(s)"


def test_dry_run_changes_nothing_and_a_real_run_frees_what_it_listed(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = build_scene(data_dir)
    before = snapshot(data_dir)

    code, out, err = gc(capsys, "--dry-run")

    assert code == 0, err
    assert snapshot(data_dir) == before
    freed = storage.format_bytes(scene.freed)
    assert COUNTS.format("delete ", "remove ") in out
    assert f"would expire {COUNTS.format('delete ', 'remove ')}, freeing {freed}" in out
    assert "would re-queue 1 interrupted job(s)" in out
    assert out.splitlines()[-1].startswith("dry run, nothing changed: ")
    listed = [
        *scene.expiring,
        scene.old_export,
        scene.export_of_expiring,
        *scene.collected_stem_sets,
        "stems/.trash-old",
        f"exports/{scene.leftovers[1].name}",
        f"stems/{scene.leftovers[2].name}",
        f"would re-queue project {scene.interrupted}",
    ]
    for name in listed:
        assert name in out
    for kept in (scene.kept_project, scene.kept_export, scene.kept_stem_set):
        assert kept not in out
    assert "song.wav" in out  # a project is listed with its file name

    code, out, err = gc(capsys)

    assert code == 0, err
    assert f"expired {COUNTS.format('deleted ', 'removed ')}, freed {freed}" in out
    assert "re-queued 1 interrupted job(s)" in out
    for project_id in scene.expiring:
        assert get_project(project_id).status == JobStatus.expired
        assert not (data_dir / "projects" / project_id).exists()
    assert get_project(scene.kept_project).status == JobStatus.ready
    assert get_project(scene.interrupted).status == JobStatus.queued
    with get_sessionmaker()() as db:
        assert db.get(Export, scene.old_export) is None
        assert db.get(Export, scene.export_of_expiring) is None
        assert db.get(Export, scene.kept_export) is not None
        remaining = set(db.scalars(select(StemSet.id)))
    assert remaining == {scene.kept_stem_set}
    assert not any(path.exists() for path in scene.leftovers)
    assert all(path.exists() for path in scene.kept_paths)

    # Nothing left to do: the dry run and the run agree on that too.
    assert "would expire 0 project(s)" in gc(capsys, "--dry-run")[1]
    assert "freed 0 B" in gc(capsys)[1]


def test_the_plan_counts_exactly_what_the_run_frees(data_dir: Path) -> None:
    scene = build_scene(data_dir)

    plan = cleanup.plan_cleanup()
    report = cleanup.run_cleanup()

    assert sorted(item.id for item in plan.expired_projects) == sorted(scene.expiring)
    assert (len(plan.expired_projects), report.expired_projects) == (2, 2)
    assert (len(plan.deleted_exports), report.deleted_exports) == (2, 2)
    assert (len(plan.deleted_stem_sets), report.deleted_stem_sets) == (2, 2)
    assert (len(plan.removed_paths), report.removed_paths) == (3, 3)
    assert plan.requeued == report.reconcile.requeued == [("projects", scene.interrupted)]
    assert plan.freed_bytes == report.freed_bytes == scene.freed


def test_gc_never_touches_a_job_under_a_live_lease(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A separation still running past its project's expiry.
    running = add_project(raw=os.urandom(1_000))
    with get_sessionmaker()() as db, db.begin():
        db.execute(
            update(Project)
            .where(Project.id == running)
            .values(expires_at=utcnow() - timedelta(hours=1))
        )
    assert claim(Project, running, worker_id="w1") is Claim.claimed
    scratch = data_dir / "stems" / storage.temp_name(running)
    write(scratch / "drums.flac", 100)
    # Exports still rendering: one past the retention, one of a project that expires now.
    owner = project(1_000)
    old_render = export(data_dir, owner, 200, days_old=8)
    expiring = project(1_000, expired=True)
    orphaned_render = export(data_dir, expiring, 300)
    for export_id in (old_render, orphaned_render):
        with get_sessionmaker()() as db, db.begin():
            db.execute(update(Export).where(Export.id == export_id).values(status=JobStatus.queued))
        assert claim(Export, export_id, worker_id="w2") is Claim.claimed
    export_scratch = data_dir / "exports" / storage.temp_name(old_render, ".wav")
    write(export_scratch, 50)

    code, out, err = gc(capsys, "--dry-run")
    assert code == 0, err
    for job_id in (running, old_render, orphaned_render):
        assert job_id not in out
    assert "would expire 1 project(s), delete 0 export(s)" in out  # `expiring` alone

    code, out, err = gc(capsys)

    assert code == 0, err
    assert "expired 1 project(s), deleted 0 export(s)" in out
    project_row = get_project(running)
    assert (project_row.status, project_row.lease_owner) == (JobStatus.processing, "w1")
    assert (data_dir / "projects" / running).is_dir()
    assert scratch.is_dir() and export_scratch.is_file()
    for export_id in (old_render, orphaned_render):
        assert get_export(export_id).status == JobStatus.processing
        assert (data_dir / storage.export_file(export_id, "wav")).is_file()

    # Once their workers are gone (leases run out), the same jobs are collected.
    for model, job_id in ((Project, running), (Export, old_render), (Export, orphaned_render)):
        expire_lease(model, job_id)
    code, out, err = gc(capsys)
    assert code == 0, err
    assert "expired 1 project(s), deleted 2 export(s)" in out
    assert get_project(running).status == JobStatus.expired
    assert not scratch.exists() and not export_scratch.exists()
    with get_sessionmaker()() as db:
        assert db.get(Export, old_render) is None
        assert db.get(Export, orphaned_render) is None
