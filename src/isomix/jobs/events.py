"""The sending side of "project X changed": whoever writes a project row says so, after the
commit, and the API's one broadcaster (`api/events.py`) reloads that row for every stream
that follows it.

Scaled (ISOMIX_REDIS_URL set): one PUBLISH of the project id on `CHANNEL`, from the worker
and from the API alike. Embedded: the broadcaster polls the rows anyway (one query per tick
for all streams); a change made in the API process itself also wakes it at once through
`add_local_listener`. Publishing never fails the writer: the message is a hint, and the
broadcaster re-reads the rows it watches now and then whatever arrives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import event
from sqlalchemy.orm import Session

from isomix.config import get_settings

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

CHANNEL: Final = "isomix:project-changed"
# A publish must not hold up the job that writes its progress when Redis is slow or down.
PUBLISH_TIMEOUT_SECONDS: Final = 0.25
_PENDING_KEY: Final = "isomix.events.changed_projects"

_listeners: list[Callable[[str], None]] = []
_listeners_lock = threading.Lock()
_failing = False


def add_local_listener(callback: Callable[[str], None]) -> Callable[[], None]:
    """Call `callback(project_id)` for every change published in this process; returns the
    function that removes it. Callbacks must be quick and thread-safe."""
    with _listeners_lock:
        _listeners.append(callback)

    def remove() -> None:
        with _listeners_lock:
            if callback in _listeners:
                _listeners.remove(callback)

    return remove


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    import redis

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=PUBLISH_TIMEOUT_SECONDS,
        socket_timeout=PUBLISH_TIMEOUT_SECONDS,
    )


def publish_project_changed(project_id: str) -> None:
    """Say that the project's row changed (call it after the commit)."""
    global _failing
    with _listeners_lock:
        callbacks = list(_listeners)
    for callback in callbacks:
        try:
            callback(project_id)
        except Exception:
            log.exception("project change listener failed")
    url = get_settings().redis_url
    if url is None:
        return
    try:
        _redis(url).publish(CHANNEL, project_id)
    except Exception as error:  # Redis down: the API's broadcaster re-reads its rows anyway
        if not _failing:
            log.warning("could not publish the change of project %s: %s", project_id, error)
        _failing = True
    else:
        _failing = False


def publish_after_commit(db: Session, project_id: str) -> None:
    """Publish the project's change once `db` commits (nothing if it rolls back)."""
    pending: set[str] | None = db.info.get(_PENDING_KEY)
    if pending is None:
        pending = db.info[_PENDING_KEY] = set()
        event.listen(db, "after_commit", _publish_pending)
        event.listen(db, "after_rollback", _forget_pending)
    pending.add(project_id)


def _publish_pending(db: Session, *_: Any) -> None:
    pending: set[str] = db.info.get(_PENDING_KEY, set())
    changed = sorted(pending)
    pending.clear()
    for project_id in changed:
        publish_project_changed(project_id)


def _forget_pending(db: Session, *_: Any) -> None:
    db.info.get(_PENDING_KEY, set()).clear()
