"""Workers separate at ISOMIX_WORKER_NICE: read from the running worker process itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isomix.config import get_settings
from isomix.db import reset_engines
from isomix.jobs import embedded
from isomix.migrate import ensure_schema

START_DEADLINE_SECONDS = 120  # a spawned worker imports the jobs code first


@pytest.fixture(autouse=True)
def database(data_dir: Path) -> Iterator[None]:
    reset_engines()
    ensure_schema()
    yield
    reset_engines()


def niceness_reaches(pid: int, wanted: int) -> int:
    """The niceness of `pid` once it is `wanted` (or the last one read at the deadline)."""
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while True:
        seen = os.getpriority(os.PRIO_PROCESS, pid)
        if seen == wanted or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


@pytest.mark.parametrize("nice", [None, 7])
def test_the_embedded_worker_runs_at_the_configured_niceness(
    nice: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if nice is not None:
        monkeypatch.setenv("ISOMIX_WORKER_NICE", str(nice))
    get_settings.cache_clear()
    wanted = get_settings().worker_nice
    assert wanted == (10 if nice is None else nice)
    server_niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if server_niceness >= wanted:
        pytest.skip(f"this test process already runs at nice {server_niceness}")
    worker = embedded.start_embedded_worker()
    try:
        pid = worker.pid
        assert pid is not None
        assert niceness_reaches(pid, wanted) == wanted
        # The server itself keeps its priority.
        assert os.getpriority(os.PRIO_PROCESS, 0) == server_niceness
    finally:
        worker.stop()


def test_lower_priority_never_lowers_the_niceness_of_a_nicer_process(tmp_path: Path) -> None:
    code = (
        "import os; from isomix.jobs.priority import lower_priority; "
        "os.environ['ISOMIX_WORKER_NICE'] = '3'; print(lower_priority())"
    )
    result = subprocess.run(
        ["nice", "-n", "12", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ISOMIX_DATA_DIR": str(tmp_path)},
    )
    assert int(result.stdout.strip()) >= 12
