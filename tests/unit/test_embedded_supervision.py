"""`isomix serve` supervises its worker: restarts with back-off, availability, clean stops."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import dying_worker
from jobs_helpers import add_project, get_project

from isomix.db import reset_engines
from isomix.jobs import embedded
from isomix.jobs.embedded import EmbeddedWorker, RestartPolicy
from isomix.migrate import ensure_schema
from isomix.models import JobStatus

JOB_DEADLINE_SECONDS = 180  # generous: each spawned worker imports torch first


@pytest.fixture(autouse=True)
def database(data_dir: Path) -> Iterator[None]:
    reset_engines()
    ensure_schema()
    yield
    reset_engines()


def wait_for(condition: object, seconds: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.05)


def test_restart_delay_doubles_up_to_the_cap() -> None:
    policy = RestartPolicy()
    delays = [policy.delay(deaths) for deaths in range(1, 10)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert RestartPolicy(first_delay=0.5, max_delay=3).delay(1000) == 3


def test_a_killed_worker_is_restarted_and_its_job_finishes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 20 s of audio: the job runs for seconds, long enough to be caught while processing.
    project_id = add_project(seconds=20)
    worker = embedded.start_embedded_worker()
    try:
        first_pid = worker.pid
        assert first_pid is not None

        def running_in_first_worker() -> bool:
            project = get_project(project_id)
            owner = project.lease_owner or ""
            return project.status == JobStatus.processing and f":{first_pid}:" in owner

        wait_for(running_in_first_worker, JOB_DEADLINE_SECONDS, "the job to start")
        with caplog.at_level(logging.WARNING, logger="isomix.jobs.embedded"):
            os.kill(first_pid, signal.SIGKILL)
            wait_for(
                lambda: get_project(project_id).status in (JobStatus.ready, JobStatus.failed),
                JOB_DEADLINE_SECONDS,
                "the job to finish after the restart",
            )
        assert worker.availability().available
        second_pid = worker.pid
    finally:
        worker.stop()
    project = get_project(project_id)
    assert project.status == JobStatus.ready, project.error
    assert project.attempts == 2  # the killed attempt counted, the second one finished
    assert (project.stage, project.eta_seconds) == (None, None)
    assert worker.restarts == 1
    assert worker.exit_codes == [-signal.SIGKILL, 0]  # killed, then stopped when asked
    assert second_pid not in (None, first_pid)
    # One line per restart, saying which process died, how, and when the next one starts.
    (line,) = [r.getMessage() for r in caplog.records if "restarting it" in r.getMessage()]
    assert re.fullmatch(
        rf"embedded worker \(pid {first_pid}\) was killed by SIGKILL after \d+ s; "
        r"restarting it in 1 s \(restart 1\)",
        line,
    ), line
    assert not worker.is_alive()


def test_a_worker_that_cannot_run_is_reported_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every start dies at once: the test swaps the spawn target in this process only.
    monkeypatch.setattr(embedded, "_worker_main", dying_worker.exit_at_once)
    policy = RestartPolicy(first_delay=0.05, max_delay=0.2, stable_after=600, crash_loop=2)
    worker = EmbeddedWorker(policy).start()
    try:
        wait_for(lambda: worker.restarts > policy.crash_loop, 60, "the worker to crash-loop")
        # Crash-looping: unavailable whether or not a process happens to be up right now.
        for _ in range(5):
            state = worker.availability()
            assert not state.available
            assert "keeps dying" in state.reason
            # Until it restarts and has run long enough to count again.
            assert 1 <= state.retry_after <= policy.max_delay + policy.stable_after + 1
            time.sleep(0.05)
    finally:
        worker.stop()
    assert set(worker.exit_codes[:-1]) == {dying_worker.EXIT_CODE}
    assert not worker.is_alive()
    assert not worker.availability().available  # stopped: nothing takes work any more


def test_a_healthy_run_ends_the_crash_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    real_worker_main = embedded._worker_main
    monkeypatch.setattr(embedded, "_worker_main", dying_worker.exit_at_once)
    policy = RestartPolicy(first_delay=0.05, max_delay=0.1, stable_after=2.0, crash_loop=1)
    worker = EmbeddedWorker(policy).start()
    try:
        wait_for(lambda: worker.restarts > policy.crash_loop, 60, "the worker to crash-loop")
        assert not worker.availability().available
        # The cause goes away: the next start is the real worker. (Not monkeypatch.undo(): it
        # would also give back the test's data directory setting.)
        monkeypatch.setattr(embedded, "_worker_main", real_worker_main)
        wait_for(lambda: worker.availability().available, 120, "a healthy run")
        assert worker.is_alive()
    finally:
        worker.stop()


# What the server does at the end of its life, in a process of its own, so that the resource
# tracker's warnings (printed when the process and its tracker end) can be read: a stop
# asked for, or the server killed by SIGTERM before it could clean up (uvicorn re-raises the
# signal after its shutdown, and the default action ends the process at once).
LIFE_CYCLE = textwrap.dedent(
    """
    import os, signal, sys, time
    from isomix.jobs.embedded import start_embedded_worker
    from isomix.migrate import ensure_schema

    if __name__ == "__main__":
        ensure_schema()
        worker = start_embedded_worker()
        time.sleep(2)
        if sys.argv[1] == "stop":
            worker.stop()
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(60)  # not reached
    """
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("end", ["stop", "sigterm"])
def test_a_stopped_or_killed_server_leaks_nothing(tmp_path: Path, end: str) -> None:
    script = tmp_path / "life_cycle.py"
    script.write_text(LIFE_CYCLE)
    run = subprocess.run(
        [sys.executable, str(script), end],
        capture_output=True,
        text=True,
        # stderr closes once every process holding it ended: the worker and the resource
        # tracker included, so a worker that outlived its server fails this by timeout.
        timeout=90,
        env={**os.environ, "PYTHONWARNINGS": "default"},
    )
    assert run.returncode == (0 if end == "stop" else -signal.SIGTERM), run.stderr
    assert "resource_tracker" not in run.stderr
    assert "leaked" not in run.stderr
    assert "embedded worker stopped" in run.stderr  # the worker ended on its own terms
