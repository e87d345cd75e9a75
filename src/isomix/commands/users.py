"""`isomix users create|list|set-plan|disable`: manage accounts from the server's shell.

The first admin comes from here (`isomix users create EMAIL --admin`). Every change is written
to the audit trail with `"by": "cli"`. The account modules are imported inside the handlers:
hashing a password costs time and memory that `isomix --help` and `isomix serve` must not pay.

Also the helpers the other account commands share (`tokens`, `audit`): opening the database,
finding a user by email, reading a date.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from isomix.config import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from isomix.models import User

PLAN_CHOICES = ("free", "pro")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "users",
        help="create users, list them, change their plan, disable them",
        description="Manage the accounts of this server (ISOMIX_AUTH_MODE=accounts). Plans set "
        "here are admin subscriptions; they run until the date given, or until changed.",
    )
    actions = parser.add_subparsers(dest="users_action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="create a user (password read from standard input)",
        description="Create a user. The password is read from standard input (one line); on a "
        "terminal it is asked for twice, without echo.",
    )
    create.add_argument("email", metavar="EMAIL")
    create.add_argument("--plan", choices=PLAN_CHOICES, default="free", help="default: free")
    create.add_argument("--admin", action="store_true", help="may use the admin pages and API")
    create.add_argument(
        "--until",
        metavar="YYYY-MM-DD",
        help="the plan ends at 00:00 UTC on this day (default: open-ended)",
    )
    create.set_defaults(handler=run_create)

    listing = actions.add_parser("list", help="every user with plan, admin and disabled state")
    listing.set_defaults(handler=run_list)

    set_plan = actions.add_parser(
        "set-plan",
        help="put a user on a plan from now on",
        description="End the user's running plan now and start PLAN (free ends it without a "
        "new one).",
    )
    set_plan.add_argument("email", metavar="EMAIL")
    set_plan.add_argument("plan", metavar="PLAN", choices=PLAN_CHOICES, help="free or pro")
    set_plan.add_argument(
        "--until",
        metavar="YYYY-MM-DD",
        help="the plan ends at 00:00 UTC on this day (default: open-ended)",
    )
    set_plan.set_defaults(handler=run_set_plan)

    disable = actions.add_parser(
        "disable",
        help="stop a user signing in; their sessions and API tokens end now",
    )
    disable.add_argument("email", metavar="EMAIL")
    disable.set_defaults(handler=run_disable)


# ---------------------------------------------------------------- shared by the commands


class CommandError(Exception):
    """A refusal to print as `error: <message>` with exit code 1."""


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def open_database() -> None:
    """Bring the schema to head (creating the data directory of a fresh install)."""
    from isomix.migrate import SchemaError, ensure_schema

    settings = get_settings()
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        ensure_schema()
    except SchemaError as error:
        raise CommandError(str(error)) from None


def new_session() -> Session:
    from isomix.db import get_sessionmaker

    return get_sessionmaker()()


def find_user(session: Session, email: str) -> User:
    """The user with this email; never the local owner (it is no account)."""
    from isomix.accounts import users
    from isomix.models import LOCAL_OWNER_ID

    user = users.by_email(session, email)
    if user is None or user.id == LOCAL_OWNER_ID:
        raise CommandError(f"no user {email!r} (see `isomix users list`)")
    return user


def parse_day(text: str, *, option: str = "--until") -> datetime:
    """YYYY-MM-DD as 00:00 UTC of that day."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option} wants a date as YYYY-MM-DD, not {text!r}") from None
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def future_until(text: str | None, plan: str) -> datetime | None:
    """--until as a moment; refused when it is not in the future or the plan is free."""
    from isomix.models import utcnow

    if text is None:
        return None
    if plan == "free":
        raise CommandError("--until is for a paid plan (free has no end)")
    until = parse_day(text)
    if until <= utcnow():
        raise CommandError(f"--until {text} is not in the future (the plan ends at 00:00 UTC)")
    return until


def moment(value: datetime | None, *, empty: str = "-") -> str:
    """A stored time as the tables print it: the day alone at 00:00, else minutes, in UTC."""
    from isomix.models import as_utc

    if value is None:
        return empty
    value = as_utc(value).astimezone(UTC)
    if value.time() == time(0, 0):
        return value.date().isoformat()
    return value.strftime("%Y-%m-%d %H:%M")


def accounts_view(settings: Settings) -> Settings:
    """The settings as accounts mode sees them: in single mode `plan_of` would answer the
    owner plan for everyone, and the CLI manages the accounts either way."""
    return settings.model_copy(update={"auth_mode": "accounts"})


