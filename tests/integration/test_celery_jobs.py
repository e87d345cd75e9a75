"""Celery + Redis + PostgreSQL for real: jobs end ready exactly once through kill -9 and
crashing inputs (shared/RELIABILITY.md 6-10)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from celery_support import JOB_TIMEOUT, add_project, status_of, stem_dir_names, wait_finished
from conftest import Stack, children_of, wait_until
from helpers.crash import CRASH_EXIT_CODE, CRASH_SAMPLES
from sqlalchemy import func, select

from isomix.db import get_sessionmaker
from isomix.jobs.cleanup import run_cleanup
from isomix.models import JobStatus, SeparationStat, StemSet

pytestmark = pytest.mark.integration

CRASHING_WORKER = str(Path(__file__).resolve().parents[1] / "helpers" / "crashing_worker.py")


def test_jobs_end_ready(stack: Stack) -> None:
    stack.start_worker()
    project_ids = [add_project(stack.data_dir, seconds=3, seed=seed) for seed in range(4)]
    wait_finished(project_ids)
    for project_id in project_ids:
        project = status_of(project_id)
        assert project.status == JobStatus.ready, project.error
        assert project.attempts == 1
    with get_sessionmaker()() as db:
        stem_sets = list(db.scalars(select(StemSet)))
        assert db.scalar(select(func.count()).select_from(SeparationStat)) == 4
    assert sorted(s.id for s in stem_sets) == stem_dir_names(stack.data_dir)


@pytest.mark.parametrize("victims", ["child", "parent and child"])
def test_kill_9_during_a_job_still_ends_ready_once(stack: Stack, victims: str) -> None:
    worker = stack.start_worker()
    project_id = add_project(stack.data_dir, seconds=8, seed=7)
    wait_until(
        lambda: status_of(project_id).status == JobStatus.processing, JOB_TIMEOUT, "processing"
    )
    (child,) = children_of(worker.pid)
    os.kill(child, signal.SIGKILL)
    if victims == "parent and child":
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        stack.start_worker()  # a replacement, as a supervisor would start
    wait_finished([project_id])

    project = status_of(project_id)
    assert project.status == JobStatus.ready, project.error
    assert project.attempts == 2  # the killed attempt and the one that finished
    run_cleanup()  # what the workers do periodically: removes the killed attempt's scratch
    with get_sessionmaker()() as db:
        (stem_set,) = db.scalars(select(StemSet)).all()
    assert stem_set.refcount == 1
    assert project.stem_set_id == stem_set.id
    assert stem_dir_names(stack.data_dir) == [stem_set.id]  # one set of files, no temp dirs
    # Nothing runs it a third time once it is ready.
    time.sleep(2)
    assert status_of(project_id).attempts == 2


def test_input_that_crashes_the_worker_fails_after_three_attempts(stack: Stack) -> None:
    # The worker's engine kills its pool child on an input of CRASH_SAMPLES samples
    # (tests/helpers/crash.py); every other input is separated by the real model.
    worker = stack.start_worker(launcher=(CRASHING_WORKER,))
    crashing = add_project(stack.data_dir, samples=CRASH_SAMPLES, seed=1)
    healthy = add_project(stack.data_dir, seconds=2, seed=2)
    wait_finished([crashing, healthy], timeout=150)
    project = status_of(crashing)
    assert project.status == JobStatus.failed
    assert project.attempts == 3
    assert project.error is not None
    assert project.error.startswith("gave up after 3 attempts: the worker stopped")
    # The worker survived its crashes: the same process still runs and finished the other job.
    assert worker.poll() is None
    healthy_project = status_of(healthy)
    assert healthy_project.status == JobStatus.ready, healthy_project.error
    assert healthy_project.attempts == 1
    # Each attempt ended in the injected crash (exit code 70), not in some other failure.
    log = (stack.log_dir / "worker-0.log").read_text(errors="replace")
    assert log.count(f"exited with 'exitcode {CRASH_EXIT_CODE}'") == 3
