"""The embedded worker stops on SIGTERM/SIGINT (Ctrl-C reaches the whole process group)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from isomix.jobs.embedded import start_embedded_worker
from isomix.migrate import ensure_schema


@pytest.mark.timeout(90)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
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