def table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


Handler = Callable[[argparse.Namespace], int]


def handled(run: Handler) -> Handler:
    """The handler, with a CommandError printed as its message and exit code 1."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except CommandError as error:
            return fail(str(error))

    return wrapper


# ---------------------------------------------------------------- users create


def read_password() -> str:
    """One line of standard input; on a terminal, asked twice without echo."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password again: ")
        if first != second:
            raise CommandError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        raise CommandError("no password on standard input (give it as one line)")
    return line.rstrip("\r\n")


def plan_words(session: Session, user: User, settings: Settings) -> str:
    from isomix.accounts import users

    state = users.plan_of(session, user, accounts_view(settings))
    if state.until is None:
        return state.plan.name
    return f"{state.plan.name} until {moment(state.until)}"


@handled
def run_create(args: argparse.Namespace) -> int:
    from isomix import audit
    from isomix.accounts import passwords, users

    settings = get_settings()
    until = future_until(args.until, args.plan)
    password = read_password()
    open_database()
    with new_session() as session:
        try:
            user = users.create(
                session,
                args.email,
                password,
                plan=args.plan,
                admin=args.admin,
                until=until,
                settings=settings,
            )
        except users.EmailTakenError:
            raise CommandError(
                f"a user with the email {args.email.strip()!r} exists already"
            ) from None
        except (users.AccountError, passwords.WeakPasswordError) as error:
            raise CommandError(str(error)) from None
        audit.record(
            "user_created",
            email=user.email,
            object_type="user",
            object_id=user.id,
            detail={
                "by": "cli",
                "plan": args.plan,
                "until": until.isoformat() if until else None,
                "admin": args.admin,
            },
            session=session,
        )
        session.commit()
        print(f"created {user.email}{' (admin)' if user.is_admin else ''}")
        print(f"id:   {user.id}")
        print(f"plan: {plan_words(session, user, settings)}")
    if not settings.accounts:
        print(
            "note: ISOMIX_AUTH_MODE is single; accounts are used once it is set to accounts",
            file=sys.stderr,
        )
    return 0


# ---------------------------------------------------------------- users list


@handled
def run_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from isomix.accounts import users
    from isomix.models import LOCAL_OWNER_ID, User

    settings = accounts_view(get_settings())
    open_database()
    with new_session() as session:
        rows = session.scalars(
            select(User).where(User.id != LOCAL_OWNER_ID).order_by(User.created_at, User.email)
        ).all()
        if not rows:
            print("No users yet; create one with `isomix users create EMAIL`.")
            return 0
        lines = [("EMAIL", "PLAN", "UNTIL", "ADMIN", "DISABLED", "CREATED")]
        for user in rows:
            state = users.plan_of(session, user, settings)
            lines.append(
                (
                    user.email,
                    state.plan.name,
                    moment(state.until),
                    "yes" if user.is_admin else "no",
                    moment(user.disabled_at, empty="no"),
                    moment(user.created_at).split(" ")[0],
                )
            )
    table(lines)
    return 0


# ---------------------------------------------------------------- users set-plan


@handled
def run_set_plan(args: argparse.Namespace) -> int:
    from isomix import audit
    from isomix.accounts import users

    settings = get_settings()
    until = future_until(args.until, args.plan)
    open_database()
    with new_session() as session:
        user = find_user(session, args.email)
        users.set_plan(session, user, args.plan, until=until, source="admin")
        audit.record(
            "plan_changed",
            email=user.email,
            object_type="user",
            object_id=user.id,
            detail={
                "plan": args.plan,
                "until": until.isoformat() if until else None,
                "by": "cli",
            },
            session=session,
        )
        session.commit()
        print(f"{user.email}: {plan_words(session, user, settings)}")
    return 0


# ---------------------------------------------------------------- users disable


@handled
def run_disable(args: argparse.Namespace) -> int:
    from isomix import audit
    from isomix.accounts import users

    open_database()
    with new_session() as session:
        user = find_user(session, args.email)
        if user.disabled_at is not None:
            print(f"{user.email} is disabled already (since {moment(user.disabled_at)} UTC)")
            return 0
        users.disable(session, user)
        audit.record(
            "user_disabled",
            email=user.email,
            object_type="user",
            object_id=user.id,
            detail={"by": "cli"},
        )
        print(f"disabled {user.email}: signed out everywhere, API tokens revoked")
    return 0
