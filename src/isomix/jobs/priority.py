"""A worker's CPU priority: it separates at `ISOMIX_WORKER_NICE` so the API, at the normal
priority, answers while inference keeps every core busy.

Called once at the start of each process that runs jobs: the embedded worker
(`embedded._worker_main`) and each Celery pool child (`celery_app` worker_process_init).
Niceness only goes up for an unprivileged process, so a worker started already nicer than
the setting keeps its own niceness.
"""

from __future__ import annotations

import logging
import os

from isomix.config import Settings, get_settings

log = logging.getLogger(__name__)


def lower_priority(settings: Settings | None = None) -> int:
    """Raise this process's niceness to `settings.worker_nice`; the niceness it now has."""
    target = (settings or get_settings()).worker_nice
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if target > current:
        try:
            os.nice(target - current)
        except OSError as error:  # a sandbox may refuse; the worker still runs
            log.warning("could not lower the worker's priority to nice %s: %s", target, error)
    return os.getpriority(os.PRIO_PROCESS, 0)
