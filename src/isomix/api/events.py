"""The one source of project events in an API process: every SSE stream listens to its
event loop's `Broadcaster`, which reads the database for all of them at once.

Embedded (no ISOMIX_REDIS_URL): every `poll_seconds` the broadcaster reads `updated_at` of
the projects that streams follow, in one query, and reloads only those that changed. Scaled:
it subscribes to the worker's "project changed" messages (`jobs/events.py`) and reloads a
project once per message for all its listeners; the same `updated_at` check runs every
RESYNC_SECONDS as a safety net (a message published while the subscription was down).
Either way a change made in this process (cancel, delete) wakes it at once, and a queued
project is reloaded every QUEUED_REFRESH_SECONDS: its position and ETA move with other rows.

A new listener's project is reloaded at the next tick whatever its `updated_at`, so a change
between the stream's first read and its subscription is not lost. Streams drop bodies equal
to the last one they sent. The broadcaster's tasks run only while someone listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import anyio
from sqlalchemy import select

from isomix.api.present import QueueSnapshot, project_out
from isomix.config import Settings, get_settings
from isomix.db import get_sessionmaker
from isomix.jobs import events as job_events
from isomix.models import TERMINAL_STATUSES, JobStatus, Project, as_utc

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS: Final = 0.1
RESYNC_SECONDS = 2.0
QUEUED_REFRESH_SECONDS = 1.0
REDIS_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Update:
    """A project's body as an event carries it (JSON) and whether the project is done."""

    body: str
    terminal: bool


def make_update(body: Any) -> Update:
    """From a `schemas.Project`."""
    return Update(body.model_dump_json(), body.status in TERMINAL_STATUSES)


class Listener:
    """One stream's view: the latest update not taken yet, and whether the project is gone."""

    def __init__(self, project_id: str, lossless: bool) -> None:
        self.project_id = project_id
        self.lossless = lossless
        self.gone = False
        self._latest: Update | None = None
        self._arrived = asyncio.Event()

    def offer(self, update: Update | None) -> None:
        """A new body (None: the project was deleted). Only the latest one is kept."""
        if update is None:
            self.gone = True
        else:
            self._latest = update
        self._arrived.set()

    async def wait(self, timeout: float) -> bool:
        """Whether something arrived within `timeout` seconds."""
        # asyncio.timeout, not wait_for: wait_for wraps the wait in a task of its own, and
        # every change wakes every stream.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._arrived.wait()
        arrived = self._arrived.is_set()
        self._arrived.clear()
        return arrived

    def take(self) -> Update | None:
        update, self._latest = self._latest, None
        return update


@dataclass
class _Round:
    """What one tick asks of the database (built in the loop, run in a thread)."""

    watched: dict[str, datetime | None]  # project id -> updated_at last delivered
    variants: dict[str, set[bool]]  # project id -> lossless values its listeners need
    load: set[str] = field(default_factory=set)  # reload whatever updated_at says
    check: bool = False  # read updated_at of every watched project
    refresh_queued: bool = False


Loaded = dict[str, tuple[datetime, dict[bool, Update]] | None]  # None: gone


