"""Hundreds of event streams opened at once through a real uvicorn: every one connects and
the API still answers. Before, requests held a database connection while they waited for a
thread, every thread waited for a connection, and the whole API hung (api/deps.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from isomix.api.app import create_app
from isomix.db import get_sessionmaker, reset_engines
from isomix.migrate import ensure_schema
from isomix.models import JobStatus, Project, new_id

STREAMS = 200  # far more than the 40 threads and 15 pooled connections
WAIT = 90.0  # a bound on a hang, not a measurement: the machine may be busy


@pytest.fixture
def server(data_dir: Path) -> Iterator[str]:
    reset_engines()
    ensure_schema()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # log_config=None: leave the test process's logging alone (other tests read the access log).
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_config=None)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=WAIT)
    reset_engines()


def processing_project() -> str:
    project = Project(
        id=new_id(),
        filename="song.wav",
        source_path="projects/x/original.wav",
        content_sha256="0" * 64,
        size_bytes=1,
        container="wav",
        duration_seconds=180.0,
        model="demucs_unittest",
        status=JobStatus.processing,
        progress=1.0,
    )
    with get_sessionmaker()() as session:
        session.add(project)
        session.commit()
    return project.id


def test_hundreds_of_streams_at_once_all_connect_and_the_api_answers(server: str) -> None:
    project_id = processing_project()

    async def scenario() -> tuple[int, int]:
        connected = 0
        all_in = asyncio.Event()
        limits = httpx.Limits(max_connections=STREAMS + 10)
        timeout = httpx.Timeout(WAIT, read=None)
        async with httpx.AsyncClient(base_url=server, limits=limits, timeout=timeout) as client:

            async def follow() -> None:
                nonlocal connected
                url = f"/api/projects/{project_id}/events"
                async with client.stream("GET", url) as response:
                    async for line in response.aiter_lines():
                        if line.startswith("event: project"):
                            connected += 1
                            if connected == STREAMS:
                                all_in.set()
                            break
                    await asyncio.Event().wait()  # stay open

            streams = [asyncio.create_task(follow()) for _ in range(STREAMS)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), WAIT)
            status = (await client.get(f"/api/projects/{project_id}")).status_code
            for stream in streams:
                stream.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
        return connected, status

    connected, status = asyncio.run(scenario())
    assert connected == STREAMS
    assert status == 200
