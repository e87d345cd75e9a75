"""The Celery worker side: thin tasks that pass ids to isomix.jobs.tasks, and the pool hooks.

Configuration and names are broker.py's. Why the hooks (see shared/RELIABILITY.md 6-11):
- attempts are counted on the row (Redis keeps no delivery count): a crashing input fails
  after settings.max_attempts instead of looping forever.
- the model is loaded in the pool child, never in the parent before it forks.
- a reconciler thread in each pool child re-queues jobs of dead workers and re-sends lost
  messages; the parent keeps no database connection, so forking shares none.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final, ParamSpec, TypeVar

from celery import Celery, signals
from celery.exceptions import Reject
from sqlalchemy.exc import DBAPIError

from isomix import logs, stemsets
from isomix.config import get_settings
from isomix.db import database_unreachable
from isomix.jobs import analysing, broker, lease, previews, priority
from isomix.jobs.cleanup import reconcile, run_cleanup
from isomix.jobs.joblog import job_context
from isomix.jobs.tasks import run_export, run_separation
from isomix.liveness import Heartbeat

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

# Full cleanup (retention, GC) runs this often (besides `isomix beat`'s schedule); the
# reconciler runs every lease period.
CLEANUP_EVERY_SECONDS: Final = broker.CLEANUP_EVERY_SECONDS


_worker_id: str | None = None
_reconciler: Reconciler | None = None


def current_worker_id() -> str:
    global _worker_id
    if _worker_id is None:
        _worker_id = f"celery:{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
    return _worker_id


# A separation whose owner runs all the plan allows is sent again after this long.
OWNER_BUSY_RETRY_SECONDS: Final = 5.0


# While the database cannot be reached, a task waits this long and puts its message back.
DATABASE_WAIT_SECONDS: Final = 2.0


def _until_database_answers(task: Callable[P, R]) -> Callable[P, R]:
    """A task whose database is unreachable (PostgreSQL restarting) hands its message back to
    Redis after a pause, instead of failing: a failed task is acknowledged, and the row of a
    job whose message is gone would wait for the reconciler's STALE_QUEUED. A copy that runs
    again meets the row's lease like any redelivery."""

    @functools.wraps(task)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return task(*args, **kwargs)
        except DBAPIError as error:
            if not database_unreachable(error):
                raise
            reason = str(error).splitlines()[0]
            log.warning(
                "%s: the database cannot be reached (%s); its message goes back to the queue",
                task.__name__,
                reason,
            )
            time.sleep(DATABASE_WAIT_SECONDS)
            raise Reject(reason, requeue=True) from error

    return guarded


def separate(project_id: str) -> None:
    with job_context("projects", project_id):
        claim = run_separation(project_id, worker_id=current_worker_id())
    if claim is lease.Claim.owner_busy:
        task, queue = broker.TASK_OF_TABLE["projects"]
        get_app().send_task(
            task, args=[project_id], queue=queue, countdown=OWNER_BUSY_RETRY_SECONDS
        )
    elif claim is lease.Claim.claimed:
        send_previews_task()


def send_previews_task() -> None:
    """Queue one turn of MP3 previews behind the separations already waiting."""
    lowest = broker.message_priority(0)
    get_app().send_task(broker.PREVIEWS_TASK, queue=broker.SEPARATION_QUEUE, priority=lowest)


def encode_previews() -> bool:
    """One stem set's MP3 previews (or, with none pending, the analysis of one stem set that
    has none), then another turn: two workers may have spent their turns on the same set,
    and each separation sent only one."""
    done = previews.encode_next() or analysing.analyse_next()
    if done:
        # Another turn, queued behind the separations waiting, until none is left (the
        # next turn finds nothing and stops).
        send_previews_task()
    return done


def export(export_id: str) -> None:
    with job_context("exports", export_id):
        run_export(export_id, worker_id=current_worker_id())


def cleanup() -> str:
    return run_cleanup().summary()


