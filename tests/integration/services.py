"""Servers a test can restart or kill: Redis, PostgreSQL, `isomix serve`, `isomix worker`.

conftest.py's session servers live for the whole session and are shared by every test, so a
test that restarts them would pull them from under the others. These are a test's own, on the
same binaries, ports and readiness checks (conftest's `free_port`, `wait_until`, `_pg_binary`,
`_as_postgres_user`), and keep their port and data across a restart, as a real restart does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import psycopg
import redis
from conftest import (
    START_TIMEOUT,
    _as_postgres_user,
    _pg_binary,
    free_port,
    init_postgres_cluster,
    unavailable,
    wait_until,
)


class RedisService:
    """redis-server with an append-only file (as deploy/ runs it): queued messages survive a
    restart, as they do in production."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        assert binary is not None
        self.binary = binary
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, START_TIMEOUT, "redis-server")

    def answers(self) -> bool:
        with (
            contextlib.suppress(redis.ConnectionError),
            redis.Redis.from_url(self.url, socket_connect_timeout=1) as client,
        ):
            return bool(client.ping())
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis writes its append-only file and exits
            self.process.wait(30)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


class PostgresService:
    """A PostgreSQL cluster of its own; `restart` is a fast shutdown (every session is cut, as
    in a failover or an upgrade) and a start on the same port and data."""

    def __init__(self) -> None:
        initdb, postgres = _pg_binary("initdb"), _pg_binary("postgres")
        if initdb is None or postgres is None:
            unavailable("PostgreSQL is not installed (apt-get install postgresql)")
        assert initdb is not None and postgres is not None
        self.binary = postgres
        # Under /tmp, not pytest's folder: run as root, the server is `nobody`, who cannot
        # enter pytest's private folders.
        self.directory, self.data = init_postgres_cluster(initdb)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://isomix@{self.address}/{database}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *_as_postgres_user(),
                self.binary,
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.directory),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, START_TIMEOUT, "PostgreSQL")

    def answers(self) -> bool:
        try:
            with psycopg.connect(f"postgresql://isomix@{self.address}/postgres", connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        with psycopg.connect(f"postgresql://isomix@{self.address}/postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # Fast shutdown (every session is cut), sent to the postmaster itself: runuser,
            # in front of it when run as root, does not pass SIGINT on.
            pid_file = self.data / "postmaster.pid"
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
            self.process.wait(30)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class IsomixProcess:
    """`isomix serve` or `isomix worker` in a process group of its own, with a log file."""

    def __init__(
        self,
        name: str,
        arguments: list[str],
        env: Mapping[str, str],
        log_dir: Path,
        *,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.arguments = arguments
        self.env = dict(env)
        self.log_dir = log_dir
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @classmethod
    def api(cls, name: str, env: Mapping[str, str], log_dir: Path) -> IsomixProcess:
        port = free_port()
        arguments = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        return cls(name, arguments, env, log_dir, port=port)

    @classmethod
    def worker(cls, name: str, env: Mapping[str, str], log_dir: Path) -> IsomixProcess:
        return cls(name, ["worker", "--concurrency", "1", "--loglevel", "info"], env, log_dir)

    @property
    def address(self) -> str:
        assert self.port is not None
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, *, wait: bool = True) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "isomix", *self.arguments],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: kill -9 takes the pool children too
            )
        if wait and self.port is not None:
            wait_until(self.answers, START_TIMEOUT, f"{self.name} to answer")

    def answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
        try:
            return httpx.get(f"http://{self.address}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """kill -9 of the whole process group (pool children included), and reaped."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def log_tail(self, chars: int = 6000) -> str:
        if not self.log_path.exists():
            return ""
        return f"--- {self.name}\n{self.log_path.read_text(errors='replace')[-chars:]}"
