"""`isomix gc [--dry-run]`: apply retention and collect garbage once, and say what was done
(or, with --dry-run, what would be done)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from isomix.jobs.cleanup import CleanupPlan, Doomed


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gc",
        help="expire old projects and delete unused files now",
        description="Run the cleanup the workers run periodically: expire projects past "
        "their retention, delete old exports and unused stems, remove files left by "
        "interrupted jobs, re-queue jobs whose worker died. Safe to run at any time: "
        "nothing a running job uses is touched.",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="only list what would be expired, deleted and freed; change nothing",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from isomix.jobs.cleanup import plan_cleanup, run_cleanup
    from isomix.migrate import SchemaError, ensure_schema

    try:
        ensure_schema()
    except SchemaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not args.dry_run:
        print(run_cleanup().summary())
        return 0
    _print_plan(plan_cleanup())
    return 0


def _print_plan(plan: CleanupPlan) -> None:
    from isomix.storage import format_bytes

    sections: list[tuple[str, list[Doomed]]] = [
        ("projects past their expiry", plan.expired_projects),
        ("exports (old, or of an expiring project)", plan.deleted_exports),
        ("stem sets no project uses", plan.deleted_stem_sets),
        ("leftover files and folders", plan.removed_paths),
    ]
    for title, items in sections:
        if not items:
            continue
        print(f"{title}:")
        for item in items:
            note = f"  {item.note}" if item.note else ""
            print(f"  {item.id}  {format_bytes(item.size_bytes)}{note}")
    jobs = [("re-queue", plan.requeued), ("re-send", plan.resent), ("fail", plan.failed)]
    for verb, listed in jobs:
        for table, job_id in listed:
            print(f"would {verb} {table.removesuffix('s')} {job_id}")
    print(f"dry run, nothing changed: {plan.summary()}")
