"""`isomix serve`: the web UI and API, plus the built-in worker when no Redis is configured."""

from __future__ import annotations

import argparse
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


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from isomix.api.app import create_app
    from isomix.migrate import SchemaError, ensure_schema

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    try:
        prepare_data_dirs()
        ensure_schema()
    except (OSError, SchemaError) as error:
        print(f"isomix serve: {error}", file=sys.stderr)
        return 1

    app = create_app()
    worker = None
    if settings.redis_url is None:
        from isomix.jobs.embedded import start_embedded_worker

        worker = start_embedded_worker()
        app.state.embedded_worker = worker
    else:
        print("isomix serve: jobs go to Redis; run `isomix worker` to process them")
    print(f"isomix serve: data in {settings.data_dir}; open http://{host}:{port}/")
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        if worker is not None:
            worker.stop()
    return 0
