"""Request ids (api/request_id.py): taken from a well-formed X-Request-ID or made, sent back,
in every log line about the request, and stored on the jobs the request creates."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.conftest import LOOPBACK_URL
from api.support import upload
from isomix import logs
from isomix.api.app import create_app
from isomix.config import Settings
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs.embedded import drain
from isomix.migrate import ensure_schema
from isomix.models import Export, Project

GENERATED = re.compile(r"[0-9a-f]{32}")
PROBE_PATH = "/api/test-log-line"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = logs.configure(Settings(log_format="json", log_level="INFO"), stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def records(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.fixture
def logging_client(data_dir: Path) -> Iterator[TestClient]:
    """The app with one extra route that logs a line, ahead of the UI's catch-all."""
    reset_engines()
    ensure_schema()
    app = create_app()

    def log_a_line() -> dict[str, str]:
        logging.getLogger("isomix.tests.request").info("inside the request")
        return {"ok": "yes"}

    app.add_api_route(PROBE_PATH, log_a_line, methods=["GET"], tags=["tests"])
    app.router.routes.insert(0, app.router.routes.pop())
    with TestClient(app, base_url=LOOPBACK_URL) as client:
        yield client
    reset_engines()


def test_a_well_formed_id_is_echoed_and_logged(
    logging_client: TestClient, json_lines: io.StringIO
) -> None:
    given = "nginx-1f2e3d4c.5b6a_7988"
    response = logging_client.get(PROBE_PATH, headers={"X-Request-ID": given})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == given
    (line,) = [r for r in records(json_lines) if r["logger"] == "isomix.tests.request"]
    assert line["request_id"] == given
    assert line["message"] == "inside the request"


@pytest.mark.parametrize(
    "given",
    [None, "short", "x" * 65, "has space12", 'quote"1234', "new\nline1234", "café-1234".encode()],
)
def test_a_missing_or_malformed_id_is_replaced(
    logging_client: TestClient, json_lines: io.StringIO, given: str | bytes | None
) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    response = logging_client.get(PROBE_PATH, headers=headers)
    made = response.headers["x-request-id"]
    assert GENERATED.fullmatch(made), made
    (line,) = [r for r in records(json_lines) if r["logger"] == "isomix.tests.request"]
    assert line["request_id"] == made


def test_each_request_gets_its_own_id(logging_client: TestClient) -> None:
    first = logging_client.get(PROBE_PATH).headers["x-request-id"]
    second = logging_client.get(PROBE_PATH).headers["x-request-id"]
    assert first != second
    assert logs.current_request_id() is None  # nothing leaked into the test's context


def test_a_refusal_by_the_guards_carries_an_id_too(logging_client: TestClient) -> None:
    response = logging_client.get("/api/config", headers={"Host": "evil.example"})
    assert response.status_code == 400, response.text
    assert GENERATED.fullmatch(response.headers["x-request-id"])


def test_jobs_carry_their_requests_id_into_the_worker_lines(
    client: TestClient, song: bytes, json_lines: io.StringIO
) -> None:
    client.headers["X-Request-ID"] = "upload-req-0001"
    status, body = upload(client, song, model="demucs_unittest")
    assert status == 202, body
    project_id = str(body["id"])
    client.headers["X-Request-ID"] = "export-req-0002"
    drain()  # the jobs as the embedded worker runs them (run_job), in this process
    exported = client.post(f"/api/projects/{project_id}/exports", json={"format": "wav"})
    assert exported.status_code == 202, exported.text
    export_id = exported.json()["id"]
    drain()
    with get_sessionmaker()() as db:
        project = db.get(Project, project_id)
        export = db.get(Export, export_id)
        assert project is not None and export is not None
        assert project.request_id == "upload-req-0001"
        assert export.request_id == "export-req-0002"
    lines = records(json_lines)
    separating = [r for r in lines if str(r["message"]).startswith("separating project")]
    assert [r.get("request_id") for r in separating] == ["upload-req-0001"], lines
    for line in lines:
        if line.get("job_id") == project_id:
            assert line["request_id"] == "upload-req-0001"
            assert line["project_id"] == project_id
        if line.get("job_id") == export_id:
            assert line["request_id"] == "export-req-0002"
            assert line["project_id"] == project_id
    assert any(line.get("job_id") == project_id for line in lines)
    assert any(
        line.get("job_id") == export_id and "ready" in str(line["message"]) for line in lines
    )
