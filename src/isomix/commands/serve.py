"""`isomix serve`: the web UI and API, plus the built-in worker when no Redis is configured."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from typing import Any

from isomix import storage
from isomix.config import get_settings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    settings = get_settings()
    parser = subparsers.add_parser(
        "serve",
        help="run the web UI and API (and the built-in worker)",
        description="Serve the web UI at / and the API under /api. Without ISOMIX_REDIS_URL a "
        "built-in worker process runs the jobs; with it, run `isomix worker` separately.",
    )
    parser.add_argument("--host", default=None, help=f"address to bind (default {settings.host})")
    parser.add_argument(
        "--port", type=int, default=None, help=f"port to listen on (default {settings.port})"
    )
    parser.set_defaults(handler=run)


def prepare_data_dirs() -> None:
    storage.create_layout()


def is_loopback(host: str) -> bool:
    """Only this machine can reach `host`: a loopback address or the name localhost."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def browser_url(host: str, port: int) -> str:
    """Where to open the UI on this machine: a wildcard address names no host to open."""
    name = host.strip()
    if name in ("", "0.0.0.0", "*"):
        name = "127.0.0.1"
    elif name.strip("[]") == "::":
        name = "[::1]"
    elif ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return f"http://{name}:{port}/"


def exposure_warning(host: str, port: int, *, accounts: bool = False) -> str | None:
    """What to say when `isomix serve` listens beyond this machine in single mode (no
    sign-in). With accounts (ISOMIX_AUTH_MODE=accounts) every route needs a user."""
    if is_loopback(host) or accounts:
        return None
    return (
        f"isomix serve: WARNING: listening on {host}:{port}, beyond this machine, without "
        "accounts: anyone who can reach this port can upload songs, download every "
        "stem and delete projects. Use it only on a network you trust, or set "
        "ISOMIX_AUTH_MODE=accounts (README: Running it for others). Other machines must use "
        "the address given to --host or a host name listed in ISOMIX_ALLOWED_HOSTS."
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from isomix import errortracking, logs
    from isomix.api.app import create_app
    from isomix.api.server import uvicorn_options
    from isomix.migrate import SchemaError, ensure_schema

    settings = get_settings()
    # Every line of this process, uvicorn's included (it is given no logging config of its
    # own below), as JSON or text, signed links and tokens redacted.
    logs.configure(settings)
    errortracking.init("api", settings)
    host = args.host or settings.host
    port = args.port or settings.port
    try:
        prepare_data_dirs()
        ensure_schema()
    except (OSError, SchemaError) as error:
        print(f"isomix serve: {error}", file=sys.stderr)
        return 1

    try:
        app = create_app(listen_host=host)
    except ValueError as error:  # ISOMIX_ALLOWED_HOSTS / ISOMIX_ALLOWED_ORIGINS
        print(f"isomix serve: {error}", file=sys.stderr)
        return 1
    options, note = uvicorn_options(settings)
    if note is not None:
        print(f"isomix serve: {note}", file=sys.stderr)
    warning = exposure_warning(host, port, accounts=settings.accounts)
    if warning is not None:
        print(warning, file=sys.stderr)
    worker = None
    if settings.redis_url is None:
        from isomix.jobs.cleanup import remove_partial_uploads
        from isomix.jobs.embedded import start_embedded_worker

        # Before listening, and only here: no other process receives uploads into this data
        # directory, so a row-less upload folder is what a crash mid-upload left behind.
        remove_partial_uploads()
        worker = start_embedded_worker()
        app.state.embedded_worker = worker
    else:
        print("isomix serve: jobs go to Redis; run `isomix worker` to process them")
    print(f"isomix serve: data in {settings.data_dir}; open {browser_url(host, port)}")
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            log_level=settings.log_level.lower(),
            **options,
        )
    finally:
        if worker is not None:
            worker.stop()
    return 0
