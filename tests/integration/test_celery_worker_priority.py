"""A Celery pool child separates at ISOMIX_WORKER_NICE while its parent keeps its priority."""

from __future__ import annotations

import os

import pytest
from conftest import Stack, children_of, wait_until

pytestmark = pytest.mark.integration


def test_celery_pool_child_runs_at_the_configured_niceness(stack: Stack) -> None:
    stack.env["ISOMIX_WORKER_NICE"] = "9"
    base = os.getpriority(os.PRIO_PROCESS, 0)
    if base >= 9:
        pytest.skip(f"this test process already runs at nice {base}")
    worker = stack.start_worker()
    wait_until(lambda: len(children_of(worker.pid)) == 1, 60, "the pool child")
    (child,) = children_of(worker.pid)
    wait_until(lambda: os.getpriority(os.PRIO_PROCESS, child) == 9, 60, "the pool child's niceness")
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == base
