"""An upload that never completes: the client goes away, or the server dies half-way.

A disconnect costs one log line and leaves nothing on disk or in the database; what a crash
leaves (a project folder with a partial `original.upload` and no row) is removed by
`cleanup.remove_partial_uploads()` when the embedded server starts.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.support import files_under, http_scope, row_counts, wav_bytes
from isomix import storage
from isomix.api.app import create_app
from isomix.jobs.cleanup import remove_partial_uploads
from isomix.models import new_id

BOUNDARY = "gone-away"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n'
    "Content-Type: audio/wav\r\n\r\n"
).encode()
DECLARED_BYTES = 10 * 1024 * 1024
WAIT_SECONDS = 30.0


def assert_nothing_left(data_dir: Path) -> None:
    assert files_under(data_dir / "projects") == []
    assert row_counts() == {"projects": 0, "stem_sets": 0, "exports": 0}


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Tracebacks and errors in the log."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.exc_info or record.levelno >= logging.ERROR
    ]


def disconnect_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "disconnected" in record.getMessage()]


def test_disconnect_mid_upload_logs_one_line_and_keeps_nothing(
    client: TestClient, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At the ASGI level: the client sends part of the file, then the server is told it left."""
    caplog.set_level(logging.DEBUG)
    chunk = wav_bytes(1.0)
    messages: list[dict[str, Any]] = []
    sent = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        if sent == 1:
            return {"type": "http.request", "body": HEAD, "more_body": True}
        if sent <= 4:
            return {"type": "http.request", "body": chunk, "more_body": True}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = http_scope(
        "POST",
        "/api/projects",
        [
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(DECLARED_BYTES).encode()),
        ],
    )
    anyio.run(client.app, scope, receive, send)  # type: ignore[arg-type]  # raises on a crash

    assert sent == 5  # it read up to the disconnect
    [line] = disconnect_lines(caplog)
    assert line.name == "isomix.api.upload" and line.levelno == logging.INFO
    assert f"after {3 * len(chunk)} bytes" in line.getMessage()
    assert problems(caplog) == []
    assert_nothing_left(data_dir)


@pytest.fixture
def live_server(client: TestClient) -> Iterator[int]:
    """The app behind a real uvicorn on a loopback port, in a thread of this process."""
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not (server.started and server.servers):
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = int(server.servers[0].sockets[0].getsockname()[1])
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT_SECONDS)


def test_client_gone_mid_upload_over_tcp(
    live_server: int, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = (
        f"POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1:{live_server}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {DECLARED_BYTES}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", live_server), timeout=WAIT_SECONDS) as client:
        client.sendall(request + HEAD + b"\0" * 300_000)
        deadline = time.monotonic() + WAIT_SECONDS
        partial = data_dir / "projects"
        while not any(path.name == storage.UPLOAD_TEMP_NAME for path in files_under(partial)):
            assert time.monotonic() < deadline, "the upload never reached the disk"
            time.sleep(0.05)
    deadline = time.monotonic() + WAIT_SECONDS
    while not disconnect_lines(caplog):
        assert time.monotonic() < deadline, "the disconnect was not logged"
        time.sleep(0.05)
    assert len(disconnect_lines(caplog)) == 1
    assert problems(caplog) == []
    assert_nothing_left(data_dir)


def _project_folder(data_dir: Path, *files: str) -> Path:
    folder = data_dir / storage.project_dir(new_id())
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_bytes(b"\0" * 1000)
    return folder


def test_partial_uploads_without_a_row_are_removed_at_start(
    client: TestClient, data_dir: Path
) -> None:
    """What a crash mid-upload leaves: folders with no row holding a partial upload, or
    nothing at all. Everything else stays (for the collector's one-hour sweep, or for good)."""
    crashed = _project_folder(data_dir, storage.UPLOAD_TEMP_NAME)
    empty = _project_folder(data_dir)
    response = client.post(
        "/api/projects",
        files={"file": ("kept.wav", wav_bytes(0.5), "audio/wav")},
        data={"model": "demucs_unittest"},
    )
    assert response.status_code == 202, response.text
    kept = data_dir / storage.project_dir(response.json()["id"])
    # Complete but never committed: not this function's to judge.
    finalized = _project_folder(data_dir, "original.wav")
    odd = _project_folder(data_dir, storage.UPLOAD_TEMP_NAME, "notes.txt")

    assert remove_partial_uploads() == 2
    assert not crashed.exists() and not empty.exists()
    assert kept.is_dir() and finalized.is_dir() and odd.is_dir()
    assert [path.name for path in kept.iterdir()] == ["original.wav"]
    assert row_counts()["projects"] == 1
    assert remove_partial_uploads() == 0  # idempotent