# Wrapped once: registering another wrapper of the same task on a cached app is a conflict.
_SEPARATE: Final = _until_database_answers(separate)
_EXPORT: Final = _until_database_answers(export)
_PREVIEWS: Final = _until_database_answers(encode_previews)


@lru_cache(maxsize=1)
def get_app() -> Celery:
    """broker.get_app() with the task functions registered: what `isomix worker` runs."""
    app = broker.get_app()
    app.task(name=broker.SEPARATE_TASK)(_SEPARATE)
    app.task(name=broker.EXPORT_TASK)(_EXPORT)
    app.task(name=broker.CLEANUP_TASK)(cleanup)
    app.task(name=broker.PREVIEWS_TASK)(_PREVIEWS)
    # Connected, it replaces Celery's own logging setup (worker and beat): isomix's JSON lines.
    signals.setup_logging.connect(_setup_logging, weak=False)
    signals.worker_process_init.connect(_init_pool_child, weak=False)
    signals.worker_process_shutdown.connect(_stop_reconciler, weak=False)
    return app


# ---------------------------------------------------------------- worker process hooks


def _setup_logging(loglevel: int | str | None = None, **_: Any) -> None:
    logs.configure(level=loglevel or None)


def _init_pool_child(**_: Any) -> None:
    """In each pool child: no connection inherited from the parent, a lower CPU priority
    (ISOMIX_WORKER_NICE), the default model loaded once, and the reconciler thread started."""
    global _worker_id, _reconciler
    _worker_id = None  # forked children must not share the parent's id
    from isomix.db import get_engine as get_database_engine

    # The parent opens no connection after startup (commands/worker.py closes them), so this
    # is a safety net: close=False drops inherited connections without closing the parent's.
    get_database_engine().dispose(close=False)
    settings = get_settings()
    # Separation runs below the priority of an API on the same machine.
    priority.lower_priority(settings)
    try:
        from isomix.separation import store
        from isomix.separation.engine import get_engine

        default = store.default_model(settings.default_model).name
        get_engine(default, device=settings.device)
        log.info("model %s loaded in worker child %s", default, os.getpid())
    except Exception as error:  # not installed here: jobs will say so with a clear message
        log.warning("default model not preloaded: %s", error)
    analysing.start_warm_up()  # librosa's numba functions, before the first analysis
    _reconciler = Reconciler()
    _reconciler.start()


def _stop_reconciler(**_: Any) -> None:
    if _reconciler is not None:
        _reconciler.stop()


class Reconciler:
    """A thread in each pool child: re-queues jobs whose worker died, re-sends lost messages,
    and runs the full cleanup now and then. Several may run at once: every change it makes is
    a compare-and-set. It lives in the child, not in the parent, because a parent holding
    database connections when it forks a new child shares their sockets with it."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="isomix-reconciler", daemon=True)
        # Beats from its own thread: the reconciler's rounds are a lease period apart and a
        # full cleanup can take long; /metrics counts the pool children that beat.
        self._heartbeat = Heartbeat("celery", current_worker_id())

    def start(self) -> None:
        self._thread.start()
        self._heartbeat.start()

    def stop(self) -> None:
        self._stop.set()
        self._heartbeat.stop()

    def _loop(self) -> None:
        interval = lease.lease_duration().total_seconds()
        cleanup_every = max(1, round(CLEANUP_EVERY_SECONDS / interval))
        rounds = 0
        while not self._stop.wait(interval):
            try:
                if rounds % cleanup_every == 0:
                    run_cleanup()
                    # A previews task lost with its worker: send another while any wait.
                    if stemsets.next_pending_previews() is not None:
                        send_previews_task()
                else:
                    report = reconcile()
                    if report.requeued or report.resent or report.failed:
                        log.info(
                            "reconciler: re-queued %s, re-sent %s, failed %s",
                            report.requeued,
                            report.resent,
                            report.failed,
                        )
            except Exception:
                log.exception("reconciler round failed")
            rounds += 1
