"""A real `isomix serve` process for the API tests that need one whole (logs, error reports):
started on a free port with extra environment, its output kept in a file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    base: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        """Every JSON line of the server and its worker (print() lines are not JSON)."""
        found = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found


@contextmanager
def serve(
    tmp_path: Path, env: dict[str, str], *, launcher: Sequence[str] = ("-m", "isomix")
) -> Iterator[Served]:
    """`isomix serve` (or a tests/helpers launcher running the same command), answering
    /readyz; stopped with SIGINT as a user would, killed if it does not stop."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *launcher, "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    served = Served(f"http://127.0.0.1:{port}", log_path, process)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{served.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, served.output()
            assert time.monotonic() < deadline, f"server did not start:\n{served.output()}"
            time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
