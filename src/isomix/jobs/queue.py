"""Hand a committed job to its runner. Call these only after the row's transaction committed.

Embedded mode (no ISOMIX_REDIS_URL): the database row is the queue; the embedded worker polls
it, so there is nothing to send. Celery mode: one message carrying the id.
"""

from __future__ import annotations

import logging
from typing import Final

from isomix.config import get_settings

log = logging.getLogger(__name__)

SEPARATE_TASK: Final = "isomix.separate"
EXPORT_TASK: Final = "isomix.export"
SEPARATION_QUEUE: Final = "isomix.separation"
DEFAULT_QUEUE: Final = "isomix.default"

_TASKS: Final = {
    "projects": (SEPARATE_TASK, SEPARATION_QUEUE),
    "exports": (EXPORT_TASK, DEFAULT_QUEUE),
}


def enqueue_separation(project_id: str) -> None:
    enqueue("projects", project_id)


def enqueue_export(export_id: str) -> None:
    enqueue("exports", export_id)


def enqueue(table: str, job_id: str) -> None:
    if not get_settings().redis_url:
        return
    from isomix.jobs.celery_app import get_app  # celery only where it is used

    task, queue = _TASKS[table]
    try:
        get_app().send_task(task, args=[job_id], queue=queue)
    except Exception:
        # The row is committed as queued: the reconciler sends it again later.
        log.exception(
            "could not send %s %s to the broker; the reconciler will retry", table, job_id
        )
