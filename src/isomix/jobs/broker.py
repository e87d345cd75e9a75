"""The Celery app as the sending side sees it: task and queue names, settings, the broker.

Every process that enqueues (API, collector, reconciler) uses this; only the worker side
(celery_app.py) registers the task functions on the same app. Why each setting
(see shared/RELIABILITY.md 6-11):
- acks_late + reject_on_worker_lost: a job whose pool child is killed goes back to the queue
  instead of being acknowledged and dropped.
- prefetch 1: a worker holds no job it is not running (a second job would wait hours).
- visibility_timeout > hard time limit > soft time limit: Redis redelivers a message only when
  no worker can still be running it; a redelivered duplicate meets the row lease and exits.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from isomix.config import Settings, get_settings

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

SEPARATE_TASK: Final = "isomix.separate"
EXPORT_TASK: Final = "isomix.export"
CLEANUP_TASK: Final = "isomix.cleanup"
# The MP3 previews of finished stem sets (jobs/previews.py): on the separation queue, so that
# they come after the separations already waiting there.
PREVIEWS_TASK: Final = "isomix.previews"
SEPARATION_QUEUE: Final = "isomix.separation"
DEFAULT_QUEUE: Final = "isomix.default"
ALL_QUEUES: Final = (SEPARATION_QUEUE, DEFAULT_QUEUE)
# The table of a job's row -> its task and queue (a message carries only the row's id).
TASK_OF_TABLE: Final = {
    "projects": (SEPARATE_TASK, SEPARATION_QUEUE),
    "exports": (EXPORT_TASK, DEFAULT_QUEUE),
}


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


MESSAGE_PRIORITY_STEPS = 10
# The collector's period: Celery beat's schedule, the embedded worker's timer.
CLEANUP_EVERY_SECONDS: Final = 600.0


def message_priority(job_priority: int) -> int:
    """A job's priority (higher first; plans.Plan.priority) as kombu's Redis priority (lower
    first, 0..9)."""
    return max(0, MESSAGE_PRIORITY_STEPS - 1 - max(0, job_priority))


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
            # Message priorities (Pro's separations ahead of Free's): Redis has none, so
            # kombu keeps one list per step and reads the lower numbers first.
            "priority_steps": list(range(MESSAGE_PRIORITY_STEPS)),
            "sep": ":",
            "queue_order_strategy": "priority",
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
            PREVIEWS_TASK: {"queue": SEPARATION_QUEUE},
        },
        task_create_missing_queues=True,
        # `isomix beat` sends the collector (retention, unused stems, leftovers) on a timer;
        # a run that finds another running beside it is harmless (all compare-and-set).
        beat_schedule={
            "isomix-cleanup": {
                "task": CLEANUP_TASK,
                "schedule": CLEANUP_EVERY_SECONDS,
                "options": {"queue": DEFAULT_QUEUE, "expires": CLEANUP_EVERY_SECONDS},
            }
        },
    )


@lru_cache(maxsize=1)
def get_app() -> Celery:
    from celery import Celery  # imported when first used: the CLI and API start without it

    app = Celery("isomix", set_as_current=False)
    configure(app, get_settings())
    return app
