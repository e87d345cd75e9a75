"""/metrics' figures, each crossed with the rows it reads: upload latency, separation time,
jobs ended by final status (once, and never lowered by retention), storage by kind, the
queue, and live workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, func, select, update

from api.support import upload, wav_bytes
from isomix import liveness
from isomix.db import get_sessionmaker
from isomix.jobs import lease
from isomix.jobs.embedded import drain, start_embedded_worker
from isomix.models import (
    Export,
    JobStatus,
    Project,
    StemSet,
    WorkerHeartbeat,
    new_id,
    utcnow,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def ended(samples: Samples, kind: str, status: str) -> float:
    return value(samples, "isomix_jobs_total", kind=kind, status=status)


def queued_project(*, queued_ago: float = 0.0, size: int = 1000) -> str:
    project = Project(
        id=new_id(),
        filename="song.wav",
        source_path="projects/x/original.wav",
        content_sha256="0" * 64,
        size_bytes=size,
        container="wav",
        model="demucs_unittest",
        queued_at=utcnow() - timedelta(seconds=queued_ago),
    )
    with get_sessionmaker()() as db, db.begin():
        db.add(project)
    return project.id


def test_an_upload_is_timed_to_its_queue_and_its_separation_is_counted(
    client: TestClient,
) -> None:
    song = wav_bytes(1.0)
    before = scrape(client)
    assert value(before, "isomix_upload_seconds_count") == 0
    assert ended(before, "separation", "ready") == 0  # present from the start, at 0
    status, _ = upload(client, song, model="demucs_unittest")
    assert status == 202

    queued = scrape(client)
    assert value(queued, "isomix_upload_seconds_count") == 1
    assert value(queued, "isomix_upload_seconds_sum") > 0
    assert value(queued, "isomix_upload_seconds_bucket", le="+Inf") == 1
    assert value(queued, "isomix_queue_length", kind="separation") == 1
    assert value(queued, "isomix_storage_bytes", kind="uploads") == len(song)

    assert drain(mp3_previews=False) == 1
    done = scrape(client)
    assert ended(done, "separation", "ready") == 1
    assert ended(done, "separation", "failed") == 0
    assert value(done, "isomix_queue_length", kind="separation") == 0
    assert value(done, "isomix_queue_oldest_seconds", kind="separation") == 0
    # The separation's compute time, as a real histogram over separation_stats.
    count = value(done, "isomix_separation_seconds_count", model="demucs_unittest")
    assert count == 1
    assert value(done, "isomix_separation_seconds_bucket", model="demucs_unittest", le="+Inf") == 1
    assert value(done, "isomix_separation_seconds_sum", model="demucs_unittest") > 0
    with get_sessionmaker()() as db:
        stored = db.scalar(select(func.sum(StemSet.stored_bytes)))
    assert stored, "the stem set's stored_bytes was not recorded"
    assert value(done, "isomix_storage_bytes", kind="stems") == stored

    # The same file again: the existing project answers, nothing is queued or timed.
    status, _ = upload(client, song, model="demucs_unittest")
    assert status == 200
    assert value(scrape(client), "isomix_upload_seconds_count") == 1


def test_a_job_ends_once_whatever_repeats(client: TestClient) -> None:
    # A first worker claims the job and dies (its lease runs out): that is no ending.
    project_id = queued_project()
    assert lease.claim(Project, project_id, worker_id="w1") is lease.Claim.claimed
    later = utcnow() + lease.lease_duration() + timedelta(seconds=1)
    assert lease.claim(Project, project_id, worker_id="w2", now=later) is lease.Claim.claimed
    assert ended(scrape(client), "separation", "failed") == 0

    # The second worker fails it; the first one's late report and a repeat change nothing.
    assert lease.fail(Project, project_id, worker_id="w2", reason="broken input")
    assert not lease.fail(Project, project_id, worker_id="w1", reason="late")
    assert not lease.fail(Project, project_id, worker_id="w2", reason="again")
    samples = scrape(client)
    assert ended(samples, "separation", "failed") == 1
    assert ended(samples, "separation", "ready") == 0

    # An ending whose transaction rolls back is not counted either.
    other = queued_project()
    assert lease.claim(Project, other, worker_id="w3") is lease.Claim.claimed
    with pytest.raises(RuntimeError), get_sessionmaker()() as db, db.begin():
        assert lease.finish_owned(
            db, Project, other, worker_id="w3", status=JobStatus.ready, now=utcnow()
        )
        raise RuntimeError("the commit never happens")
    assert ended(scrape(client), "separation", "ready") == 0


def test_giving_up_and_cancelling_count_once(client: TestClient) -> None:
    exhausted = queued_project()
    with get_sessionmaker()() as db, db.begin():
        db.execute(update(Project).where(Project.id == exhausted).values(attempts=99))
    assert lease.claim(Project, exhausted, worker_id="w1") is lease.Claim.gave_up
    assert lease.claim(Project, exhausted, worker_id="w1") is lease.Claim.unavailable

    status, project = upload(client, wav_bytes(1.0), model="demucs_unittest")
    assert status == 202
    cancel = f"/api/projects/{project['id']}/cancel"
    assert client.post(cancel).status_code == 200
    assert client.post(cancel).status_code == 200  # already cancelled: answered, not counted
    samples = scrape(client)
    assert ended(samples, "separation", "failed") == 1
    assert ended(samples, "separation", "cancelled") == 1
    assert ended(samples, "export", "cancelled") == 0


def test_deleting_rows_never_lowers_the_jobs_ended(client: TestClient) -> None:
    for worker in ("w1", "w2"):
        project_id = queued_project()
        assert lease.claim(Project, project_id, worker_id=worker) is lease.Claim.claimed
        with get_sessionmaker()() as db, db.begin():
            assert lease.finish_owned(
                db, Project, project_id, worker_id=worker, status=JobStatus.ready, now=utcnow()
            )
    before = scrape(client)
    assert ended(before, "separation", "ready") == 2
    assert value(before, "isomix_job_rows", kind="separation", status="ready") == 2
    with get_sessionmaker()() as db, db.begin():  # retention, or users deleting everything
        db.execute(delete(Project))
    after = scrape(client)
    assert value(after, "isomix_job_rows", kind="separation", status="ready") == 0
    assert ended(after, "separation", "ready") == 2


def test_storage_bytes_sum_the_rows_by_kind(client: TestClient) -> None:
    kept = [queued_project(size=1000), queued_project(size=234)]
    gone = queued_project(size=10_000)
    with get_sessionmaker()() as db, db.begin():
        db.execute(update(Project).where(Project.id == gone).values(status=JobStatus.expired))
        stem_sets = [
            StemSet(
                cache_key=f"k{index}",
                directory=f"stems/{index}",
                stem_names={},
                duration_seconds=1.0,
                stored_bytes=stored,
            )
            for index, stored in enumerate((5_000_000, None, 7))
        ]
        db.add_all(stem_sets)
        for stored in (300, None):
            db.add(Export(project_id=kept[0], mix={}, format="wav", stored_bytes=stored))
    samples = scrape(client)
    assert value(samples, "isomix_storage_bytes", kind="uploads") == 1234  # expired: deleted
    assert value(samples, "isomix_storage_bytes", kind="stems") == 5_000_007  # NULL: 0
    assert value(samples, "isomix_storage_bytes", kind="exports") == 300


def test_queue_length_and_the_oldest_wait(client: TestClient) -> None:
    queued_project(queued_ago=300)
    queued_project(queued_ago=5)
    running = queued_project(queued_ago=1000)
    assert lease.claim(Project, running, worker_id="w1") is lease.Claim.claimed
    samples = scrape(client)
    assert value(samples, "isomix_queue_length", kind="separation") == 2
    assert value(samples, "isomix_job_rows", kind="separation", status="processing") == 1
    oldest = value(samples, "isomix_queue_oldest_seconds", kind="separation")
    assert 300 <= oldest < 1000  # the running job no longer waits
    assert value(samples, "isomix_queue_length", kind="export") == 0


def test_only_recent_heartbeats_are_live_workers(client: TestClient) -> None:
    samples = scrape(client)
    assert value(samples, "isomix_workers_alive", kind="embedded") == 0
    assert value(samples, "isomix_workers_alive", kind="celery") == 0
    assert ("isomix_worker_last_seen_seconds", frozenset({("kind", "celery")})) not in samples

    now = utcnow()
    stale = now - timedelta(seconds=liveness.ALIVE_SECONDS + 5)
    liveness.beat("celery:a:1", "celery", now=stale)
    liveness.beat("celery:b:2", "celery", now=now - timedelta(seconds=2))
    liveness.beat("celery:c:3", "celery", now=stale)
    liveness.beat("celery:c:3", "celery", now=now)  # the same worker again: one row, fresh
    samples = scrape(client)
    assert value(samples, "isomix_workers_alive", kind="celery") == 2
    assert value(samples, "isomix_workers_alive", kind="embedded") == 0
    assert value(samples, "isomix_worker_last_seen_seconds", kind="celery") < 10

    liveness.forget("celery:b:2")
    liveness.forget("celery:c:3")
    samples = scrape(client)
    assert value(samples, "isomix_workers_alive", kind="celery") == 0  # a is stale
    assert value(samples, "isomix_worker_last_seen_seconds", kind="celery") > liveness.ALIVE_SECONDS

    liveness.beat("celery:old", "celery", now=now - liveness.FORGET_AFTER - timedelta(hours=1))
    assert liveness.prune(now=now) == 1
    assert _heartbeat_ids() == {"celery:a:1"}


def _heartbeat_ids() -> set[str]:
    with get_sessionmaker()() as db:
        return set(db.scalars(select(WorkerHeartbeat.worker_id)))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_heartbeat_thread_beats_until_stopped(client: TestClient) -> None:
    heartbeat = liveness.Heartbeat("embedded", "embedded:test:1", interval=0.05).start()
    try:
        wait_until(lambda: "embedded:test:1" in _heartbeat_ids(), "the first beat")
        samples = scrape(client)
        assert value(samples, "isomix_workers_alive", kind="embedded") == 1
    finally:
        heartbeat.stop()
    assert "embedded:test:1" not in _heartbeat_ids()  # a clean stop is not a dead worker
    assert value(scrape(client), "isomix_workers_alive", kind="embedded") == 0


def test_the_embedded_worker_is_a_live_worker_while_it_runs(client: TestClient) -> None:
    worker = start_embedded_worker()
    try:
        pid = worker.pid
        wait_until(
            lambda: value(scrape(client), "isomix_workers_alive", kind="embedded") == 1,
            "the embedded worker's first heartbeat",
            timeout=120,  # a spawned interpreter
        )
        with get_sessionmaker()() as db:
            row = db.scalars(select(WorkerHeartbeat)).one()
        assert (row.kind, row.pid) == ("embedded", pid)
        assert row.worker_id.startswith("embedded:")
    finally:
        worker.stop()
    assert value(scrape(client), "isomix_workers_alive", kind="embedded") == 0
