"""Prometheus metrics: what the database says, read at scrape time, and what this process saw.

From the database, the same whichever API instance is scraped (workers are other processes,
often other machines): jobs by state and the queue (`isomix_job_rows`, `isomix_queue_length`,
`isomix_queue_oldest_seconds`), jobs ended by final status (`isomix_jobs_total`, from
`job_counts`, which retention never lowers), separation times (`isomix_separation_seconds`, a
histogram over `separation_stats`), storage by kind (`isomix_storage_bytes`, from the rows'
sizes, never a walk of the files) and live workers (`isomix_workers_alive`, liveness.py).
In-process, so summed over instances: uploads (`isomix_upload_seconds`, from the last byte
received to the job queued) and HTTP latency.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isomix.db import get_sessionmaker
from isomix.liveness import liveness
from isomix.models import (
    Export,
    JobCount,
    JobStatus,
    Project,
    SeparationStat,
    StemSet,
    as_utc,
    utcnow,
)
from isomix.speed import measured_rtf

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
UPLOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
SEPARATION_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
JOB_KINDS: tuple[tuple[str, type[Project] | type[Export]], ...] = (
    ("separation", Project),
    ("export", Export),
)
# Always present, at 0 until the first such ending, so that rates start from the first one.
ENDED_STATUSES = (JobStatus.ready, JobStatus.failed, JobStatus.cancelled)
# Set by LatencyMiddleware in each HTTP scope: when the request came and its body ended.
TIMING_KEY = "isomix.timing"


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("isomix_database_up", "1 when the database answered the scrape")
        try:
            families = list(self._from_database())
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_database(self) -> Iterator[Metric]:
        with get_sessionmaker()() as session:
            now = utcnow()
            yield from _job_rows(session, now)
            yield _jobs_ended(session)
            yield from _separations(session)
            yield _storage(session)
            yield from _workers(session, now)


def _job_rows(session: Session, now: datetime) -> Iterator[Metric]:
    rows = GaugeMetricFamily(
        "isomix_job_rows", "Jobs by kind and current status (rows now)", labels=["kind", "status"]
    )
    queue = GaugeMetricFamily("isomix_queue_length", "Jobs waiting for a worker", labels=["kind"])
    oldest = GaugeMetricFamily(
        "isomix_queue_oldest_seconds",
        "Seconds the oldest queued job has waited (0: none waiting)",
        labels=["kind"],
    )
    for kind, table in JOB_KINDS:
        counts: dict[Any, int] = {
            status: count
            for status, count in session.execute(
                select(table.status, func.count()).group_by(table.status)
            ).all()
        }
        for status in JobStatus:
            rows.add_metric([kind, status.value], counts.get(status, 0))
        queue.add_metric([kind], counts.get(JobStatus.queued, 0))
        first = session.scalar(
            select(func.min(table.queued_at)).where(table.status == JobStatus.queued)
        )
        waited = (now - as_utc(first)).total_seconds() if first is not None else 0.0
        oldest.add_metric([kind], max(waited, 0.0))
    yield from (rows, queue, oldest)


def _jobs_ended(session: Session) -> Metric:
    ended = CounterMetricFamily(
        "isomix_jobs",
        "Jobs ended, by kind and final status (counted when the job ends; never lowered)",
        labels=["kind", "status"],
    )
    totals = {(kind, status.value): 0 for kind, _ in JOB_KINDS for status in ENDED_STATUSES}
    for kind, status, total in session.execute(
        select(JobCount.kind, JobCount.status, JobCount.total)
    ).all():
        totals[(kind, status)] = total
    for (kind, status), total in sorted(totals.items()):
        ended.add_metric([kind, status], total)
    return ended


def _separations(session: Session) -> Iterator[Metric]:
    seconds = HistogramMetricFamily(
        "isomix_separation_seconds",
        "Compute seconds of finished separations (separation_stats)",
        labels=["model"],
    )
    audio = GaugeMetricFamily(
        "isomix_separation_audio_seconds", "Seconds of audio separated", labels=["model"]
    )
    rtf = GaugeMetricFamily(
        "isomix_separation_rtf",
        "Recent real-time factor (compute seconds per audio second)",
        labels=["model"],
    )
    compute = SeparationStat.compute_seconds
    # Cumulative bucket counts in one query: the rows within each upper bound.
    within = [func.sum(case((compute <= bound, 1), else_=0)) for bound in SEPARATION_BUCKETS]
    stats = session.execute(
        select(
            SeparationStat.model,
            func.count(),
            func.sum(compute),
            func.sum(SeparationStat.audio_seconds),
            *within,
        ).group_by(SeparationStat.model)
    ).all()
    for model, count, compute_seconds, audio_seconds, *cumulative in stats:
        buckets = [
            (str(float(bound)), float(below or 0))
            for bound, below in zip(SEPARATION_BUCKETS, cumulative, strict=True)
        ]
        seconds.add_metric(
            [model], [*buckets, ("+Inf", float(count))], sum_value=compute_seconds or 0.0
        )
        audio.add_metric([model], audio_seconds or 0.0)
        recent = measured_rtf(session, model)
        if recent is not None:
            rtf.add_metric([model], recent)
    yield from (seconds, audio, rtf)


def _storage(session: Session) -> Metric:
    """Bytes stored, from the rows: uploads (projects not expired), stem sets, exports."""
    stored = GaugeMetricFamily(
        "isomix_storage_bytes", "Bytes stored, by kind (from the database)", labels=["kind"]
    )
    sums = {
        "uploads": select(func.sum(Project.size_bytes)).where(Project.status != JobStatus.expired),
        # NULL: not measured (rows from before stored_bytes, or nothing written yet): 0.
        "stems": select(func.sum(func.coalesce(StemSet.stored_bytes, 0))),
        "exports": select(func.sum(func.coalesce(Export.stored_bytes, 0))),
    }
    for kind, query in sums.items():
        stored.add_metric([kind], float(session.scalar(query) or 0))
    return stored


def _workers(session: Session, now: datetime) -> Iterator[Metric]:
    alive = GaugeMetricFamily(
        "isomix_workers_alive",
        "Worker processes (embedded worker, Celery pool child) with a recent heartbeat",
        labels=["kind"],
    )
    last_seen = GaugeMetricFamily(
        "isomix_worker_last_seen_seconds",
        "Seconds since the newest heartbeat of a worker of this kind",
        labels=["kind"],
    )
    for kind, state in sorted(liveness(session, now).items()):
        alive.add_metric([kind], state.alive)
        if state.last_seen_seconds is not None:
            last_seen.add_metric([kind], state.last_seen_seconds)
    yield from (alive, last_seen)


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.upload_bytes = Counter(
            "isomix_upload_bytes",
            "Bytes of uploads received (refused ones too)",
            registry=self.registry,
        )
        self.uploads = Counter(
            "isomix_uploads", "Uploads by outcome (accepted or the error code)",
            ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.http_latency = Histogram(
            "isomix_http_request_duration_seconds",
            "HTTP request duration, labelled by route template",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upload_seconds = Histogram(
            "isomix_upload_seconds",
            "Upload latency: from the last byte of the upload received to its job queued",
            buckets=UPLOAD_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(DatabaseCollector())

    def upload_queued(self, request: Request) -> None:
        """The upload of `request` has its job queued: observe the time since its body ended
        (checks, probe, storing the file, the row, the queue)."""
        timing = request.scope.get(TIMING_KEY)
        if isinstance(timing, RequestTiming):
            self.upload_seconds.observe(time.perf_counter() - timing.body_received())

    def upload_accepted(self) -> None:
        self.uploads.labels(outcome="accepted").inc()

    def upload_refused(self, code: str) -> None:
        self.uploads.labels(outcome=code).inc()


class RequestTiming:
    """When a request started and when the last part of its body was received."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.body_ended: float | None = None

    def body_received(self) -> float:
        return self.body_ended if self.body_ended is not None else self.started


def metrics_of(request: Request) -> Metrics:
    return cast(Metrics, request.app.state.metrics)


class LatencyMiddleware:
    """Times each HTTP request; the route label is the matched template, never the raw URL."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        timing = scope[TIMING_KEY] = RequestTiming(started)

        async def receive_timed() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                timing.body_ended = time.perf_counter()
            return message

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive_timed, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.http_latency.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )
