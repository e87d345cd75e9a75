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
        # Let it reach its idle loop, where it waits on the stop event between polls.
        time.sleep(3)
        assert worker.process.is_alive()
        assert worker.process.pid is not None
        os.kill(worker.process.pid, signum)
        worker.process.join(15)
        assert not worker.process.is_alive(), "worker hung after the signal"
    finally:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
