"""The HTTP API on the scaled deployment: PostgreSQL rows, Redis queue, a real Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from api.support import files_under, row_counts, upload, wav_bytes
from conftest import Stack
from fastapi.testclient import TestClient
from sqlalchemy import update

from isomix.api.app import create_app
from isomix.db import get_sessionmaker
from isomix.models import Project, utcnow

pytestmark = pytest.mark.integration

JOB_TIMEOUT = 90.0


def wait_ready(client: TestClient, project_id: str) -> dict[str, object]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        body: dict[str, object] = client.get(f"/api/projects/{project_id}").json()
        if body["status"] in ("ready", "failed"):
            return body
        assert time.monotonic() < deadline, f"project still {body['status']}"
        time.sleep(0.3)


def test_upload_separate_dedup_delete_on_postgres_and_redis(stack: Stack) -> None:
    stack.start_worker()
    song = wav_bytes(2.0)
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "queue": "ok"}

        status, first = upload(client, song, filename="Ünïcode song.wav")
        assert status == 202 and first["status"] == "queued", first
        assert first["model"] == "demucs_unittest"  # ISOMIX_DEFAULT_MODEL of the stack
        body = wait_ready(client, str(first["id"]))
        assert body["status"] == "ready", body["error"]
        stems = body["stems"]
        assert isinstance(stems, list) and len(stems) == 4
        master = client.get(stems[0]["url"], headers={"Range": "bytes=0-3"})
        assert master.status_code == 206 and master.content == b"fLaC"

        # The same song again: the existing project answers, no second row.
        status, again = upload(client, song, filename="again.wav")
        assert (status, again["id"], again["existing"]) == (200, first["id"], True)
        assert row_counts()["projects"] == 1
        # Past its expiry (not yet collected), the same upload is a new project sharing the
        # stem set: ready at once.
        with get_sessionmaker()() as session, session.begin():
            session.execute(
                update(Project)
                .where(Project.id == first["id"])
                .values(expires_at=utcnow() - timedelta(minutes=1))
            )
        status, second = upload(client, song, filename="again.wav")
        assert status == 202 and second["status"] == "ready"

        metrics = client.get("/metrics").text
        assert 'isomix_job_rows{kind="separation",status="ready"} 2.0' in metrics

        for project in (first, second):
            assert client.delete(f"/api/projects/{project['id']}").status_code == 204
    assert row_counts() == {"projects": 0, "stem_sets": 0, "exports": 0}
    assert files_under(stack.data_dir / "stems") == []
    assert files_under(stack.data_dir / "projects") == []


def test_servers_and_workers_starting_together_migrate_once(
    postgres_server: str, tmp_path: Path
) -> None:
    name = f"m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgresql://isomix@{postgres_server}/postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {
            **os.environ,
            "ISOMIX_DATA_DIR": str(tmp_path),
            "ISOMIX_DATABASE_URL": f"postgresql+psycopg://isomix@{postgres_server}/{name}",
        }
        code = (
            "from isomix.migrate import ensure_schema, current_revision, head_revision\n"
            "ensure_schema()\n"
            "assert current_revision() == head_revision()\n"
        )
        starts = [
            subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        for start in starts:
            _, stderr = start.communicate(timeout=120)
            assert start.returncode == 0, stderr.decode()
    finally:
        with psycopg.connect(
            f"postgresql://isomix@{postgres_server}/postgres", autocommit=True
        ) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
