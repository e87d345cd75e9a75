"""`isomix worker`: a Celery worker for the scaled deployment (needs ISOMIX_REDIS_URL)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from isomix.config import get_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a Celery worker (scaled deployment: Redis + PostgreSQL)",
        description="Run separation and export jobs from Redis. Needs ISOMIX_REDIS_URL; "
        "`isomix serve` without it runs its own built-in worker instead.",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="jobs run in parallel (default 1: one separation uses every core)",
    )
    from isomix.jobs.broker import ALL_QUEUES, DEFAULT_QUEUE, SEPARATION_QUEUE

    all_queues = ",".join(ALL_QUEUES)
    parser.add_argument(
        "--queues",
        default=all_queues,
        help=f"comma-separated queues to consume (default {all_queues}; "
        f"{SEPARATION_QUEUE} holds the long jobs, {DEFAULT_QUEUE} exports and cleanup)",
    )
    parser.add_argument("--loglevel", default="info", help="debug, info, warning, error")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.redis_url:
        print(
            "error: `isomix worker` needs a Redis broker: set ISOMIX_REDIS_URL "
            "(e.g. redis://localhost:6379/0) and ISOMIX_DATABASE_URL for a shared database. "
            "Without Redis, `isomix serve` runs jobs in its built-in worker.",
            file=sys.stderr,
        )
        return 2
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    from isomix.migrate import SchemaError, ensure_schema

    try:
        ensure_schema()
    except SchemaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from isomix import errortracking
    from isomix.db import reset_engines
    from isomix.jobs.celery_app import get_app

    # Before the pool forks: its children inherit the client (Celery's tasks are reported by
    # sentry-sdk's Celery integration). Logging is set up by Celery's setup_logging signal.
    errortracking.init("worker", settings)

    # The parent process only forks pool children from here on: it must hold no database
    # connection, or the children would inherit (and eventually close) its sockets.
    reset_engines()

    get_app().worker_main(
        [
            "worker",
            f"--concurrency={args.concurrency}",
            f"--queues={args.queues}",
            f"--loglevel={args.loglevel}",
            f"--hostname=isomix{os.getpid()}@%h",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0
