"""While no embedded worker can run, new work is refused (503 + Retry-After), not queued."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import dying_worker

from api.support import SetEnv, files_under, insert_ready_project, row_counts, upload, wav_bytes
from isomix.jobs import embedded
from isomix.jobs.embedded import EmbeddedWorker, RestartPolicy


def wait_until(condition: object, seconds: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def dead_worker(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedWorker]:
    """A real supervised worker whose process dies as it starts and whose restart is far off:
    dead and waiting, as after a kill or an out-of-memory death."""
    monkeypatch.setattr(embedded, "_worker_main", dying_worker.exit_at_once)
    worker = EmbeddedWorker(RestartPolicy(first_delay=600)).start()
    try:
        wait_until(lambda: worker.restarts == 1, 60)
        client.app.state.embedded_worker = worker  # type: ignore[attr-defined]
        yield worker
    finally:
        worker.stop()


def test_upload_is_refused_with_retry_after_while_the_worker_is_dead(
    client: TestClient, dead_worker: EmbeddedWorker, data_dir: Path
) -> None:
    response = client.post(
        "/api/projects", files={"file": ("song.wav", wav_bytes(1.0), "audio/wav")}
    )
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "worker_unavailable"
    assert "the embedded worker died" in body["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 600
    assert f"try again in {retry_after} s" in body["detail"]
    # Nothing stored: no row, no file.
    assert row_counts() == {"projects": 0, "stem_sets": 0, "exports": 0}
    assert files_under(data_dir / "projects") == []


def test_readyz_says_why_while_the_worker_is_dead(
    client: TestClient, dead_worker: EmbeddedWorker
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    queue = response.json()["checks"]["queue"]
    assert queue.startswith("error: the embedded worker died; it restarts in ")


def test_crash_looping_worker_refuses_uploads(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "_worker_main", dying_worker.exit_at_once)
    policy = RestartPolicy(first_delay=0.05, max_delay=0.1, stable_after=600, crash_loop=2)
    worker = EmbeddedWorker(policy).start()
    client.app.state.embedded_worker = worker  # type: ignore[attr-defined]
    try:
        wait_until(lambda: worker.restarts > policy.crash_loop, 60)
        status, body = upload(client, wav_bytes(1.0))
        assert (status, body["code"]) == (503, "worker_unavailable")
        assert "keeps dying" in str(body["detail"])
        assert client.get("/readyz").status_code == 503
    finally:
        worker.stop()


def test_a_running_worker_lets_uploads_through(client: TestClient) -> None:
    worker = EmbeddedWorker().start()
    client.app.state.embedded_worker = worker  # type: ignore[attr-defined]
    try:
        assert worker.availability().available
        status, _ = upload(client, wav_bytes(1.0), model="demucs_unittest")
        assert status == 202
        assert client.get("/readyz").status_code == 200
    finally:
        worker.stop()


def test_celery_mode_does_not_ask_the_embedded_worker(
    client: TestClient, dead_worker: EmbeddedWorker, set_env: SetEnv
) -> None:
    set_env(redis_url="redis://127.0.0.1:1/0")
    # Past the worker check: the upload itself is judged (and refused as not audio).
    status, body = upload(client, b"not audio at all" * 100)
    assert status == 415, body


def test_openapi_documents_the_503(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert "503" in spec["paths"]["/api/projects"]["post"]["responses"]


def test_retry_and_export_are_refused_too_while_the_worker_is_dead(
    client: TestClient, dead_worker: EmbeddedWorker
) -> None:
    # Both hand work to the same worker: queued now, they would wait for nobody.
    project_id = insert_ready_project()
    export = client.post(f"/api/projects/{project_id}/exports", json={"format": "mp3"})
    assert (export.status_code, export.json()["code"]) == (503, "worker_unavailable")
    assert "Retry-After" in export.headers
    retry = client.post(f"/api/projects/{project_id}/retry")
    assert (retry.status_code, retry.json()["code"]) == (503, "worker_unavailable")
    assert row_counts()["exports"] == 0
