"""Project events come from one broadcaster per API process (api/events.py): one database
round per tick for every stream, every row change to every listener, streams that end."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from isomix.api import events
from isomix.api.routes import projects as projects_routes
from isomix.db import get_engine, get_sessionmaker, reset_engines
from isomix.jobs import lease
from isomix.migrate import ensure_schema
from isomix.models import JobStatus, Project, new_id, utcnow

WAIT = 60.0  # generous: the machine may be busy; nothing here measures time


@pytest.fixture
def database(data_dir: Path) -> Iterator[None]:
    reset_engines()
    ensure_schema()
    yield
    reset_engines()


def add_project(status: JobStatus = JobStatus.processing) -> str:
    project = Project(
        id=new_id(),
        filename="song.wav",
        source_path="projects/x/original.wav",
        content_sha256="0" * 64,
        size_bytes=1,
        container="wav",
        duration_seconds=180.0,
        model="demucs_unittest",
        status=status,
        progress=0.0,
        lease_owner="test-worker" if status == JobStatus.processing else None,
        lease_expires_at=utcnow() if status == JobStatus.processing else None,
    )
    with get_sessionmaker()() as session:
        session.add(project)
        session.commit()
    return project.id


def write(project_id: str, **values: Any) -> None:
    """A row change as another process makes it: no publish, only updated_at moves."""
    with get_sessionmaker()() as session:
        session.execute(
            update(Project).where(Project.id == project_id).values(updated_at=utcnow(), **values)
        )
        session.commit()


class Statements:
    """Counts SQL statements sent by this process."""

    def __init__(self) -> None:
        self.count = 0
        event.listen(get_engine(), "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(get_engine(), "before_cursor_execute", self._seen)


async def next_body(listener: events.Listener) -> dict[str, Any] | None:
    """The next update a listener gets (None: the project is gone)."""
    while True:
        assert await listener.wait(WAIT), "no update arrived"
        update_ = listener.take()
        if update_ is not None:
            return dict(json.loads(update_.body))
        if listener.gone:
            return None


async def progress_seen(listener: events.Listener, wanted: float) -> None:
    while True:
        body = await next_body(listener)
        assert body is not None
        if body["progress"] == wanted:
            return


@pytest.mark.usefixtures("database")
def test_one_round_per_tick_serves_every_listener_and_every_change_reaches_all() -> None:
    projects = [add_project() for _ in range(5)]
    statements = Statements()

    async def scenario() -> tuple[int, int]:
        broadcaster = events.broadcaster_for(poll_seconds=0.01)
        listeners = [
            broadcaster.subscribe(projects[index % len(projects)], True) for index in range(60)
        ]
        # Each listener first gets its project as it is (a new listener's first reload).
        for listener in listeners:
            assert await next_body(listener) is not None
        before_rounds, before_statements = broadcaster.rounds, statements.count
        for step in range(1, 6):
            for project_id in projects:  # from another thread, as a worker's write lands
                await asyncio.to_thread(write, project_id, progress=float(step))
            for listener in listeners:
                await progress_seen(listener, float(step))
        rounds = broadcaster.rounds - before_rounds
        sent = statements.count - before_statements
        for listener in listeners:
            broadcaster.unsubscribe(listener)
        return rounds, sent

    try:
        rounds, sent = asyncio.run(scenario())
    finally:
        statements.close()
    # The write itself is one UPDATE per change (25); the broadcaster sends at most two
    # statements a round (the updated_at check, the reload of what changed), however many
    # of the 60 streams follow the 5 projects. One loop per stream would send 60 a tick.
    assert rounds > 0
    assert sent - 25 <= 2 * rounds


@pytest.mark.usefixtures("database")
def test_lease_writes_reach_listeners_and_a_deleted_project_ends_them() -> None:
    project_id = add_project(JobStatus.queued)

    async def scenario() -> list[dict[str, Any] | None]:
        broadcaster = events.broadcaster_for(poll_seconds=0.01)
        listener = broadcaster.subscribe(project_id, True)
        seen = [await next_body(listener)]
        claim = await asyncio.to_thread(lease.claim, Project, project_id, worker_id="w")
        assert claim is lease.Claim.claimed
        seen.append(await next_body(listener))
        await asyncio.to_thread(lease.renew, Project, project_id, worker_id="w", progress=42.0)
        await progress_seen(listener, 42.0)

        def delete() -> None:
            with get_sessionmaker()() as session:
                project = session.get(Project, project_id)
                session.delete(project)
                session.commit()

        await asyncio.to_thread(delete)
        seen.append(await next_body(listener))
        assert listener.gone
        broadcaster.unsubscribe(listener)
        return seen

    first, claimed, gone = asyncio.run(scenario())
    assert first is not None and first["status"] == "queued" and first["queue_position"] == 1
    assert claimed is not None and claimed["status"] == "processing"
    assert gone is None


def read_stream(client: TestClient, project_id: str, on_first: Any = None) -> list[Any]:
    """Every event (a dict) and keep-alive (the string) of a stream until it ends."""
    seen: list[Any] = []
    with client.stream("GET", f"/api/projects/{project_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith(": "):
                seen.append(line)
            elif line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert kind == "project"
                seen.append(json.loads(line.removeprefix("data: ")))
                if on_first is not None and len(seen) == 1:
                    on_first()
    return seen


def test_a_stream_ends_on_a_terminal_status(client: TestClient) -> None:
    project_id = add_project()

    def change_later() -> None:
        write(project_id, progress=50.0)
        write(project_id, status=JobStatus.failed, error="boom")

    seen = read_stream(client, project_id, on_first=change_later)
    statuses = [item["status"] for item in seen if isinstance(item, dict)]
    assert statuses[0] == "processing" and statuses[-1] == "failed"
    assert seen[-1]["error"] == "boom"


def test_a_change_between_the_first_read_and_the_subscription_is_not_lost(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = add_project()
    subscribe = events.Broadcaster.subscribe

    def late_subscribe(self: events.Broadcaster, *args: Any, **kwargs: Any) -> events.Listener:
        # The stream has read and sent the row; the job ends before it listens.
        write(project_id, status=JobStatus.cancelled)
        return subscribe(self, *args, **kwargs)

    monkeypatch.setattr(events.Broadcaster, "subscribe", late_subscribe)
    seen = read_stream(client, project_id)
    assert [item["status"] for item in seen] == ["processing", "cancelled"]


def test_cancel_wakes_the_broadcaster_without_waiting_for_its_poll(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The poll is a day long: only the cancel route's own notice can end this stream.
    monkeypatch.setattr(projects_routes, "EVENTS_POLL_SECONDS", 86400.0)
    project_id = add_project(JobStatus.queued)
    cancelled = threading.Event()

    def cancel() -> None:
        def run() -> None:
            # After the stream has subscribed (its first reload is a round of its own).
            response = client.post(f"/api/projects/{project_id}/cancel")
            assert response.status_code == 200
            cancelled.set()

        threading.Thread(target=run).start()

    seen = read_stream(client, project_id, on_first=cancel)
    assert cancelled.wait(WAIT)
    assert [item["status"] for item in seen][-1] == "cancelled"
