"""`isomix serve` as a user runs it: schema, embedded worker, HTTP, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from isomix.db import reset_engines
from isomix.migrate import current_revision, head_revision

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; its parent has exited or will reap it.
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_serve_migrates_runs_the_worker_and_stops_it(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    # What a crash in the middle of an upload leaves: a folder with no row and a partial file.
    partial = data_dir / "projects" / "0b5e8c1e-7a7e-4d7e-9a51-5b0f2f7a4c11"
    partial.mkdir(parents=True)
    (partial / "original.upload").write_bytes(b"ID3" + bytes(1000))
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "isomix", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["queue"].startswith("ok")
        assert not partial.exists(), "the partial upload survived the restart"
        assert httpx.get(f"{base}/", timeout=5).status_code == 200
        reset_engines()
        assert current_revision() == head_revision()
        workers = children(server.pid)
        assert workers, "no embedded worker process"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
            log.close()
    assert server.returncode == 0
    for worker in workers:
        deadline = time.monotonic() + 10
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(worker), f"worker {worker} outlived the server"
