"""Hand a committed job to its runner. Call these only after the row's transaction committed.

Embedded mode (no ISOMIX_REDIS_URL): the database row is the queue; the embedded worker polls
it, so there is nothing to send. Celery mode: one message carrying the id.
"""

from __future__ import annotations

import logging

from isomix.config import get_settings
from isomix.jobs import broker

log = logging.getLogger(__name__)


def enqueue_separation(project_id: str, priority: int = 0) -> None:
    """`priority`: the owner's plan's (higher is taken first)."""
    enqueue("projects", project_id, priority)


def enqueue_export(export_id: str) -> None:
    enqueue("exports", export_id)


def enqueue(table: str, job_id: str, priority: int = 0) -> None:
    if not get_settings().redis_url:
        return

    task, queue = broker.TASK_OF_TABLE[table]
    try:
        broker.get_app().send_task(
            task, args=[job_id], queue=queue, priority=broker.message_priority(priority)
        )
    except Exception:
        # The row is committed as queued: the reconciler sends it again later.
        log.exception(
            "could not send %s %s to the broker; the reconciler will retry", table, job_id
        )
