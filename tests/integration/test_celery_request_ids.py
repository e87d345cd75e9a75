"""The scaled deployment's logs: an upload's and an export's request ids follow their jobs
from an API process into a real Celery worker's JSON lines (Redis, PostgreSQL)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from api.support import wav_bytes
from celery_support import JOB_TIMEOUT
from conftest import Stack
from fastapi.testclient import TestClient

from isomix.api.app import create_app

pytestmark = pytest.mark.integration

UPLOAD_ID = "celery-upload-0001"
EXPORT_ID = "celery-export-0002"


def wait_status(client: TestClient, url: str, stack: Stack) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        body: dict[str, Any] = client.get(url).json()
        if body["status"] in ("ready", "failed"):
            return body
        assert time.monotonic() < deadline, f"{body['status']}\n{stack.worker_logs()}"
        time.sleep(0.2)


def worker_json_lines(stack: Stack) -> list[dict[str, Any]]:
    found = []
    for path in sorted(stack.log_dir.glob("worker-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
    return found


def test_request_ids_reach_the_celery_workers_lines(stack: Stack) -> None:
    stack.env["ISOMIX_LOG_FORMAT"] = "json"
    stack.start_worker()
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        uploaded = client.post(
            "/api/projects",
            files={"file": ("song.wav", wav_bytes(2.0), "audio/wav")},
            data={"model": "demucs_unittest"},
            headers={"X-Request-ID": UPLOAD_ID},
        )
        assert uploaded.status_code == 202, uploaded.text
        project_id = uploaded.json()["id"]
        project = wait_status(client, f"/api/projects/{project_id}", stack)
        assert project["status"] == "ready", project["error"]
        exported = client.post(
            f"/api/projects/{project_id}/exports",
            json={"format": "wav"},
            headers={"X-Request-ID": EXPORT_ID},
        )
        assert exported.status_code == 202, exported.text
        export_id = exported.json()["id"]
        export = wait_status(client, f"/api/exports/{export_id}", stack)
        assert export["status"] == "ready", export["error"]

    lines = worker_json_lines(stack)
    assert lines, stack.worker_logs()  # the worker logs JSON, not Celery's own format
    separation = [line for line in lines if line.get("job_id") == project_id]
    exporting = [line for line in lines if line.get("job_id") == export_id]
    assert any(line["message"].startswith("separating project") for line in separation), lines
    assert any(line["message"] == f"export {export_id} ready" for line in exporting), lines
    for line in separation:
        assert (line["request_id"], line["project_id"]) == (UPLOAD_ID, project_id)
    for line in exporting:
        assert (line["request_id"], line["project_id"]) == (EXPORT_ID, project_id)
    # Celery's own lines go through the same handler.
    assert any(line["logger"].startswith("celery") for line in lines), lines
