"""Prometheus metrics: job state read from the database at scrape time, HTTP and uploads in-process.

Job counts come from the rows (the source of truth, shared by every API process and worker),
so they are right whichever process scrapes. Counters and the latency histogram are per process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isomix.db import get_sessionmaker
from isomix.models import Export, JobStatus, Project, SeparationStat
from isomix.speed import measured_rtf

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


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
        jobs = GaugeMetricFamily("isomix_jobs", "Jobs by kind and state", labels=["kind", "status"])
        queue = GaugeMetricFamily(
            "isomix_queue_length", "Jobs waiting for a worker", labels=["kind"]
        )
        separations = SummaryMetricFamily(
            "isomix_separation_seconds", "Compute seconds of finished separations", labels=["model"]
        )
        audio = GaugeMetricFamily(
            "isomix_separation_audio_seconds", "Seconds of audio separated", labels=["model"]
        )
        rtf = GaugeMetricFamily(
            "isomix_separation_rtf",
            "Recent real-time factor (compute seconds per audio second)",
            labels=["model"],
        )
        with get_sessionmaker()() as session:
            for kind, table in (("separation", Project), ("export", Export)):
                counts: dict[Any, int] = {
                    status: count
                    for status, count in session.execute(
                        select(table.status, func.count()).group_by(table.status)
                    ).all()
                }
                for status in JobStatus:
                    jobs.add_metric([kind, status.value], counts.get(status, 0))
                queue.add_metric([kind], counts.get(JobStatus.queued, 0))
            stats = session.execute(
                select(
                    SeparationStat.model,
                    func.count(),
                    func.sum(SeparationStat.compute_seconds),
                    func.sum(SeparationStat.audio_seconds),
                ).group_by(SeparationStat.model)
            ).all()
            for model, count, compute_seconds, audio_seconds in stats:
                separations.add_metric([model], count, compute_seconds or 0.0)
                audio.add_metric([model], audio_seconds or 0.0)
                recent = measured_rtf(session, model)
                if recent is not None:
                    rtf.add_metric([model], recent)
        yield from (jobs, queue, separations, audio, rtf)


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
        self.registry.register(DatabaseCollector())

    def upload_accepted(self) -> None:
        self.uploads.labels(outcome="accepted").inc()

    def upload_refused(self, code: str) -> None:
        self.uploads.labels(outcome=code).inc()


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

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.http_latency.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )
