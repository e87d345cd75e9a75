"""The Celery runner: thin tasks that pass ids to isomix.jobs.tasks, configured for long jobs.

Why each setting (see shared/RELIABILITY.md 6-11):
- acks_late + reject_on_worker_lost: a job whose pool child is killed goes back to the queue
  instead of being acknowledged and dropped.
- prefetch 1: a worker holds no job it is not running (a second job would wait hours).
- visibility_timeout > hard time limit > soft time limit: Redis redelivers a message only when
  no worker can still be running it; a redelivered duplicate meets the row lease and exits.
- attempts are counted on the row (Redis keeps no delivery count): a crashing input fails
  after settings.max_attempts instead of looping forever.
- the model is loaded in the pool child, never in the parent before it forks.
- a reconciler thread in each pool child re-queues jobs of dead workers and re-sends lost
  messages; the parent keeps no database connection, so forking shares none.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from functools import lru_cache
from typing import Any, Final

from celery import Celery, signals

from isomix.config import Settings, get_settings
from isomix.jobs import lease
from isomix.jobs.queue import DEFAULT_QUEUE, EXPORT_TASK, SEPARATE_TASK, SEPARATION_QUEUE

log = logging.getLogger(__name__)

CLEANUP_TASK: Final = "isomix.cleanup"
# Full cleanup (retention, GC) runs this often; the reconciler runs every lease period.
CLEANUP_EVERY_SECONDS: Final = 600.0


def time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) time limits, the hard one kept below the visibility timeout."""
    visibility = settings.celery_visibility_timeout
    hard = settings.job_time_limit
    if hard >= visibility:
        lowered = max(2, int(visibility * 0.9))
        log.warning(
            "job_time_limit %s s is not below celery_visibility_timeout %s s: a job would be "
            "redelivered while it runs; using a hard limit of %s s",
            hard,
            visibility,
            lowered,
        )
        hard = lowered
    soft = max(1, hard - max(1, min(60, hard // 10)))
    return soft, hard


def configure(app: Celery, settings: Settings) -> None:
    soft, hard = time_limits(settings)
    visibility = settings.celery_visibility_timeout
    app.conf.update(
        broker_url=settings.redis_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility,
            # Look for messages of dead workers often (default: every ~100 s).
            "unacked_restore_interval": max(1, min(10, visibility // 5)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 5,
            "socket_timeout": 30,
        },
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Soft shutdown: a stopping worker gives its running task a moment, then hands the
        # message back to Redis instead of waiting for the visibility timeout.
        worker_soft_shutdown_timeout=10.0,
        worker_enable_soft_shutdown_on_idle=True,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        task_default_queue=DEFAULT_QUEUE,
        task_routes={
            SEPARATE_TASK: {"queue": SEPARATION_QUEUE},
            EXPORT_TASK: {"queue": DEFAULT_QUEUE},
            CLEANUP_TASK: {"queue": DEFAULT_QUEUE},
        },
        task_create_missing_queues=True,
    )


_worker_id: str | None = None
_reconciler: Reconciler | None = None


def current_worker_id() -> str:
    global _worker_id
    if _worker_id is None:
        _worker_id = f"celery:{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
    return _worker_id


def separate(project_id: str) -> None:
    from isomix.jobs.tasks import run_separation

    run_separation(project_id, worker_id=current_worker_id())


def export(export_id: str) -> None:
    from isomix.jobs.tasks import run_export

    run_export(export_id, worker_id=current_worker_id())


def cleanup() -> str:
    from isomix.jobs.tasks import run_cleanup

    return run_cleanup().summary()


@lru_cache(maxsize=1)
def get_app() -> Celery:
    settings = get_settings()
    app = Celery("isomix", set_as_current=False)
    configure(app, settings)
    app.task(name=SEPARATE_TASK)(separate)
    app.task(name=EXPORT_TASK)(export)
    app.task(name=CLEANUP_TASK)(cleanup)
    signals.worker_process_init.connect(_init_pool_child, weak=False)
    signals.worker_process_shutdown.connect(_stop_reconciler, weak=False)
    return app


# ---------------------------------------------------------------- worker process hooks


def _init_pool_child(**_: Any) -> None:
    """In each pool child: no connection inherited from the parent, the default model loaded
    once, and the reconciler thread started."""
    global _worker_id, _reconciler
    _worker_id = None  # forked children must not share the parent's id
    from isomix.db import get_engine as get_database_engine

    # The parent opens no connection after startup (commands/worker.py closes them), so this
    # is a safety net: close=False drops inherited connections without closing the parent's.
    get_database_engine().dispose(close=False)
    settings = get_settings()
    try:
        from isomix.separation.engine import get_engine

        get_engine(settings.default_model, device=settings.device)
        log.info("model %s loaded in worker child %s", settings.default_model, os.getpid())
    except Exception as error:  # not installed here: jobs will say so with a clear message
        log.warning("default model %s not preloaded: %s", settings.default_model, error)
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

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        from isomix.jobs.cleanup import reconcile, run_cleanup

        interval = lease.lease_duration().total_seconds()
        cleanup_every = max(1, round(CLEANUP_EVERY_SECONDS / interval))
        rounds = 0
        while not self._stop.wait(interval):
            try:
                if rounds % cleanup_every == 0:
                    run_cleanup()
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
