"""The embedded worker stops on SIGTERM; Ctrl-C (SIGINT, sent to the whole process group) is
the server's to handle: it stops the worker through the pipe."""

from __future__ import annotations

import os
import signal
import time

import pytest

from isomix.jobs.embedded import start_embedded_worker
from isomix.migrate import ensure_schema


@pytest.mark.timeout(90)
@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_a_signal_stops_the_idle_worker(signum: int) -> None:
    ensure_schema()
    worker = start_embedded_worker()
    try:
        # Let it reach its idle loop, where it waits on the stop pipe between polls.
        time.sleep(3)
        pid = worker.pid
        assert pid is not None
        os.kill(pid, signum)
        deadline = time.monotonic() + 15
        while not worker.exit_codes:
            assert time.monotonic() < deadline, "worker hung after the signal"
            time.sleep(0.05)
        # It stopped by itself (exit code 0), neither killed nor crashed; the server did not
        # ask, so its supervisor starts another one.
        assert worker.exit_codes == [0]
        assert worker.restarts == 1
    finally:
        worker.stop()
    assert not worker.is_alive()


@pytest.mark.timeout(90)
def test_ctrl_c_is_left_to_the_server() -> None:
    ensure_schema()
    worker = start_embedded_worker()
    try:
        time.sleep(3)
        pid = worker.pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)
        time.sleep(2)
        # Still the same process: no death, no restart while the server shuts down.
        assert worker.exit_codes == [] and worker.restarts == 0 and worker.pid == pid
    finally:
        worker.stop()
    assert not worker.is_alive()
