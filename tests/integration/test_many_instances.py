"""The deployment of the design on one machine, through failures: Debian's nginx with
deploy/nginx.conf in front of two `isomix serve` instances (accounts mode), two Celery workers,
Redis, PostgreSQL and an S3 server (moto). Four users sign up and upload 20 distinct songs
through nginx only; meanwhile a worker is killed with kill -9 in the middle of a job and
restarted, Redis and PostgreSQL are each restarted, and an API instance is killed with kill -9
and restarted. The clients retry on connection errors and on 503 with Retry-After, as the API
asks them to, and record every status they see.

At the end: every project is ready exactly once (one separation_stats row per song, one stem
set per project, none shared or left over), every object the rows name is in the bucket, no
object in the bucket belongs to no row, and the only 5xx any client saw were 503s carrying
Retry-After while PostgreSQL was restarting.

The API instance is killed while clients read (GET, which nginx passes to the other instance),
not in the middle of an upload: a POST whose streamed body an instance was reading when it died
is a 502 by nature, since nothing can replay it; a client would send it again.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import threading
import time
import uuid
import wave
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from conftest import (
    JOB_TIME_LIMIT,
    VISIBILITY_TIMEOUT,
    children_of,
    free_port,
    unavailable,
    wait_until,
)
from helpers.nginx_proxy import nginx_binary, start_nginx, write_config
from s3_server import S3Server, running_s3_server
from services import IsomixProcess, PostgresService, RedisService

from isomix import stemsets, storage

pytestmark = pytest.mark.integration

USERS = 4
SONGS_PER_USER = 5
SONG_SECONDS = 3.0
RATE = 44100
PASSWORD = "correct horse battery staple"
BUCKET = "isomix-many"
PREFIX = "isomix"
RUN_TIMEOUT = 150.0
# A 503 seen this long after PostgreSQL answers again is not the restart's.
RESTART_SLACK = 5.0


# ---------------------------------------------------------------- the deployment


@dataclass
class Deployment:
    nginx_url: str
    database_url: str
    postgres: PostgresService
    redis: RedisService
    s3: S3Server
    apis: list[IsomixProcess]
    workers: list[IsomixProcess]
    nginx_dir: Path

    def logs(self) -> str:
        parts = [process.log_tail() for process in (*self.apis, *self.workers)]
        error_log = self.nginx_dir / "error.log"
        if error_log.exists():
            parts.append("--- nginx error.log\n" + error_log.read_text()[-4000:])
        return "\n".join(parts)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    binary = nginx_binary()
    if binary is None:
        unavailable("nginx is not installed (apt-get install nginx)")
    assert binary is not None
    try:
        s3_context = running_s3_server()
        s3 = s3_context.__enter__()
    except RuntimeError as error:
        unavailable(str(error))
        raise
    postgres = PostgresService()
    redis_service = RedisService(tmp_path / "redis")
    started: list[IsomixProcess] = []
    nginx = None
    try:
        postgres.start()
        redis_service.start()
        database_url = postgres.create_database("isomix")
        s3.create_bucket(BUCKET)
        plans = tmp_path / "plans.toml"
        # Five songs each today, and the workers may run them side by side.
        plans.write_text("[free]\nuploads_per_day = 10\nconcurrent_jobs = 3\n")
        env = {
            **os.environ,
            **s3.env(BUCKET, PREFIX),
            # Until the S3 store is used, every process shares this folder, as the README's
            # machines share a network disk.
            "ISOMIX_DATA_DIR": str(tmp_path / "data"),
            "ISOMIX_DATABASE_URL": database_url,
            "ISOMIX_REDIS_URL": redis_service.url,
            "ISOMIX_AUTH_MODE": "accounts",
            "ISOMIX_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
            "ISOMIX_TRUSTED_PROXIES": "127.0.0.1",
            "ISOMIX_PLANS_FILE": str(plans),
            "ISOMIX_DEFAULT_MODEL": "classic",
            "ISOMIX_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "ISOMIX_JOB_TIME_LIMIT": str(JOB_TIME_LIMIT),
            "ISOMIX_TORCH_THREADS": "1",
        }
        logs = tmp_path / "logs"
        apis = [IsomixProcess.api(f"api-{n}", env, logs) for n in (1, 2)]
        workers = [IsomixProcess.worker(f"worker-{n}", env, logs) for n in (1, 2)]
        for process in (*apis, *workers):
            started.append(process)
            process.start()
        port = free_port()
        nginx_dir = tmp_path / "nginx"
        main = write_config(nginx_dir, f"127.0.0.1:{port}", [api.address for api in apis])
        nginx = start_nginx(binary, main)
        url = f"http://127.0.0.1:{port}"

        def nginx_answers() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(nginx_answers, 30, "nginx")
        yield Deployment(url, database_url, postgres, redis_service, s3, apis, workers, nginx_dir)
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        for process in started:
            process.kill()
        with contextlib.suppress(Exception):
            redis_service.stop()
        with contextlib.suppress(Exception):
            postgres.remove()
        s3_context.__exit__(None, None, None)


# ---------------------------------------------------------------- songs and clients


def song(user: int, index: int) -> bytes:
    """A short stereo WAV whose content is this user's and this index's only (no dedup)."""
    rng = np.random.default_rng(1000 * user + index)
    t = np.arange(round(SONG_SECONDS * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * (110 + 37 * user + 11 * index) * t)
    beats = (np.sin(2 * np.pi * 2 * t) > 0.95) * rng.standard_normal(t.size) * 0.2
    left = tone + beats + 0.01 * rng.standard_normal(t.size)
    right = 0.5 * tone + beats + 0.01 * rng.standard_normal(t.size)
    pcm = (np.clip(np.stack([left, right], axis=1), -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


@dataclass
class Seen:
    at: float
    method: str
    path: str
    status: int | None  # None: the connection failed
    retry_after: str | None = None


@dataclass
class Journal:
    """Every answer any client got, and when PostgreSQL was down."""

    seen: list[Seen] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    database_down: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, entry: Seen) -> None:
        with self.lock:
            self.seen.append(entry)

    def accept(self, project_id: str) -> None:
        with self.lock:
            if project_id not in self.accepted:
                self.accepted.append(project_id)

    def during_restart(self, at: float) -> bool:
        return any(start <= at <= end + RESTART_SLACK for start, end in self.database_down)


class Client:
    """One user's browser, talking to nginx only: retries connection errors and 503s with
    Retry-After (waiting as asked, at most a second here), records everything."""

    def __init__(self, base_url: str, journal: Journal) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.journal = journal
        self.token: str | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + 60
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while True:
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                self.journal.note(Seen(time.monotonic(), method, path, None))
                assert time.monotonic() < deadline, f"{method} {path}: no answer for 60 s"
                time.sleep(0.2)
                continue
            retry_after = response.headers.get("retry-after")
            self.journal.note(
                Seen(time.monotonic(), method, path, response.status_code, retry_after)
            )
            if response.status_code == 503 and retry_after is not None:
                assert time.monotonic() < deadline, f"{method} {path}: 503 for 60 s"
                time.sleep(min(float(retry_after), 1.0))
                continue
            return response

    def sign_up(self, email: str) -> None:
        response = self.request(
            "POST", "/api/auth/signup", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        self.token = response.json()["access_token"]

    def upload(self, content: bytes, name: str) -> str:
        response = self.request(
            "POST",
            "/api/projects",
            files={"file": (name, content, "audio/wav")},
            data={"model": "classic"},
        )
        # 200: an earlier try of this very upload went through (its answer was lost).
        assert response.status_code in (200, 202), response.text
        return str(response.json()["id"])

    def wait_ready(self, project_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.request("GET", f"/api/projects/{project_id}")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] in ("ready", "failed"):
                return body
            assert time.monotonic() < deadline, f"{project_id} still {body['status']}"
            time.sleep(0.3)


def run_user(base_url: str, user: int, journal: Journal, results: dict[str, Any]) -> None:
    client = Client(base_url, journal)
    try:
        client.sign_up(f"user{user}-{uuid.uuid4().hex[:6]}@example.org")
        ids = []
        for index in range(SONGS_PER_USER):
            project_id = client.upload(song(user, index), f"song {user}-{index}.wav")
            journal.accept(project_id)
            ids.append(project_id)
            time.sleep(0.3)  # a person picks the next file
        for project_id in ids:
            results[project_id] = client.wait_ready(project_id, RUN_TIMEOUT)
    except BaseException as error:  # reported by the test, with the logs
        results[f"user {user}"] = error
    finally:
        client.http.close()


# ---------------------------------------------------------------- failures


def database(deployment: Deployment) -> psycopg.Connection[Any]:
    url = deployment.database_url.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, connect_timeout=2)


def processing_owners(deployment: Deployment) -> list[str]:
    with contextlib.suppress(psycopg.Error), database(deployment) as db:
        rows = db.execute("SELECT lease_owner FROM projects WHERE status = 'processing'").fetchall()
        return [str(row[0]) for row in rows if row[0]]
    return []


def chaos(deployment: Deployment, journal: Journal, done: list[str]) -> None:
    def accepted(count: int) -> Any:
        return lambda: len(journal.accepted) >= count

    # 1. A worker dies with kill -9 in the middle of a job (its pool child holds the lease).
    worker = deployment.workers[0]
    wait_until(accepted(2), 60, "the first uploads")
    assert worker.process is not None

    def worker_busy() -> bool:
        children = children_of(worker.process.pid) if worker.process else []
        owners = processing_owners(deployment)
        return any(f":{child}:" in owner for child in children for owner in owners)

    with contextlib.suppress(TimeoutError):
        wait_until(worker_busy, 30, "worker-1 to run a job")
    worker.kill()
    done.append("worker killed")
    time.sleep(1)
    worker.start()
    # Started again (its pool child forked once the database answered), as an orchestrator
    # restarts a dead container; Redis is restarted only then.
    wait_until(lambda: bool(worker.process and children_of(worker.process.pid)), 60, "worker-1")

    # 2. Redis restarts (append-only: queued messages survive, as in production).
    wait_until(accepted(7), 60, "more uploads")
    deployment.redis.restart()
    done.append("redis restarted")

    # 3. PostgreSQL restarts while uploads go on.
    wait_until(accepted(11), 60, "more uploads")
    down = time.monotonic()
    deployment.postgres.stop()
    time.sleep(1.5)
    deployment.postgres.start()
    journal.database_down.append((down, time.monotonic()))
    done.append("postgres restarted")

    # 4. An API instance dies with kill -9 once the uploads are in, while clients read.
    wait_until(accepted(USERS * SONGS_PER_USER), 90, "every upload")
    deployment.apis[0].kill()
    done.append("api killed")
    time.sleep(2)  # every read meanwhile goes to the other instance
    deployment.apis[0].start()
    done.append("api restarted")


# ---------------------------------------------------------------- the test


def test_twenty_songs_through_nginx_two_apis_two_workers_and_restarts(
    deployment: Deployment,
) -> None:
    journal = Journal()
    results: dict[str, Any] = {}
    done: list[str] = []
    failures: list[BaseException] = []

    def chaos_thread() -> None:
        try:
            chaos(deployment, journal, done)
        except BaseException as error:
            failures.append(error)

    threads = [
        threading.Thread(target=run_user, args=(deployment.nginx_url, user, journal, results))
        for user in range(USERS)
    ]
    threads.append(threading.Thread(target=chaos_thread))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_TIMEOUT + 60)
    assert not any(thread.is_alive() for thread in threads), deployment.logs()
    assert not failures, f"{failures!r}\n{deployment.logs()}"
    errors = {key: value for key, value in results.items() if isinstance(value, BaseException)}
    assert not errors, f"{errors!r}\n{deployment.logs()}"
    assert done == [
        "worker killed",
        "redis restarted",
        "postgres restarted",
        "api killed",
        "api restarted",
    ]

    # What the clients saw: no 5xx but the 503s with Retry-After of the database restart.
    server_errors = [
        entry
        for entry in journal.seen
        if entry.status is not None
        and entry.status >= 500
        and not (
            entry.status == 503
            and entry.retry_after is not None
            and journal.during_restart(entry.at)
        )
    ]
    assert server_errors == [], f"{server_errors}\n{deployment.logs()}"
    statuses = Counter(entry.status for entry in journal.seen)
    during = [entry for entry in journal.seen if journal.during_restart(entry.at)]
    print(f"answers: {dict(statuses)}; {len(during)} while PostgreSQL restarted")
    assert during, "no client asked anything while PostgreSQL restarted"
    assert all(entry.status is not None for entry in journal.seen), "nginx itself went away"

    # Every project ready exactly once.
    bodies = [value for value in results.values() if isinstance(value, dict)]
    assert len(bodies) == USERS * SONGS_PER_USER
    assert [body["status"] for body in bodies] == ["ready"] * len(bodies), [
        (body["id"], body["status"], body.get("error")) for body in bodies
    ]

    # The MP3 previews follow the separations (a previews turn is queued behind them, again
    # while any set is pending): every one gets done.
    def no_previews_pending() -> bool:
        with database(deployment) as db:
            row = db.execute("SELECT count(*) FROM stem_sets WHERE previews_pending").fetchone()
        return row is not None and row[0] == 0

    wait_until(no_previews_pending, 120, "every stem set's MP3 previews")
    with database(deployment) as db:
        projects = db.execute(
            "SELECT id, status, finished_at, stem_set_id, source_path FROM projects"
        ).fetchall()
        stem_sets = db.execute(
            "SELECT id, directory, stem_names, refcount, previews_pending FROM stem_sets"
        ).fetchall()
        (stats,) = db.execute("SELECT count(*) FROM separation_stats").fetchone() or (0,)
    assert len(projects) == USERS * SONGS_PER_USER
    assert {row[1] for row in projects} == {"ready"}
    assert all(row[2] is not None for row in projects)
    assert stats == len(projects)  # one finished separation per song, none twice
    assert len({row[3] for row in projects}) == len(projects) == len(stem_sets)
    assert {row[0] for row in stem_sets} == {row[3] for row in projects}
    assert all(row[3] == 1 for row in stem_sets)

    # Every object the rows name is in the bucket (the MP3 previews, their quick WAVs gone),
    # and every object belongs to a row.
    keys = bucket_keys(deployment.s3)
    assert keys, "the bucket is empty: nothing reached the S3 store (is ISOMIX_STORAGE_URL used?)"
    for _project_id, _status, _finished, _stem_set, source_path in projects:
        assert source_path in keys, source_path
    owned = [f"projects/{row[0]}/" for row in projects]
    for _id, directory, names_value, _refcount, _pending in stem_sets:
        owned.append(directory.rstrip("/") + "/")
        wanted = [storage.peaks_file(directory)]
        for name in stemsets.names_of(names_value):
            wanted.append(storage.stem_file(directory, name, "master"))
            wanted.append(storage.stem_file(directory, name, "preview"))
            assert storage.quick_preview_file(directory, name) not in keys, name
        missing = [key for key in wanted if key not in keys]
        assert missing == [], missing
    orphans = sorted(key for key in keys if not any(key.startswith(p) for p in owned))
    assert orphans == [], orphans


def bucket_keys(s3: S3Server) -> set[str]:
    """The keys under the prefix, relative to it (as storage.py names them)."""
    client = s3.client()
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"{PREFIX}/"
    ):
        keys.update(item["Key"][len(PREFIX) + 1 :] for item in page.get("Contents", []))
    return keys
