"""`isomix beat`: Celery beat for the scaled deployment; sends the collector (`isomix.cleanup`)
every 10 minutes (jobs/broker.py owns the schedule). Run exactly one."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from isomix.config import get_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "beat",
        help="send the collector on a timer (scaled deployment; run one)",
        description=__doc__,
    )
    parser.add_argument("--loglevel", default="info", help="debug, info, warning, error")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.redis_url:
        print(
            "error: `isomix beat` needs a Redis broker (ISOMIX_REDIS_URL). Without Redis, "
            "`isomix serve` collects on its own timer.",
            file=sys.stderr,
        )
        return 2
    from isomix import errortracking
    from isomix.jobs.celery_app import get_app

    errortracking.init("beat", settings)

    # Beat keeps when it last sent each task; a private temporary folder is enough, since
    # a missed run after a restart is sent at once.
    schedule = Path(tempfile.mkdtemp(prefix="isomix-beat-")) / "schedule"
    get_app().Beat(loglevel=args.loglevel.upper(), schedule=str(schedule)).run()
    return 0
