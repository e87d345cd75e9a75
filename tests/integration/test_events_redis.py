"""Scaled mode: a worker process's lease writes reach the API's broadcaster through Redis
pub/sub (real redis-server), not through its polling, which is switched off here."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import wait_until

from isomix.api import events
from isomix.config import get_settings
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs import events as job_events
from isomix.migrate import ensure_schema
from isomix.models import JobStatus, Project, new_id

pytestmark = pytest.mark.integration

WAIT = 60.0


@pytest.fixture
def scaled(redis_server: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ISOMIX_REDIS_URL", redis_server)
    # No resync and no queued refresh within the test: only messages can deliver.
    monkeypatch.setattr(events, "RESYNC_SECONDS", 86400.0)
    monkeypatch.setattr(events, "QUEUED_REFRESH_SECONDS", 86400.0)
    get_settings.cache_clear()
    reset_engines()
    ensure_schema()
    yield redis_server
    reset_engines()
    get_settings.cache_clear()


def add_queued_project() -> str:
    project = Project(
        id=new_id(),
        filename="song.wav",
        source_path="projects/x/original.wav",
        content_sha256="0" * 64,
        size_bytes=1,
        container="wav",
        duration_seconds=60.0,
        model="demucs_unittest",
        status=JobStatus.queued,
    )
    with get_sessionmaker()() as session:
        session.add(project)
        session.commit()
    return project.id


def in_a_worker_process(call: str) -> None:
    """Run `lease.<call>` in another process, as a worker would (its publish goes through
    Redis only: nothing in this process hears it directly)."""
    code = f"from isomix.jobs import lease; from isomix.models import Project; print(lease.{call})"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr


async def next_body(listener: events.Listener) -> dict[str, Any]:
    while True:
        assert await listener.wait(WAIT), "no update arrived"
        update = listener.take()
        if update is not None:
            return dict(json.loads(update.body))


def test_lease_writes_arrive_through_redis_for_every_listener(scaled: str) -> None:
    project_id = add_queued_project()
    client = redis.Redis.from_url(scaled)

    def subscribed() -> bool:
        return any(count for _, count in client.pubsub_numsub(job_events.CHANNEL))

    async def scenario() -> list[list[dict[str, Any]]]:
        broadcaster = events.broadcaster_for()
        listeners = [broadcaster.subscribe(project_id, True) for _ in range(20)]
        seen: list[list[dict[str, Any]]] = [[await next_body(x)] for x in listeners]
        await asyncio.to_thread(wait_until, subscribed, WAIT, "the API's subscription")
        rounds = broadcaster.rounds
        await asyncio.to_thread(
            in_a_worker_process, f"claim(Project, {project_id!r}, worker_id='w')"
        )
        for index, listener in enumerate(listeners):
            seen[index].append(await next_body(listener))
        for percent in (10.0, 20.0):
            await asyncio.to_thread(
                in_a_worker_process,
                f"renew(Project, {project_id!r}, worker_id='w', progress={percent})",
            )
            for index, listener in enumerate(listeners):
                while (body := await next_body(listener))["progress"] != percent:
                    pass
                seen[index].append(body)
        assert broadcaster.rounds > rounds
        for listener in listeners:
            broadcaster.unsubscribe(listener)
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        client.close()
    for bodies in seen:
        assert [body["status"] for body in bodies] == ["queued", *["processing"] * 3]
        assert [body["progress"] for body in bodies[1:]] == [0.0, 10.0, 20.0]
