"""Real services for the integration tests: redis-server and PostgreSQL started once per
session in temporary directories on free loopback ports, and real `isomix worker` processes.

Missing servers skip the tests on a developer machine and FAIL them in CI (CI=true): a suite
that silently tests nothing is worse than a red one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import redis

from isomix.config import get_settings
from isomix.db import reset_engines
from isomix.jobs import broker, celery_app
from isomix.migrate import ensure_schema

PG_BIN_DIRS = (
    "/usr/local/bin",
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)
# Short enough that a killed worker's job comes back within seconds (lease = half of it).
VISIBILITY_TIMEOUT = 16
JOB_TIME_LIMIT = 14
START_TIMEOUT = 30.0


def unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: integration tests must run, not skip)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    assert binary is not None
    directory = Path(tempfile.mkdtemp(prefix="isomix-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def answers() -> bool:
        with contextlib.suppress(redis.ConnectionError):
            return bool(client.ping())
        return False

    try:
        wait_until(answers, START_TIMEOUT, "redis-server")
        yield url
    finally:
        client.close()
        stop_process(process)
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------- postgres


def _pg_binary(name: str) -> str | None:
    for directory in PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: run it as `nobody` then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "nobody", "--"]


def init_postgres_cluster(initdb: str) -> tuple[Path, Path]:
    """A new cluster (user `isomix`, trust auth) in a folder of its own under /tmp, owned by
    `nobody` when run as root; (folder, data directory)."""
    directory = Path(tempfile.mkdtemp(prefix="isomix-pg-"))
    if os.geteuid() == 0:
        os.chown(directory, pwd.getpwnam("nobody").pw_uid, -1)
    data = directory / "data"
    subprocess.run(
        [
            *_as_postgres_user(),
            initdb,
            "-D",
            str(data),
            "-U",
            "isomix",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return directory, data


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    initdb, postgres = _pg_binary("initdb"), _pg_binary("postgres")
    if initdb is None or postgres is None:
        unavailable("PostgreSQL is not installed (apt-get install postgresql)")
    assert initdb is not None and postgres is not None
    directory, data = init_postgres_cluster(initdb)
    port = free_port()
    log = (directory / "postgres.log").open("wb") if os.geteuid() != 0 else None
    process = subprocess.Popen(
        [
            *_as_postgres_user(),
            postgres,
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(directory),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.DEVNULL,
    )
    if log is not None:
        log.close()  # the server has its own copy of the descriptor
    admin = f"postgresql://isomix@127.0.0.1:{port}/postgres"

    def answers() -> bool:
        try:
            with psycopg.connect(admin, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    try:
        wait_until(answers, START_TIMEOUT, "PostgreSQL")
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(process, timeout=20)
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------- a stack per test


@dataclass
class Stack:
    """One test's database, broker and data directory, and the workers it starts."""

    database_url: str
    redis_url: str
    data_dir: Path
    log_dir: Path
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(
        self, *, launcher: Sequence[str] = ("-m", "isomix")
    ) -> subprocess.Popen[bytes]:
        """`isomix worker` in a new process; `launcher` replaces `-m isomix` (e.g. a script
        under tests/helpers that patches the worker before running the same command)."""
        with (self.log_dir / f"worker-{len(self.workers)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, *launcher, "worker", "--concurrency", "1", "--loglevel", "info"],
                env=self.env,
                stdout=log,  # the child has its own copy of the descriptor
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: teardown kills pool children
            )
        self.workers.append(process)
        return process

    def worker_logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

    def stop_workers(self) -> None:
        for process in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


@pytest.fixture
def stack(
    redis_server: str,
    postgres_server: str,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgresql://isomix@{postgres_server}/postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    database_url = f"postgresql+psycopg://isomix@{postgres_server}/{name}"
    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
    settings_env = {
        "ISOMIX_DATABASE_URL": database_url,
        "ISOMIX_REDIS_URL": redis_server,
        "ISOMIX_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "ISOMIX_JOB_TIME_LIMIT": str(JOB_TIME_LIMIT),
        "ISOMIX_DEFAULT_MODEL": "demucs_unittest",
        "ISOMIX_TORCH_THREADS": "1",
    }
    for key, value in settings_env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    broker.get_app.cache_clear()
    celery_app.get_app.cache_clear()
    reset_engines()
    ensure_schema()
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    env = {**os.environ, "ISOMIX_DATA_DIR": str(data_dir)}
    result = Stack(database_url, redis_server, data_dir, log_dir, env)
    try:
        yield result
    finally:
        result.stop_workers()
        reset_engines()
        broker.get_app.cache_clear()
        celery_app.get_app.cache_clear()
        get_settings.cache_clear()
        with psycopg.connect(
            f"postgresql://isomix@{postgres_server}/postgres", autocommit=True
        ) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    stack_fixture = getattr(item, "funcargs", {}).get("stack")
    if report.when == "call" and report.failed and isinstance(stack_fixture, Stack):
        report.sections.append(("worker logs", stack_fixture.worker_logs()))
