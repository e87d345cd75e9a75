"""Celery configuration, the enqueue functions and the worker/gc commands, without a broker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs_helpers import add_project, get_project

from isomix.cli import main
from isomix.config import get_settings
from isomix.db import reset_engines
from isomix.jobs import broker, celery_app, lease, queue
from isomix.migrate import ensure_schema
from isomix.models import JobStatus


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    # Taken before the test runs: tests may replace broker.get_app itself.
    clear_apps = (broker.get_app.cache_clear, celery_app.get_app.cache_clear)
    for clear in clear_apps:
        clear()
    reset_engines()
    yield
    for clear in clear_apps:
        clear()
    reset_engines()


def settings_with(monkeypatch: pytest.MonkeyPatch, **values: object) -> Any:
    for name, value in values.items():
        monkeypatch.setenv(f"ISOMIX_{name.upper()}", str(value))
    get_settings.cache_clear()
    return get_settings()


def test_configuration_follows_the_reliability_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_with(monkeypatch, redis_url="redis://127.0.0.1:1/0")
    conf = celery_app.get_app().conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert visibility == get_settings().celery_visibility_timeout
    assert visibility > conf.task_time_limit > conf.task_soft_time_limit > 0
    assert conf.task_routes[broker.SEPARATE_TASK] == {"queue": broker.SEPARATION_QUEUE}
    assert set(celery_app.get_app().tasks) >= {
        broker.SEPARATE_TASK,
        broker.EXPORT_TASK,
        broker.CLEANUP_TASK,
    }


def test_hard_limit_is_kept_below_the_visibility_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, celery_visibility_timeout=100, job_time_limit=500)
    soft, hard = broker.time_limits(settings)
    assert soft < hard < 100


def test_lease_is_shorter_than_the_visibility_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_with(monkeypatch, celery_visibility_timeout=12)
    assert lease.lease_duration().total_seconds() == 6
    settings_with(monkeypatch, celery_visibility_timeout=4 * 3600)
    assert lease.lease_duration().total_seconds() == 60
    assert lease.heartbeat_interval() < lease.lease_duration().total_seconds()


class RecordingApp:
    """Stands for the Celery app: records what would go to the broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], str]] = []
        self.priorities: list[int] = []

    def send_task(self, name: str, *, args: list[str], queue: str, priority: int = 9) -> None:
        self.sent.append((name, args, queue))
        self.priorities.append(priority)


def test_enqueue_is_a_no_op_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISOMIX_REDIS_URL", raising=False)
    get_settings.cache_clear()
    assert not get_settings().redis_url  # embedded mode
    apps_built: list[RecordingApp] = []

    def get_app() -> RecordingApp:
        # Recorded, not raised: enqueue logs and swallows errors from the broker side.
        apps_built.append(RecordingApp())
        return apps_built[-1]

    monkeypatch.setattr(broker, "get_app", get_app)
    queue.enqueue_separation("p")
    queue.enqueue_export("e")
    assert apps_built == []  # no app built, so nothing sent


def test_enqueue_sends_ids_to_their_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_with(monkeypatch, redis_url="redis://127.0.0.1:1/0")
    app = RecordingApp()
    monkeypatch.setattr(broker, "get_app", lambda: app)
    queue.enqueue_separation("p1")
    queue.enqueue_export("e1")
    queue.enqueue_separation("p2", priority=10)  # a Pro upload
    assert app.sent == [
        ("isomix.separate", ["p1"], "isomix.separation"),
        ("isomix.export", ["e1"], "isomix.default"),
        ("isomix.separate", ["p2"], "isomix.separation"),
    ]
    # kombu's Redis priorities read lower numbers first: Pro's job goes ahead of Free's.
    assert app.priorities[2] < app.priorities[0]


def test_enqueue_survives_a_broker_outage(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings_with(monkeypatch, redis_url="redis://127.0.0.1:1/0")
    ensure_schema()
    project_id = add_project()

    class DownApp:
        def send_task(self, *_: Any, **__: Any) -> None:
            raise ConnectionError("redis is down")

    monkeypatch.setattr(broker, "get_app", DownApp)
    with caplog.at_level(logging.ERROR, logger=queue.__name__):
        queue.enqueue_separation(project_id)  # does not raise: the upload already committed
    (record,) = [r for r in caplog.records if r.name == queue.__name__]
    assert record.levelno == logging.ERROR
    assert project_id in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ConnectionError
    # The row stays queued, untouched: the reconciler re-sends stale queued rows (test_jobs).
    project = get_project(project_id)
    assert (project.status, project.attempts) == (JobStatus.queued, 0)


def test_worker_refuses_to_start_without_redis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker"]) == 2
    assert "ISOMIX_REDIS_URL" in capsys.readouterr().err


def test_gc_prints_what_it_did(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data_dir / "stems" / ".trash-x").mkdir(parents=True)
    assert main(["gc"]) == 0
    out = capsys.readouterr().out
    assert "expired 0 project(s)" in out
    assert "removed 1 leftover" in out
    assert not (data_dir / "stems" / ".trash-x").exists()


def test_beat_sends_the_collector_every_ten_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_with(monkeypatch, redis_url="redis://127.0.0.1:1/0")
    from celery import Celery

    app = Celery("isomix-test", set_as_current=False)
    broker.configure(app, get_settings())
    entry = app.conf.beat_schedule["isomix-cleanup"]
    assert entry["task"] == broker.CLEANUP_TASK == "isomix.cleanup"
    assert entry["schedule"] == broker.CLEANUP_EVERY_SECONDS == 600.0
    assert entry["options"]["queue"] == broker.DEFAULT_QUEUE