class Broadcaster:
    """Fans project changes out to the listeners of one event loop."""

    def __init__(self, settings: Settings, poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.redis_url = settings.redis_url
        self._loop = asyncio.get_running_loop()
        self._listeners: dict[str, set[Listener]] = {}
        self._known: dict[str, datetime | None] = {}
        self._fresh: set[str] = set()
        self._dirty: set[str] = set()
        self._resync = True
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0  # database rounds so far (for tests and the curious)

    # -- listeners (called in the loop)

    def subscribe(self, project_id: str, lossless: bool) -> Listener:
        listener = Listener(project_id, lossless)
        self._listeners.setdefault(project_id, set()).add(listener)
        self._known.setdefault(project_id, None)
        self._fresh.add(project_id)
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run(), name="isomix-events")
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        listeners = self._listeners.get(listener.project_id)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[listener.project_id]
            self._known.pop(listener.project_id, None)
        if not self._listeners:
            self._wakeup.set()  # the run loop ends

    @property
    def watched(self) -> Collection[str]:
        return self._listeners.keys()

    def changed(self, project_id: str) -> None:
        """A project changed (from any thread)."""
        # A closed loop has nobody listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._mark_dirty, project_id)

    def _mark_dirty(self, project_id: str) -> None:
        if project_id in self._listeners:
            self._dirty.add(project_id)
            self._wakeup.set()

    # -- the one loop

    async def _run(self) -> None:
        remove = job_events.add_local_listener(self.changed)
        subscriber = (
            self._loop.create_task(self._subscribe_redis(self.redis_url))
            if self.redis_url is not None
            else None
        )
        last_check = last_queued = -math.inf
        try:
            while self._listeners:
                timeout = self.poll_seconds if self.redis_url is None else RESYNC_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                self._wakeup.clear()
                if not self._listeners:
                    break
                now = time.monotonic()
                check = self._resync or now - last_check >= (
                    self.poll_seconds if self.redis_url is None else RESYNC_SECONDS
                )
                refresh_queued = now - last_queued >= QUEUED_REFRESH_SECONDS
                job = _Round(
                    watched={pid: self._known.get(pid) for pid in self._listeners},
                    variants={
                        pid: {listener.lossless for listener in listeners}
                        for pid, listeners in self._listeners.items()
                    },
                    load=(self._fresh | self._dirty) & self._listeners.keys(),
                    check=check,
                    refresh_queued=check and refresh_queued,
                )
                if not job.load and not job.check:
                    continue
                self._fresh, self._dirty, self._resync = set(), set(), False
                if check:
                    last_check = now
                    if refresh_queued:
                        last_queued = now
                try:
                    loaded = await anyio.to_thread.run_sync(_load, job, self.settings)
                except Exception:
                    log.exception("reading the projects that streams follow failed")
                    self._fresh |= job.load  # tried again at the next tick
                    continue
                self.rounds += 1
                self._deliver(loaded)
        finally:
            remove()
            if subscriber is not None:
                subscriber.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await subscriber

    def _deliver(self, loaded: Loaded) -> None:
        for project_id, result in loaded.items():
            listeners = self._listeners.get(project_id)
            if not listeners:
                continue
            if result is None:
                for listener in listeners:
                    listener.offer(None)
                continue
            updated_at, updates = result
            self._known[project_id] = updated_at
            for listener in listeners:
                update = updates.get(listener.lossless)
                if update is not None:
                    listener.offer(update)

    async def _subscribe_redis(self, url: str) -> None:
        import redis.asyncio as aioredis

        while True:
            client = aioredis.Redis.from_url(url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(job_events.CHANNEL)
                    # Whatever was published before this subscription is read from the rows.
                    self._resync = True
                    self._wakeup.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            data = message["data"]
                            self._mark_dirty(data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("project events from Redis interrupted: %s; retrying", error)
                await asyncio.sleep(REDIS_RETRY_SECONDS)
            finally:
                await client.aclose()


def _load(job: _Round, settings: Settings) -> Loaded:
    """The bodies of the watched projects that changed (sync: runs in a worker thread)."""
    loaded: Loaded = {}
    with get_sessionmaker()() as session:
        wanted = set(job.load)
        if job.check and job.watched:
            rows = session.execute(
                select(Project.id, Project.updated_at, Project.status).where(
                    Project.id.in_(list(job.watched))
                )
            ).all()
            seen = {row.id: row for row in rows}
            for project_id, known in job.watched.items():
                row = seen.get(project_id)
                if row is None or as_utc(row.updated_at) != known:
                    wanted.add(project_id)  # changed or gone
                elif job.refresh_queued and row.status == JobStatus.queued:
                    wanted.add(project_id)
        if not wanted:
            return loaded
        projects = session.scalars(select(Project).where(Project.id.in_(list(wanted)))).all()
        queue = QueueSnapshot.load(
            session, [project.id for project in projects if project.status == JobStatus.queued]
        )
        for project in projects:
            updates = {
                lossless: make_update(
                    project_out(
                        project, session=session, settings=settings, queue=queue, lossless=lossless
                    )
                )
                for lossless in job.variants.get(project.id, {True})
            }
            loaded[project.id] = (as_utc(project.updated_at), updates)
        for project_id in wanted - loaded.keys():
            loaded[project_id] = None
    return loaded


_broadcasters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Broadcaster] = (
    weakref.WeakKeyDictionary()
)


def broadcaster_for(
    *, poll_seconds: float = DEFAULT_POLL_SECONDS, settings: Settings | None = None
) -> Broadcaster:
    """The broadcaster of the running event loop: one per API process in `isomix serve`
    (a test client may run several loops, each with its own)."""
    loop = asyncio.get_running_loop()
    broadcaster = _broadcasters.get(loop)
    if broadcaster is None:
        broadcaster = Broadcaster(settings or get_settings(), poll_seconds)
        _broadcasters[loop] = broadcaster
    broadcaster.poll_seconds = poll_seconds
    return broadcaster
