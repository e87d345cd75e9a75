"""Two `isomix serve` processes on one PostgreSQL and one Redis know the same things: a refresh
token issued by one is taken by the other, a login rate limit counts the attempts made on
both, and a change made through one reaches an event stream open on the other (through nginx
too). And the API's Redis subscription comes back after Redis restarts."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from api.support import wav_bytes
from conftest import free_port, unavailable, wait_until
from helpers.nginx_proxy import nginx_binary, start_nginx, write_config
from services import IsomixProcess, RedisService

from isomix.api import events
from isomix.config import get_settings
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs import events as job_events
from isomix.migrate import ensure_schema
from isomix.models import JobStatus, Project, new_id

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
WAIT = 30.0


@dataclass
class Pair:
    one: IsomixProcess
    two: IsomixProcess
    redis_url: str
    log_dir: Path

    def url(self, process: IsomixProcess) -> str:
        return f"http://{process.address}"

    def logs(self) -> str:
        return f"{self.one.log_tail()}\n{self.two.log_tail()}"


@pytest.fixture
def pair(redis_server: str, postgres_server: str, tmp_path: Path) -> Iterator[Pair]:
    name = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgresql://isomix@{postgres_server}/postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
    env = {
        **os.environ,
        "ISOMIX_DATA_DIR": str(tmp_path / "data"),
        "ISOMIX_DATABASE_URL": f"postgresql+psycopg://isomix@{postgres_server}/{name}",
        "ISOMIX_REDIS_URL": redis_server,
        "ISOMIX_AUTH_MODE": "accounts",
        "ISOMIX_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        "ISOMIX_TRUSTED_PROXIES": "127.0.0.1",
        "ISOMIX_RATE_LIMIT_LOGIN_IP": "4/minute",
        "ISOMIX_DEFAULT_MODEL": "classic",
    }
    log_dir = tmp_path / "logs"
    one = IsomixProcess.api("api-1", env, log_dir)
    two = IsomixProcess.api("api-2", env, log_dir)
    try:
        one.start()  # migrates the database first
        two.start()
        yield Pair(one, two, redis_server, log_dir)
    finally:
        one.kill()
        two.kill()
        with psycopg.connect(
            f"postgresql://isomix@{postgres_server}/postgres", autocommit=True
        ) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sign_up(base_url: str) -> httpx.Response:
    email = f"u-{uuid.uuid4().hex[:8]}@example.org"
    response = httpx.post(
        f"{base_url}/api/auth/signup", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return response


def refresh_cookie(response: httpx.Response) -> str:
    # Secure cookie: an http:// client would not send it back by itself.
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == "isomix_refresh":
            return rest.partition(";")[0]
    raise AssertionError(f"no refresh cookie in {response.headers!r}")


def refresh(base_url: str, cookie: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/auth/refresh",
        headers={"Cookie": f"isomix_refresh={cookie}", "Origin": base_url},
    )


def test_refresh_tokens_and_rate_limits_are_shared(pair: Pair) -> None:
    one, two = pair.url(pair.one), pair.url(pair.two)
    first = refresh_cookie(sign_up(one))
    # Issued by one, taken by the other; its successor back on the first.
    answer = refresh(two, first)
    assert answer.status_code == 200, answer.text
    second = refresh_cookie(answer)
    answer = refresh(one, second)
    assert answer.status_code == 200, answer.text
    me = httpx.get(
        f"{two}/api/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"}
    )
    assert me.status_code == 200, me.text
    # A token used once is refused on either instance (reuse is detected across them).
    assert refresh(two, first).status_code == 401

    # Login: 4 attempts a minute from one address, counted across both instances.
    statuses = []
    for base in (one, two, one, two, one, two):
        response = httpx.post(
            f"{base}/api/auth/login",
            json={"email": "nobody@example.org", "password": "wrong password here"},
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 401, 429, 429], pair.logs()


def read_events(url: str, wanted: str, timeout: float) -> list[dict[str, Any]]:
    """The bodies an event stream sends until one has status `wanted`."""
    bodies: list[dict[str, Any]] = []
    with httpx.stream("GET", url, timeout=httpx.Timeout(timeout)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                bodies.append(json.loads(line[6:]))
                if bodies[-1]["status"] == wanted:
                    return bodies
    return bodies


def cancel_seen_through(pair: Pair, watch: str, change: str) -> list[dict[str, Any]]:
    """Upload through `watch`, follow the project's events there, cancel it through
    `change`: what the stream said (no worker runs, so the project waits queued)."""
    token = sign_up(change).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    upload = httpx.post(
        f"{watch}/api/projects",
        headers=auth,
        files={"file": ("song.wav", wav_bytes(0.5, rate=8000), "audio/wav")},
        data={"model": "classic"},
    )
    assert upload.status_code == 202, upload.text
    body = upload.json()
    result: list[list[dict[str, Any]]] = []

    async def scenario() -> None:
        reader = asyncio.create_task(
            asyncio.to_thread(read_events, f"{watch}{body['events_url']}", "cancelled", WAIT)
        )
        await asyncio.sleep(1.0)  # the stream is open and has sent its first body
        cancel = await asyncio.to_thread(
            httpx.post, f"{change}/api/projects/{body['id']}/cancel", headers=auth
        )
        assert cancel.status_code == 200, cancel.text
        result.append(await asyncio.wait_for(reader, WAIT))

    asyncio.run(scenario())
    return result[0]


def test_a_change_through_one_instance_reaches_a_stream_on_the_other(pair: Pair) -> None:
    bodies = cancel_seen_through(pair, pair.url(pair.one), pair.url(pair.two))
    assert [body["status"] for body in bodies] == ["queued", "cancelled"], pair.logs()


def test_event_streams_and_their_changes_through_nginx(pair: Pair, tmp_path: Path) -> None:
    binary = nginx_binary()
    if binary is None:
        unavailable("nginx is not installed (apt-get install nginx)")
    assert binary is not None
    port = free_port()
    main = write_config(
        tmp_path / "nginx", f"127.0.0.1:{port}", [pair.one.address, pair.two.address]
    )
    nginx = start_nginx(binary, main)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), WAIT, "nginx")
        # Whichever instance each request reaches (round robin), the stream follows.
        bodies = cancel_seen_through(pair, url, url)
        assert [body["status"] for body in bodies] == ["queued", "cancelled"]
        # The API's security headers came through once each.
        answer = httpx.get(f"{url}/api/config")
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
        assert len(answer.headers.get_list("content-security-policy")) == 1
        assert "server" not in answer.headers or "nginx/" not in answer.headers["server"]
        # A request id: the client's, passed to the API (echoed or logged), or nginx's own.
    finally:
        nginx.terminate()
        nginx.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# ---------------------------------------------------------------- Redis restarts


def test_the_event_subscription_comes_back_after_redis_restarts(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = RedisService(tmp_path / "redis")
    service.start()
    monkeypatch.setenv("ISOMIX_REDIS_URL", service.url)
    # Messages only: no resync, no queued refresh, and a quick retry of the subscription.
    monkeypatch.setattr(events, "RESYNC_SECONDS", 86400.0)
    monkeypatch.setattr(events, "QUEUED_REFRESH_SECONDS", 86400.0)
    monkeypatch.setattr(events, "REDIS_RETRY_SECONDS", 0.2)
    get_settings.cache_clear()
    reset_engines()
    ensure_schema()
    client = redis.Redis.from_url(service.url)

    def subscribed() -> bool:
        try:
            return any(count for _, count in client.pubsub_numsub(job_events.CHANNEL))
        except redis.ConnectionError:
            return False

    project_id = new_id()
    with get_sessionmaker()() as session:
        session.add(
            Project(
                id=project_id,
                filename="song.wav",
                source_path="projects/x/original.wav",
                content_sha256="0" * 64,
                size_bytes=1,
                container="wav",
                duration_seconds=60.0,
                model="classic",
                status=JobStatus.queued,
            )
        )
        session.commit()

    async def next_progress(listener: events.Listener) -> float:
        assert await listener.wait(WAIT), "no update arrived"
        update = listener.take()
        assert update is not None
        return float(json.loads(update.body)["progress"])

    async def scenario() -> list[float]:
        broadcaster = events.broadcaster_for()
        listener = broadcaster.subscribe(project_id, True)
        seen = [await next_progress(listener)]
        await asyncio.to_thread(wait_until, subscribed, WAIT, "the subscription")
        await asyncio.to_thread(in_a_worker_process, project_id, "claim", None)
        seen.append(await next_progress(listener))
        await asyncio.to_thread(service.restart)
        await asyncio.to_thread(wait_until, subscribed, WAIT, "the subscription again")
        await asyncio.to_thread(in_a_worker_process, project_id, "renew", 30.0)
        seen.append(await next_progress(listener))
        broadcaster.unsubscribe(listener)
        return seen

    try:
        assert asyncio.run(scenario()) == [0.0, 0.0, 30.0]
    finally:
        client.close()
        service.stop()
        reset_engines()
        get_settings.cache_clear()


def in_a_worker_process(project_id: str, call: str, progress: float | None) -> None:
    """A lease write in another process, as a worker makes it: its change reaches this
    process only through Redis."""
    extra = "" if progress is None else f", progress={progress}"
    code = (
        "from isomix.jobs import lease; from isomix.models import Project; "
        f"print(lease.{call}(Project, {project_id!r}, worker_id='w'{extra}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
