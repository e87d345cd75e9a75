"""Public configuration, health, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from isomix import schemas
from isomix.api.auth import bearer_token
from isomix.api.client_ip import client_ip_of
from isomix.api.deps import SettingsDep
from isomix.api.errors import ApiError, error_responses
from isomix.api.options import default_model
from isomix.audio.formats import accepted_extensions, accepted_names
from isomix.config import Settings
from isomix.db import get_engine
from isomix.metrics import metrics_of

config_router = APIRouter(prefix="/api/config", tags=["config"])
router = APIRouter(tags=["system"])

REDIS_TIMEOUT_SECONDS = 2.0


@config_router.get("", response_model=schemas.PublicConfig)
def read_config(settings: SettingsDep) -> schemas.PublicConfig:
    """Limits and accepted formats the UI checks before uploading, and the model used when
    none is chosen."""
    return schemas.PublicConfig(
        max_upload_bytes=settings.max_upload_bytes,
        max_duration_seconds=settings.max_duration_seconds,
        default_model=default_model(settings),
        accepted_formats=accepted_names(),
        accepted_extensions=accepted_extensions(),
        auth_mode=settings.auth_mode,
        signup=settings.accounts and settings.signup,
    )


def _may_scrape(request: Request, settings: Settings) -> bool:
    token = bearer_token(request)
    if token is not None and settings.metrics_token:
        return hmac.compare_digest(token.encode(), settings.metrics_token.encode())
    # Behind a proxy on this machine every peer is loopback: the client is the one the
    # trusted proxy names, and any forwarded request is taken as coming from outside.
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(client_ip_of(request, settings)).is_loopback
    except ValueError:
        return False


@router.get("/healthz", response_model=schemas.Health)
def healthz() -> schemas.Health:
    """The process is alive and answering."""
    return schemas.Health(status="ok")


def _check_database() -> str:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


def _check_queue(settings: Settings, request: Request) -> str:
    if settings.redis_url is None:
        # `isomix serve` hands its worker to the app; a bare app (tests) has none to check.
        # Not ready while it is dead (waiting for its restart) or crash-looping: the same
        # state in which uploads are refused (deps.require_worker).
        worker = getattr(request.app.state, "embedded_worker", None)
        if worker is not None:
            state = worker.availability()
            if not state.available:
                return f"error: {state.reason}"
        return "ok (embedded: the queue is the database)"
    try:
        import redis

        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


@router.get("/readyz", response_model=schemas.Health, responses={503: {"model": schemas.Health}})
def readyz(settings: SettingsDep, request: Request) -> JSONResponse:
    """The database answers and the job queue is reachable; 503 otherwise."""
    checks = {"database": _check_database(), "queue": _check_queue(settings, request)}
    ready = all(value.startswith("ok") for value in checks.values())
    body = schemas.Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        **error_responses(403),
    },
)
def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus metrics: jobs by state, queue length, separation speed, HTTP latency.

    With accounts, only for `Authorization: Bearer $ISOMIX_METRICS_TOKEN` or a scraper on
    this machine (the peer address, never X-Forwarded-For)."""
    if settings.accounts and not _may_scrape(request, settings):
        raise ApiError(403, "forbidden", "Metrics need ISOMIX_METRICS_TOKEN as a bearer token.")
    registry = metrics_of(request).registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
