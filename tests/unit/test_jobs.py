"""Jobs on SQLite: leases, retries, crash consistency, dedup, cleanup and exports."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from jobs_helpers import (
    TEST_MODEL,
    add_export,
    add_project,
    expire_lease,
    get_export,
    get_project,
    listing,
    set_status,
    stem_sets,
)
from sqlalchemy import func, select, update

from isomix import schemas, stemsets, storage
from isomix.audio.io import decode, encode
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs import cleanup, embedded, lease, outputs, previews, tasks
from isomix.jobs.lease import Claim, claim
from isomix.migrate import ensure_schema
from isomix.models import Export, JobStatus, Project, SeparationStat, StemSet, utcnow
from isomix.objects import get_store
from isomix.objects.layout import read_stem_layout
from isomix.separation.engine import get_engine


class Crash(BaseException):
    """Stands for the process dying: no handler in the job runs (they catch Exception)."""


@pytest.fixture(autouse=True)
def database(data_dir: Path) -> Iterator[None]:
    reset_engines()
    ensure_schema()
    yield
    reset_engines()


class ProportionalEngine:
    """Deterministic, instant stand-in for a model: fixed shares of the mixture, so tests
    know the exact stems a job must write. Tests that take `real_model` run demucs_unittest."""

    name = "proportional"
    sources = ("drums", "bass", "other", "vocals")
    shares = (0.1, 0.2, 0.3, 0.4)
    sample_rate = 44100

    def separate(
        self, mix: Any, options: Any, progress: Any = None, on_part: Any = None
    ) -> dict[str, Any]:
        for fraction in (0.0, 0.5, 1.0):
            if progress:
                progress(fraction)
        return {
            name: mix * np.float32(share)
            for name, share in zip(self.sources, self.shares, strict=True)
        }


@pytest.fixture
def real_model() -> None:
    """Run this test with the real (tiny, random) demucs_unittest model."""


@pytest.fixture(autouse=True)
def fast_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "real_model" in request.fixturenames:
        return
    import isomix.separation.engine

    def get(name: str, **_: Any) -> Any:
        if name != TEST_MODEL:
            return get_engine(name)  # the real registry: not installed -> its error
        return ProportionalEngine()

    monkeypatch.setattr(isomix.separation.engine, "get_engine", get)


def stems_dir(data_dir: Path) -> Path:
    return data_dir / "stems"


def separate(project_id: str, worker: str = "w1") -> None:
    tasks.run_separation(project_id, worker_id=worker)


# ---------------------------------------------------------------- leases and attempts


def test_claim_is_a_compare_and_set() -> None:
    project_id = add_project()
    assert claim(Project, project_id, worker_id="w1") is Claim.claimed
    assert claim(Project, project_id, worker_id="w2") is Claim.unavailable
    project = get_project(project_id)
    assert (project.status, project.lease_owner, project.attempts) == ("processing", "w1", 1)


def test_second_copy_of_a_running_job_exits_at_once() -> None:
    project_id = add_project()
    assert claim(Project, project_id, worker_id="w1") is Claim.claimed
    separate(project_id, worker="w2")
    project = get_project(project_id)
    assert (project.status, project.lease_owner, project.attempts) == ("processing", "w1", 1)
    assert stem_sets() == []


def test_expired_lease_is_taken_over() -> None:
    project_id = add_project()
    assert claim(Project, project_id, worker_id="w1") is Claim.claimed
    later = utcnow() + lease.lease_duration() + timedelta(seconds=1)
    assert claim(Project, project_id, worker_id="w2", now=later) is Claim.claimed
    assert get_project(project_id).lease_owner == "w2"
    assert get_project(project_id).attempts == 2


def test_gives_up_after_three_attempts_with_a_reason() -> None:
    project_id = add_project()
    now = utcnow()
    step = lease.lease_duration() + timedelta(seconds=1)
    for attempt in range(3):
        assert claim(Project, project_id, worker_id=f"w{attempt}", now=now + attempt * step) is (
            Claim.claimed
        )
    assert claim(Project, project_id, worker_id="w9", now=now + 3 * step) is Claim.gave_up
    project = get_project(project_id)
    assert project.status == JobStatus.failed
    assert project.error is not None
    assert project.error.startswith("gave up after 3 attempts: ")
    assert "worker stopped" in project.error


def test_crash_three_times_then_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies (Crash) where a claimed separation gets its engine, three times: each
    death costs an attempt, and the fourth delivery gives up without running the job."""
    import isomix.separation.engine

    project_id = add_project()
    engines_asked: list[str] = []

    def crash(name: str, **_: Any) -> Any:
        engines_asked.append(name)
        raise Crash

    monkeypatch.setattr(isomix.separation.engine, "get_engine", crash)
    for attempt in (1, 2, 3):
        with pytest.raises(Crash):
            separate(project_id)
        assert get_project(project_id).attempts == attempt
        expire_lease(Project, project_id)
    separate(project_id)  # the fourth delivery finds the attempts used up
    assert engines_asked == [TEST_MODEL] * 3  # the fourth delivery never got that far
    project = get_project(project_id)
    assert project.status == JobStatus.failed
    assert project.attempts == 3
    assert project.error is not None and project.error.startswith("gave up after 3 attempts")
    assert stem_sets() == []


# ---------------------------------------------------------------- separation


def test_separation_writes_masters_previews_and_peaks(data_dir: Path, real_model: None) -> None:
    project_id = add_project(seconds=2.0)
    separate(project_id)
    project = get_project(project_id)
    assert project.status == JobStatus.ready, project.error
    assert project.progress == 100
    assert project.lease_owner is None
    assert project.expires_at is not None
    assert project.duration_seconds == pytest.approx(2.0, abs=0.01)
    (stem_set,) = stem_sets()
    assert project.stem_set_id == stem_set.id
    assert stem_set.refcount == 1
    sources = list(get_engine(TEST_MODEL).sources)
    assert stem_set.stem_names == {"names": sources}
    directory = data_dir / stem_set.directory
    # Ready with the masters and a quick 16-bit WAV preview of each stem; the MP3s follow
    # when the worker is idle.
    assert listing(directory) == sorted(
        [f"{n}.flac" for n in sources] + [f"{n}.wav" for n in sources] + ["peaks.json"]
    )
    assert stem_set.previews_pending
    peaks = json.loads((directory / "peaks.json").read_text())
    assert peaks["buckets"] == 2000
    assert list(peaks["stems"]) == sources
    assert all(len(values) == 2000 for values in peaks["stems"].values())
    assert peaks["duration_seconds"] == pytest.approx(2.0, abs=0.01)
    master = decode(directory / f"{sources[0]}.flac")
    assert master.shape == (2, round(2.0 * 44100))
    assert listing(stems_dir(data_dir)) == [stem_set.id]  # no temp left behind
    with get_sessionmaker()() as db:
        stat = db.scalars(select(SeparationStat)).one()
    assert stat.model == TEST_MODEL
    assert stat.audio_seconds == pytest.approx(2.0, abs=0.01)
    assert stat.compute_seconds > 0


def test_the_mp3_previews_replace_the_quick_ones(data_dir: Path) -> None:
    project_id = add_project(seconds=1.5)
    separate(project_id)
    (stem_set,) = stem_sets()
    directory = data_dir / stem_set.directory
    names = list(ProportionalEngine.sources)
    assert previews.encode_next() is True
    assert previews.encode_next() is False  # nothing left
    assert listing(directory) == sorted(
        [f"{n}.flac" for n in names] + [f"{n}.mp3" for n in names] + ["peaks.json"]
    )
    (stem_set,) = stem_sets()
    assert not stem_set.previews_pending
    assert get_project(project_id).status == JobStatus.ready


def test_a_deferred_mp3_preview_is_the_mp3_the_stem_would_have_had_directly(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(3)
    stems = {name: (rng.standard_normal((2, 44100)) * 0.3).astype(np.float32) for name in "ab"}
    stems["a"][0, :10] = 1.5  # over full scale: clipped the same way on both paths
    directory = tmp_path / "set"
    outputs.write_stem_set(directory, stems, 44100)
    for name, audio in stems.items():
        deferred = directory / f"{name}.mp3"
        outputs.write_mp3_preview(directory / f"{name}.wav", deferred)
        direct = tmp_path / f"{name}.mp3"
        encode(
            direct,
            audio,
            44100,
            format="mp3",
            bitrate=outputs.PREVIEW_BITRATE,
            mp3_quality=outputs.PREVIEW_MP3_QUALITY,
            clip="none",
        )
        assert deferred.read_bytes() == direct.read_bytes()


def test_previews_give_way_to_a_waiting_job_and_resume_later(data_dir: Path) -> None:
    separate(add_project(seconds=1.0))
    (stem_set,) = stem_sets()
    directory = data_dir / stem_set.directory
    assert previews.encode_next(busy=lambda: True) is True
    assert sorted(p.name for p in directory.glob("*.mp3")) == []
    assert stem_sets()[0].previews_pending
    calls = iter([False, True])  # one stem, then a job arrives
    assert previews.encode_next(busy=lambda: next(calls)) is True
    assert len(list(directory.glob("*.mp3"))) == 1
    assert previews.encode_next() is True
    assert len(list(directory.glob("*.mp3"))) == len(ProportionalEngine.sources)
    assert list(directory.glob("*.wav")) == []


def test_previews_of_a_stem_set_deleted_meanwhile_are_dropped(data_dir: Path) -> None:
    separate(add_project(seconds=1.0))
    (stem_set,) = stem_sets()
    storage.remove_tree(data_dir / stem_set.directory)
    assert previews.encode_next() is True
    assert not stem_sets()[0].previews_pending
    assert not (data_dir / stem_set.directory).exists()  # not recreated by the encoder


def test_masters_are_written_unscaled_and_sum_to_the_mixture(data_dir: Path) -> None:
    project_id = add_project(seconds=1.0)
    separate(project_id)
    (stem_set,) = stem_sets()
    directory = data_dir / stem_set.directory
    mix = decode(data_dir / get_project(project_id).source_path)
    masters = {name: decode(directory / f"{name}.flac") for name in ProportionalEngine.sources}
    # 24-bit and no per-stem rescaling: each master is its share, and they add up.
    assert np.max(np.abs(masters["drums"] - 0.1 * mix)) < 1e-5
    assert np.max(np.abs(sum(masters.values()) - mix)) < 1e-5
    quick = decode(directory / "vocals.wav")
    assert np.max(np.abs(quick - 0.4 * mix)) < 1e-4  # 16-bit
    assert previews.encode_next()
    preview = decode(directory / "vocals.mp3")
    assert abs(preview.shape[1] - mix.shape[1]) < 2048  # the encoder pads a frame at most


def test_two_stems(data_dir: Path) -> None:
    project_id = add_project(two_stems="vocals")
    separate(project_id)
    assert get_project(project_id).status == JobStatus.ready
    (stem_set,) = stem_sets()
    assert stem_set.stem_names == {"names": ["vocals", "no_vocals"]}


def test_unknown_two_stems_fails_with_a_message() -> None:
    project_id = add_project(two_stems="kazoo")
    separate(project_id)
    project = get_project(project_id)
    assert project.status == JobStatus.failed
    assert project.error == f"Model {TEST_MODEL} has no stem named 'kazoo'."


def test_corrupt_upload_fails_with_the_decoder_message() -> None:
    project_id = add_project(raw=b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)
    separate(project_id)
    project = get_project(project_id)
    assert project.status == JobStatus.failed
    assert project.error
    assert "Traceback" not in project.error


def test_missing_model_fails_with_install_hint() -> None:
    project_id = add_project(model="htdemucs")
    separate(project_id)
    project = get_project(project_id)
    assert project.status == JobStatus.failed
    assert project.error is not None and "isomix models" in project.error


def test_unexpected_error_gives_a_short_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("tensor shapes disagree\nlong details")

    monkeypatch.setattr(outputs, "write_stem_set", explode)
    project_id = add_project()
    separate(project_id)
    project = get_project(project_id)
    assert project.status == JobStatus.failed
    assert project.error == "Internal error (RuntimeError: tensor shapes disagree)."


def test_cancel_during_separation_stops_it(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project_id = add_project()
    original = lease.LeaseKeeper.progress
    calls = []

    def cancel_then_report(self: lease.LeaseKeeper, percent: float, **kwargs: Any) -> None:
        calls.append(percent)
        if percent > tasks._DECODED:  # the model is running: the user presses cancel
            set_status(Project, project_id, JobStatus.cancelled)
        original(self, percent, **kwargs)

    monkeypatch.setattr(lease.LeaseKeeper, "progress", cancel_then_report)
    written = []
    monkeypatch.setattr(outputs, "write_stem_set", lambda *a, **k: written.append(1))
    separate(project_id)
    project = get_project(project_id)
    assert project.status == JobStatus.cancelled
    assert project.error is None
    assert written == []  # stopped before writing any stem
    assert stem_sets() == []
    assert listing(stems_dir(data_dir)) == []


def test_shutdown_hands_the_job_back() -> None:
    project_id = add_project()
    tasks.run_separation(project_id, worker_id="w1", should_stop=lambda: True)
    project = get_project(project_id)
    assert (project.status, project.attempts, project.lease_owner) == ("queued", 0, None)


# ---------------------------------------------------------------- crash consistency


def test_rerun_after_crash_with_stems_in_temp(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = add_project()
    real_write = outputs.write_stem_set

    def write_then_die(*args: Any, **kwargs: Any) -> Any:
        real_write(*args, **kwargs)
        raise Crash

    monkeypatch.setattr(outputs, "write_stem_set", write_then_die)
    with pytest.raises(Crash):
        separate(project_id)
    (leftover,) = listing(stems_dir(data_dir))
    assert leftover.startswith(".tmp-")
    assert get_project(project_id).status == JobStatus.processing

    monkeypatch.setattr(outputs, "write_stem_set", real_write)
    expire_lease(Project, project_id)
    separate(project_id, worker="w2")
    assert get_project(project_id).status == JobStatus.ready
    assert get_project(project_id).attempts == 2
    cleanup.run_cleanup()
    (stem_set,) = stem_sets()
    assert listing(stems_dir(data_dir)) == [stem_set.id]
    assert read_stem_layout(get_store(), stem_set.directory) is not None


def test_rerun_after_rename_before_commit_reuses_the_directory(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = add_project()
    real_commit = tasks._commit_separation

    def die(*_: Any, **__: Any) -> Any:
        raise Crash

    monkeypatch.setattr(tasks, "_commit_separation", die)
    with pytest.raises(Crash):
        separate(project_id)
    (renamed,) = listing(stems_dir(data_dir))
    assert not renamed.startswith(".")
    assert stem_sets() == []

    monkeypatch.setattr(tasks, "_commit_separation", real_commit)
    written = []
    monkeypatch.setattr(outputs, "write_stem_set", lambda *a, **k: written.append(1))
    expire_lease(Project, project_id)
    separate(project_id, worker="w2")
    assert written == []  # nothing separated again: the finished folder was reused
    assert get_project(project_id).status == JobStatus.ready
    (stem_set,) = stem_sets()
    assert stem_set.id == renamed
    cleanup.run_cleanup(now=utcnow() + timedelta(hours=2))  # past the orphan grace
    assert listing(stems_dir(data_dir)) == [renamed]


def test_job_that_lost_its_lease_does_not_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    project_id = add_project()
    real_write = outputs.write_stem_set

    def taken_over_meanwhile(*args: Any, **kwargs: Any) -> Any:
        layout = real_write(*args, **kwargs)
        with get_sessionmaker()() as db, db.begin():
            db.execute(update(Project).where(Project.id == project_id).values(lease_owner="w2"))
        return layout

    monkeypatch.setattr(outputs, "write_stem_set", taken_over_meanwhile)
    separate(project_id)
    project = get_project(project_id)
    assert (project.status, project.lease_owner) == ("processing", "w2")
    assert stem_sets() == []


# ---------------------------------------------------------------- dedup


def test_same_content_shares_one_stem_set(monkeypatch: pytest.MonkeyPatch) -> None:
    first = add_project(seed=1)
    second = add_project(seed=1)
    separate(first)
    written = []
    real_write = outputs.write_stem_set
    monkeypatch.setattr(
        outputs, "write_stem_set", lambda *a, **k: written.append(1) or real_write(*a, **k)
    )
    separate(second)
    assert written == []
    (stem_set,) = stem_sets()
    assert stem_set.refcount == 2
    assert get_project(first).stem_set_id == get_project(second).stem_set_id == stem_set.id
    with get_sessionmaker()() as db:
        assert db.scalar(select(func.count()).select_from(SeparationStat)) == 1


def test_race_on_the_same_content_keeps_one_stem_set(data_dir: Path) -> None:
    first = add_project(seed=2)
    second = add_project(seed=2)
    # Both claimed before either finished: both separate, the second commit shares the first.
    assert claim(Project, second, worker_id="w2") is Claim.claimed
    separate(first, worker="w1")
    job = tasks._load_project(second)
    stem_set_id = stemsets.new_stem_set_id(second, job.cache_key)
    (stems_dir(data_dir) / stem_set_id).mkdir()
    layout = storage.StemLayout(names=("drums",), duration_seconds=2.0)
    chosen = tasks._commit_separation(job, "w2", stem_set_id, layout, None)
    (stem_set,) = stem_sets()
    assert chosen.id == stem_set.id == get_project(first).stem_set_id
    assert chosen.directory == stem_set.directory  # the first job's files, not ours
    assert stem_set.refcount == 2


# ---------------------------------------------------------------- cleanup


def make_ready(seed: int = 0) -> str:
    project_id = add_project(seed=seed)
    separate(project_id)
    assert get_project(project_id).status == JobStatus.ready
    return project_id


def expire_now(project_id: str) -> None:
    with get_sessionmaker()() as db, db.begin():
        db.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )


def test_cleanup_expires_projects_and_collects_stem_sets(data_dir: Path) -> None:
    first = make_ready(seed=3)
    second = add_project(seed=3)
    separate(second)
    (stem_set,) = stem_sets()
    assert stem_set.refcount == 2

    expire_now(first)
    report = cleanup.run_cleanup()
    assert report.expired_projects == 1
    assert get_project(first).status == JobStatus.expired
    assert get_project(first).stem_set_id is None
    assert not (data_dir / "projects" / first).exists()
    assert (data_dir / "projects" / second).exists()
    (stem_set,) = stem_sets()
    assert stem_set.refcount == 1
    assert (data_dir / stem_set.directory).is_dir()

    expire_now(second)
    report = cleanup.run_cleanup()
    assert (report.expired_projects, report.deleted_stem_sets) == (1, 1)
    assert stem_sets() == []
    assert listing(stems_dir(data_dir)) == []
    again = cleanup.run_cleanup()  # idempotent
    assert (again.expired_projects, again.deleted_stem_sets, again.removed_paths) == (0, 0, 0)


def test_cleanup_never_touches_a_live_job(data_dir: Path) -> None:
    project_id = add_project()
    assert claim(Project, project_id, worker_id="w1") is Claim.claimed
    expire_now(project_id)
    scratch = stems_dir(data_dir) / storage.temp_name(project_id)
    scratch.mkdir(parents=True)
    report = cleanup.run_cleanup()
    assert report.expired_projects == 0
    assert get_project(project_id).status == JobStatus.processing
    assert scratch.exists()
    assert (data_dir / "projects" / project_id).exists()


def test_cleanup_removes_orphans_after_the_grace(data_dir: Path) -> None:
    stems = stems_dir(data_dir)
    orphan = stems / "2b1d1c44-0000-4000-8000-000000000000"
    orphan.mkdir(parents=True)
    trash = stems / ".trash-something"
    trash.mkdir()
    exports = data_dir / "exports"
    exports.mkdir()
    stray_export = exports / "5d0c8c1a-0000-4000-8000-000000000000.mp3"
    stray_export.write_bytes(b"x")
    upload = data_dir / "projects" / "7e2c0f1b-0000-4000-8000-000000000000"
    upload.mkdir(parents=True)

    cleanup.run_cleanup()
    assert not trash.exists() and not stray_export.exists()
    assert orphan.exists() and upload.exists()  # maybe a commit is about to happen

    cleanup.run_cleanup(now=utcnow() + cleanup.ORPHAN_GRACE + timedelta(minutes=1))
    assert not orphan.exists() and not upload.exists()


def test_cleanup_deletes_old_exports(data_dir: Path) -> None:
    project_id = make_ready()
    export_id = add_export(project_id, {"stems": {}}, format="wav")
    tasks.run_export(export_id, worker_id="w1")
    export = get_export(export_id)
    assert export.path is not None and (data_dir / export.path).exists()
    report = cleanup.run_cleanup(now=utcnow() + timedelta(days=8))
    assert report.deleted_exports == 1
    assert not (data_dir / export.path).exists()
    with get_sessionmaker()() as db:
        assert db.get(Export, export_id) is None


def test_reconciler_requeues_dead_jobs_and_fails_exhausted_ones() -> None:
    alive = add_project()
    dead = add_project()
    exhausted = add_project()
    for project_id in (alive, dead, exhausted):
        assert claim(Project, project_id, worker_id="w1") is Claim.claimed
    with get_sessionmaker()() as db, db.begin():
        db.execute(update(Project).where(Project.id == exhausted).values(attempts=3))
    expire_lease(Project, dead)
    expire_lease(Project, exhausted)
    report = cleanup.reconcile()
    assert report.requeued == [("projects", dead)]
    assert report.failed == 1
    assert get_project(alive).status == JobStatus.processing
    assert get_project(dead).status == JobStatus.queued
    assert get_project(dead).attempts == 1
    assert get_project(exhausted).status == JobStatus.failed


def test_reconciler_resends_stale_queued_jobs_in_celery_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from isomix.config import get_settings
    from isomix.jobs import queue

    fresh = add_project(seed=12)
    lost = add_project(seed=13)
    with get_sessionmaker()() as db, db.begin():
        db.execute(
            update(Project)
            .where(Project.id == lost)
            .values(updated_at=utcnow() - cleanup.STALE_QUEUED - timedelta(seconds=1))
        )
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(queue, "enqueue", lambda table, job_id: sent.append((table, job_id)))
    assert cleanup.reconcile().resent == []  # embedded mode: the rows are the queue
    monkeypatch.setenv("ISOMIX_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    assert cleanup.reconcile().resent == [("projects", lost)]
    assert sent == [("projects", lost)]
    assert cleanup.reconcile().resent == []  # once per STALE_QUEUED, not at every round
    assert fresh not in {job_id for _, job_id in sent}


# ---------------------------------------------------------------- exports


def test_export_of_one_audible_stem_is_that_stem(data_dir: Path) -> None:
    project_id = make_ready()
    (stem_set,) = stem_sets()
    names = stem_set.stem_names["names"]
    keep = names[1]
    mix = {
        "stems": {
            name: {"gain_db": 0, "mute": name != keep, "solo": False, "pan": 0} for name in names
        },
        "master_gain_db": 0,
    }
    export_id = add_export(project_id, mix, format="wav", bit_depth=24)
    tasks.run_export(export_id, worker_id="w1")
    export = get_export(export_id)
    assert export.status == JobStatus.ready, export.error
    assert export.path == f"exports/{export_id}.wav"
    rendered = decode(data_dir / export.path)
    expected = decode(data_dir / stem_set.directory / f"{keep}.flac")
    assert rendered.shape == expected.shape
    assert np.max(np.abs(rendered - expected)) < 1e-4


def test_export_solo_and_master_gain(data_dir: Path) -> None:
    project_id = make_ready()
    (stem_set,) = stem_sets()
    names = stem_set.stem_names["names"]
    solo = names[0]
    mix = {"stems": {solo: {"solo": True}}, "master_gain_db": -6.0}
    export_id = add_export(project_id, mix, format="flac")
    tasks.run_export(export_id, worker_id="w1")
    rendered = decode(data_dir / get_export(export_id).path)  # type: ignore[operator]
    expected = decode(data_dir / stem_set.directory / f"{solo}.flac") * 10 ** (-6 / 20)
    assert np.max(np.abs(rendered - np.clip(expected, -1, 1))) < 1e-4


def test_export_encodes_what_the_api_would_store(data_dir: Path) -> None:
    # One source for the defaults: a row written without bitrate or bit depth is encoded with
    # exactly what the API's schema fills in (192 kbps MP3, 24-bit WAV), not a fallback.
    project_id = make_ready()
    for format, field, expected in (("mp3", "bitrate", 192), ("wav", "bit_depth", 24)):
        stored = schemas.ExportRequest.model_validate({"format": format})
        assert getattr(stored, field) == expected
        export_id = add_export(project_id, {"stems": {}}, format=format)
        tasks.run_export(export_id, worker_id="w1")
        export = get_export(export_id)
        assert export.status == JobStatus.ready, export.error
        with av.open(str(data_dir / str(export.path))) as container:
            stream = container.streams.audio[0]
            if format == "mp3":
                assert stream.codec_context.bit_rate == expected * 1000
            else:
                assert stream.codec_context.format.name == "s32"  # 24-bit PCM is read as s32
                assert stream.codec_context.name == "pcm_s24le"


def test_export_of_a_project_without_stems_fails() -> None:
    project_id = make_ready()
    export_id = add_export(project_id, {"stems": {}}, format="mp3", bitrate=192)
    set_status(Project, project_id, JobStatus.expired)
    tasks.run_export(export_id, worker_id="w1")
    export = get_export(export_id)
    assert export.status == JobStatus.failed
    assert export.error == "The project's stems are no longer available."


# ---------------------------------------------------------------- embedded runner


def test_drain_runs_everything_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    first = add_project(seed=5)
    second = add_project(seed=6)
    order: list[str] = []
    real = embedded.run_job

    def record(model: Any, job_id: str, **kwargs: Any) -> None:
        order.append(job_id)
        real(model, job_id, **kwargs)

    monkeypatch.setattr(embedded, "run_job", record)
    assert embedded.drain() == 2
    export_id = add_export(first, {"stems": {}}, format="mp3", bitrate=128)
    assert embedded.drain() == 1
    assert order == [first, second, export_id]
    assert get_project(first).status == get_project(second).status == JobStatus.ready
    assert get_export(export_id).status == JobStatus.ready
    assert embedded.drain() == 0


def test_drain_respects_the_limit() -> None:
    add_project(seed=7)
    add_project(seed=8)
    assert embedded.drain(limit=1) == 1
    with get_sessionmaker()() as db:
        statuses = sorted(db.scalars(select(Project.status)))
    assert statuses == ["queued", "ready"]


def test_restart_resumes_jobs_of_a_dead_local_worker_at_once() -> None:
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    host = socket.gethostname()
    orphaned = add_project(seed=10)
    running = add_project(seed=11)
    assert claim(Project, orphaned, worker_id=f"embedded:{host}:{gone.pid}:aa") is Claim.claimed
    # A live process that is not the caller (the caller's own pid is a previous incarnation's,
    # reused: it cannot be running a job the caller has not started).
    alive = os.getppid()
    assert claim(Project, running, worker_id=f"embedded:{host}:{alive}:bb") is (Claim.claimed)
    assert embedded.next_jobs() == []  # both leases are still live
    assert embedded.release_dead_local_leases() == 1
    assert embedded.next_jobs() == [(Project, orphaned)]


def test_a_lease_under_our_own_pid_is_a_dead_incarnations() -> None:
    import socket

    reused = add_project(seed=12)
    owner = f"embedded:{socket.gethostname()}:{os.getpid()}:cc"
    assert claim(Project, reused, worker_id=owner) is Claim.claimed
    assert embedded.release_dead_local_leases() == 1
    assert embedded.next_jobs() == [(Project, reused)]


def test_embedded_worker_process_runs_jobs_and_stops(real_model: None) -> None:
    project_id = add_project()
    worker = embedded.start_embedded_worker()
    try:
        deadline = 120  # generous: the spawned process imports torch first
        started = time.monotonic()
        while get_project(project_id).status not in (JobStatus.ready, JobStatus.failed):
            assert time.monotonic() - started < deadline, "embedded worker did not finish"
            time.sleep(0.1)
    finally:
        worker.stop()
    assert not worker.is_alive()
    assert get_project(project_id).status == JobStatus.ready
    (stem_set,) = stem_sets()
    assert stem_set.refcount == 1


def test_stem_set_rows_match_directories(data_dir: Path) -> None:
    make_ready(seed=9)
    with get_sessionmaker()() as db:
        directories = [row.directory for row in db.scalars(select(StemSet))]
    assert [f"stems/{name}" for name in listing(stems_dir(data_dir))] == directories


# ---------------------------------------------------------------- what a running job shows


def test_a_separation_reports_its_stages_and_a_moving_eta(
    monkeypatch: pytest.MonkeyPatch, real_model: None
) -> None:
    project_id = add_project(seconds=3.0)
    with get_sessionmaker()() as db, db.begin():
        # Two shifts: two passes of demucs_unittest, so two segments to report.
        db.execute(update(Project).where(Project.id == project_id).values(shifts=2))
    stages: list[str | None] = []
    reports: list[tuple[float, float | None, str | None]] = []
    renew, progress = lease.renew, lease.LeaseKeeper.progress

    def recording_renew(*args: Any, **values: Any) -> bool:
        if "stage" in values and (not stages or stages[-1] != values["stage"]):
            stages.append(values["stage"])
        return renew(*args, **values)

    def recording_progress(self: lease.LeaseKeeper, percent: float, **kwargs: Any) -> None:
        reports.append((percent, kwargs.get("eta_seconds"), kwargs.get("stage")))
        progress(self, percent, **kwargs)

    monkeypatch.setattr(lease, "renew", recording_renew)
    monkeypatch.setattr(lease.LeaseKeeper, "progress", recording_progress)
    separate(project_id)
    project = get_project(project_id)
    assert project.status == JobStatus.ready, project.error
    assert stages == ["loading_model", "decoding", "separating", "writing"]
    assert (project.stage, project.eta_seconds) == (None, None)  # not processing any more
    # Progress from the segments (the engine's reports after the first stage change): once per
    # segment, increasing.
    separating = [(p, eta) for p, eta, stage in reports if p > tasks._DECODED and stage is None]
    separating = [(p, eta) for p, eta in separating if p <= tasks._SEPARATED]
    percents = [p for p, _ in separating]
    assert len(percents) == len(set(percents)) == 2
    assert percents == sorted(percents)
    # From the first finished segment on, an estimate measured from the segments' speed,
    # and it goes down.
    etas = [eta for _, eta in separating]
    assert all(eta is not None for eta in etas)
    assert etas[-1] < etas[0]  # type: ignore[operator]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_eta_counts_down_between_reports() -> None:
    project_id = add_project()
    assert claim(Project, project_id, worker_id="w1") is Claim.claimed
    clock = FakeClock()
    keeper = lease.LeaseKeeper(Project, project_id, worker_id="w1", clock=clock)

    def row() -> tuple[float, float | None, str | None]:
        project = get_project(project_id)
        return project.progress, project.eta_seconds, project.stage

    keeper.progress(10.0, eta_seconds=30.0, stage="separating")
    assert row() == (10.0, 30.0, "separating")
    clock.now += 5.0  # a long segment: no report from the job
    assert keeper.tick()
    assert row() == (10.0, 25.0, "separating")
    clock.now += 0.4  # less than a tick since the last write: nothing to write
    assert keeper.tick()
    assert row() == (10.0, 25.0, "separating")
    clock.now += 0.7
    assert keeper.tick()
    assert row() == (10.0, 23.9, "separating")
    # A report right after a write is not written at once (throttled) but is not lost:
    # the next tick writes it.
    clock.now += 0.1
    keeper.progress(20.0)
    assert row()[0] == 10.0
    clock.now += 1.0
    assert keeper.tick()
    assert row() == (20.0, 22.8, "separating")
    # A segment that takes longer than estimated: the countdown stops at zero...
    clock.now += 100.0
    assert keeper.tick()
    assert row() == (20.0, 0.0, "separating")
    # ... until the next report brings a new estimate; a new stage is written at once.
    clock.now += 1.0
    keeper.progress(90.0, eta_seconds=12.0, stage="writing")
    assert row() == (90.0, 12.0, "writing")


def test_a_job_handed_back_or_failed_shows_no_stage() -> None:
    project_id = add_project()
    assert claim(Project, project_id, worker_id="w1") is Claim.claimed
    keeper = lease.LeaseKeeper(Project, project_id, worker_id="w1")
    keeper.progress(40.0, eta_seconds=9.0, stage="separating")
    assert lease.release(Project, project_id, worker_id="w1")
    project = get_project(project_id)
    assert (project.status, project.stage, project.eta_seconds) == ("queued", None, None)
    assert claim(Project, project_id, worker_id="w2") is Claim.claimed
    lease.LeaseKeeper(Project, project_id, worker_id="w2").stage("decoding")
    assert get_project(project_id).stage == "decoding"
    assert lease.fail(Project, project_id, worker_id="w2", reason="broken")
    project = get_project(project_id)
    assert (project.status, project.stage, project.eta_seconds) == ("failed", None, None)


def test_a_damaged_stem_set_of_the_same_key_is_mended_not_shared(data_dir: Path) -> None:
    # The stem set of the same content lost a file: a new upload separates again (it is not
    # reused) and the row is pointed at the new, complete files instead of the damaged ones.
    first = make_ready(seed=11)
    (damaged,) = stem_sets()
    (data_dir / damaged.directory / "vocals.wav").unlink()  # its only preview
    second = add_project(seed=11)
    separate(second)
    (mended,) = stem_sets()
    assert mended.id == damaged.id and mended.refcount == 2
    assert mended.directory != damaged.directory
    assert read_stem_layout(get_store(), mended.directory) is not None
    assert get_project(first).stem_set_id == get_project(second).stem_set_id == mended.id
    assert mended.previews_pending  # the new files' MP3s are still to come


def test_a_busy_database_does_not_fail_the_job_from_its_progress_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.exc import OperationalError

    project_id = add_project()
    assert claim(Project, project_id, worker_id="w1") is Claim.claimed
    clock = FakeClock()
    keeper = lease.LeaseKeeper(Project, project_id, worker_id="w1", clock=clock)
    real_renew = lease.renew
    busy = [True]

    def flaky(*args: Any, **kwargs: Any) -> bool:
        if busy.pop() if busy else False:
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return real_renew(*args, **kwargs)

    monkeypatch.setattr(lease, "renew", flaky)
    keeper.progress(30.0, stage="separating")  # the write fails: no exception in the job
    assert get_project(project_id).progress == 0.0
    clock.now += 1.0
    assert keeper.tick()  # the heartbeat writes what was pending
    project = get_project(project_id)
    assert (project.progress, project.stage) == (30.0, "separating")
