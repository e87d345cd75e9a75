"""The FastAPI application factory. Importing or creating it never touches torch or the DB."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

import isomix
from isomix.api.errors import install_error_handlers
from isomix.api.guards import install_guards
from isomix.api.headers import install_security_headers
from isomix.api.request_id import RequestIdMiddleware
from isomix.api.routes import (
    account,
    admin,
    analysis,
    auth,
    billing,
    exports,
    mixes,
    models,
    projects,
    stems,
    system,
    ui,
)
from isomix.config import get_settings
from isomix.metrics import LatencyMiddleware, Metrics


def operation_id(route: APIRoute) -> str:
    # `projects-create_project` -> the generated client reads ProjectsService.createProject.
    return f"{route.tags[0]}-{route.name}"


def create_app(*, listen_host: str | None = None) -> FastAPI:
    """The app; `listen_host` is the address `isomix serve` binds (default ISOMIX_HOST): a
    specific one is a Host name the app answers to, besides the loopback names."""
    app = FastAPI(
        title="IsoMix Studio",
        version=isomix.__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    app.state.metrics = Metrics()
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics)
    install_security_headers(app, get_settings())
    install_guards(app, listen_host=listen_host)  # before routing and metrics
    # Outermost: a refusal by the guards carries an id too, and every line about the request.
    app.add_middleware(RequestIdMiddleware)
    for router in (
        auth.router,
        account.router,
        admin.router,
        billing.router,
        projects.router,
        analysis.router,
        stems.router,
        exports.router,
        mixes.router,
        models.router,
        system.config_router,
        system.router,
        ui.router,  # last: its catch-all must not shadow the API
    ):
        app.include_router(router)
    return app
