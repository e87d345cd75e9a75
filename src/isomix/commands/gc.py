"""`isomix gc`: apply retention and collect garbage once, and say what was done."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gc",
        help="expire old projects and delete unused files now",
        description="Run the cleanup the workers run periodically: expire projects past "
        "their retention, delete old exports and unused stems, remove files left by "
        "interrupted jobs, re-queue jobs whose worker died. Safe to run at any time.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from isomix.jobs.cleanup import run_cleanup
    from isomix.migrate import SchemaError, ensure_schema

    try:
        ensure_schema()
    except SchemaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = run_cleanup()
    print(report.summary())
    return 0
