"""Hand work to the job queue after the database commit (RELIABILITY 10).

A failed enqueue (Redis down) does not fail the request: the row stays `queued` and the
worker's reconciler picks it up. The queue module is imported here, lazily, so the API's
import path stays free of the Celery machinery until it is used.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def enqueue_separation(project_id: str) -> None:
    try:
        from isomix.jobs import queue

        queue.enqueue_separation(project_id)
    except Exception:
        logger.exception("could not enqueue separation %s; it stays queued", project_id)


def enqueue_export(export_id: str) -> None:
    try:
        from isomix.jobs import queue

        queue.enqueue_export(export_id)
    except Exception:
        logger.exception("could not enqueue export %s; it stays queued", export_id)
