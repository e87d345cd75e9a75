"""Redis and PostgreSQL restart under a running deployment (real servers, really restarted):
the API answers 503 with Retry-After while the database is away and reconnects by itself
after; a Celery worker and its reconciler carry on through both restarts, and an upload
accepted while Redis was down is run once the reconciler sends it again."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api.support import wav_bytes
from conftest import JOB_TIME_LIMIT, VISIBILITY_TIMEOUT
from fastapi.testclient import TestClient
from services import IsomixProcess, PostgresService, RedisService
from sqlalchemy import update

from isomix.api.app import create_app
from isomix.api.errors import DATABASE_RETRY_AFTER_SECONDS
from isomix.config import get_settings
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs import broker, celery_app
from isomix.migrate import ensure_schema
from isomix.models import Project, utcnow

pytestmark = pytest.mark.integration

JOB_TIMEOUT = 60.0


@dataclass
class Services:
    postgres: PostgresService
    redis: RedisService
    worker: IsomixProcess


def _clear_caches() -> None:
    get_settings.cache_clear()
    broker.get_app.cache_clear()
    celery_app.get_app.cache_clear()
    reset_engines()


@pytest.fixture
def services(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    postgres = PostgresService()
    redis_service = RedisService(tmp_path / "redis")
    worker = None
    try:
        postgres.start()
        redis_service.start()
        settings_env = {
            "ISOMIX_DATABASE_URL": postgres.create_database("isomix"),
            "ISOMIX_REDIS_URL": redis_service.url,
            "ISOMIX_DEFAULT_MODEL": "classic",
            "ISOMIX_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "ISOMIX_JOB_TIME_LIMIT": str(JOB_TIME_LIMIT),
            "ISOMIX_TORCH_THREADS": "1",
        }
        for key, value in settings_env.items():
            monkeypatch.setenv(key, value)
        _clear_caches()
        ensure_schema()
        worker = IsomixProcess.worker("worker", dict(os.environ), tmp_path / "logs")
        worker.start()
        yield Services(postgres, redis_service, worker)
    finally:
        if worker is not None:
            worker.kill()
        _clear_caches()
        redis_service.stop()
        postgres.remove()


def upload(client: TestClient, seconds: float) -> dict[str, Any]:
    response = client.post(
        "/api/projects",
        files={"file": ("song.wav", wav_bytes(seconds, rate=22050), "audio/wav")},
        data={"model": "classic"},
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_ready(client: TestClient, project_id: str, services: Services) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        body = client.get(f"/api/projects/{project_id}").json()
        if body["status"] in ("ready", "failed"):
            assert body["status"] == "ready", f"{body['error']}\n{services.worker.log_tail()}"
            return
        assert time.monotonic() < deadline, (
            f"{project_id} still {body['status']}\n{services.worker.log_tail()}"
        )
        time.sleep(0.2)


def test_api_and_worker_through_redis_and_postgres_restarts(services: Services) -> None:
    worker_process = services.worker.process
    assert worker_process is not None
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        wait_ready(client, upload(client, 1.0)["id"], services)

        # PostgreSQL away: 503 with Retry-After in the API's error shape, headers kept.
        services.postgres.stop()
        answer = client.get("/api/projects")
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == str(DATABASE_RETRY_AFTER_SECONDS)
        assert answer.json()["code"] == "database_unavailable"
        assert answer.headers["x-content-type-options"] == "nosniff"
        # Back: the pooled connections died with the server; the next request reconnects.
        services.postgres.start()
        assert client.get("/api/projects").status_code == 200
        # A restart between two requests is never seen by the client (pre-ping).
        services.postgres.restart()
        assert client.get("/api/projects").status_code == 200

        # Redis away: the upload is accepted and stays queued (its message could not go).
        services.redis.stop()
        waiting = upload(client, 1.5)
        services.redis.start()
        assert client.get(f"/api/projects/{waiting['id']}").json()["status"] == "queued"
        # The reconciler re-sends a queued job whose message is older than STALE_QUEUED:
        # make it so rather than wait five minutes.
        with get_sessionmaker()() as session, session.begin():
            session.execute(
                update(Project)
                .where(Project.id == waiting["id"])
                .values(updated_at=utcnow() - timedelta(hours=1))
            )
        wait_ready(client, waiting["id"], services)
        assert "re-sent 1" in services.worker.log_tail(10**6)  # by the reconciler

        # And new work after both restarts, on the same worker process.
        wait_ready(client, upload(client, 2.0)["id"], services)
    assert worker_process.poll() is None
    assert services.worker.starts == 1
