"""A Celery task whose database is unreachable puts its message back instead of failing (a
failed task is acknowledged, and its job would wait for the reconciler's STALE_QUEUED)."""

from __future__ import annotations

import pytest
from celery.exceptions import Reject
from sqlalchemy.exc import IntegrityError, OperationalError

from isomix.jobs import celery_app


class DriverError(Exception):
    pass


def test_unreachable_database_requeues_and_other_errors_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(celery_app, "DATABASE_WAIT_SECONDS", 0.0)
    raised: list[Exception] = []

    def task(value: int) -> int:
        if raised:
            raise raised.pop()
        return value * 2

    guarded = celery_app._until_database_answers(task)
    assert guarded(21) == 42
    raised.append(OperationalError("SELECT 1", {}, DriverError("connection refused")))
    with pytest.raises(Reject) as rejected:
        guarded(1)
    assert rejected.value.requeue is True
    raised.append(IntegrityError("INSERT", {}, DriverError("duplicate key")))
    with pytest.raises(IntegrityError):
        guarded(1)


def test_the_job_tasks_are_guarded() -> None:
    app = celery_app.get_app()
    for name in ("isomix.separate", "isomix.export", "isomix.previews"):
        assert app.tasks[name].run.__wrapped__ is not None  # functools.wraps of the guard
