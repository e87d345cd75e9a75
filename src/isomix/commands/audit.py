"""`isomix audit`: read the audit trail (sign-ins, uploads, plan changes, admin actions),
oldest first, as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from isomix.commands.users import (
    CommandError,
    find_user,
    handled,
    new_session,
    open_database,
    table,
)

_DURATION: Final = re.compile(r"(\d+)\s*([smhdw])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="show the audit trail",
        description="Print audit events, oldest first: time (UTC), action, email, client "
        'address, object and detail. Events made with the CLI carry "by": "cli".',
    )
    parser.add_argument(
        "--user", metavar="EMAIL", help="only events of this user (as the one who acted)"
    )
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="a date (YYYY-MM-DD, 00:00 UTC), a time (ISO 8601, UTC unless it says), or a "
        "duration back from now: 30m, 24h, 7d, 2w",
    )
    parser.add_argument("--action", metavar="NAME", help="only this action, e.g. login_failed")
    parser.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=1000,
        help="at most the newest N events (default: 1000)",
    )
    parser.add_argument("--json", action="store_true", help="a JSON array, for scripts")
    parser.set_defaults(handler=run)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`--since`: a duration back from now, a date, or a time; always aware and in UTC."""
    from isomix.models import utcnow

    cleaned = text.strip()
    duration = _DURATION.fullmatch(cleaned.lower())
    if duration:
        amount, unit = int(duration.group(1)), duration.group(2)
        return (now or utcnow()) - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise CommandError(
            f"--since wants a date (2026-01-31), a time (2026-01-31T12:00) or a duration "
            f"(24h, 7d), not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False) if detail else "-"


@handled
def run(args: argparse.Namespace) -> int:
    from isomix import audit
    from isomix.models import as_utc

    if args.limit < 1:
        raise CommandError("--limit must be 1 or more")
    if args.action is not None and args.action not in audit.ACTIONS:
        raise CommandError(f"unknown action {args.action!r}; actions: {', '.join(audit.ACTIONS)}")
    since = parse_since(args.since) if args.since is not None else None
    open_database()
    with new_session() as session:
        user_id = find_user(session, args.user).id if args.user is not None else None
        events = audit.events(
            session, user_id=user_id, since=since, action=args.action, limit=args.limit
        )
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "at": as_utc(event.at).isoformat(),
                        "action": event.action,
                        "user_id": event.user_id,
                        "email": event.email,
                        "ip": event.ip,
                        "object_type": event.object_type,
                        "object_id": event.object_id,
                        "detail": event.detail,
                    }
                    for event in events
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    if not events:
        print("No audit events match.")
        return 0
    rows = [("TIME (UTC)", "ACTION", "EMAIL", "IP", "OBJECT", "DETAIL")]
    for event in events:
        target = (
            f"{event.object_type}:{event.object_id}"
            if event.object_type and event.object_id
            else event.object_type or event.object_id or "-"
        )
        rows.append(
            (
                as_utc(event.at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                event.action,
                event.email or "-",
                event.ip or "-",
                target,
                _detail(event.detail),
            )
        )
    table(rows)
    return 0
