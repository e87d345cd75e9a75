"""`isomix users|tokens|audit` as an admin runs them on the server: rows, output, exit codes."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from isomix import audit
from isomix.accounts import tokens, users
from isomix.cli import main
from isomix.commands.audit import parse_since
from isomix.config import Settings, get_settings
from isomix.db import get_sessionmaker, reset_engines
from isomix.migrate import ensure_schema
from isomix.models import (
    LOCAL_OWNER_EMAIL,
    ApiToken,
    AuditEvent,
    Subscription,
    User,
    as_utc,
    utcnow,
)

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def database(data_dir: Path) -> Iterator[None]:
    reset_engines()
    ensure_schema()
    yield
    reset_engines()


@pytest.fixture
def db() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


def accounts_settings() -> Settings:
    return get_settings().model_copy(update={"auth_mode": "accounts"})


def isomix(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def user(session: Session, email: str) -> User:
    session.expire_all()
    found = session.scalar(select(User).where(User.email == email))
    assert found is not None
    return found


def events(session: Session, action: str | None = None) -> list[AuditEvent]:
    session.expire_all()
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))


def future_day(days: int = 30) -> date:
    return utcnow().date() + timedelta(days=days)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def make_user(email: str, **options: Any) -> None:
    with get_sessionmaker()() as session:
        users.create(session, email, PASSWORD, settings=accounts_settings(), **options)


# ---------------------------------------------------------------- users create


def test_create_reads_the_password_from_stdin_and_prints_id_and_plan(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    code, out, err = isomix(
        capsys, monkeypatch, "users", "create", " Alice@Example.com", stdin=PASSWORD + "\n"
    )

    assert code == 0, err
    alice = user(db, "alice@example.com")
    assert f"id:   {alice.id}" in out
    assert "plan: free" in out
    assert not alice.is_admin and alice.disabled_at is None
    assert alice.password_hash is not None and PASSWORD not in alice.password_hash
    assert users.authenticate(db, "alice@example.com", PASSWORD) is not None
    assert users.plan_of(db, alice, accounts_settings()).plan.name == "free"
    (event,) = events(db, "user_created")
    assert (event.email, event.object_type, event.object_id) == (
        "alice@example.com",
        "user",
        alice.id,
    )
    assert event.detail["by"] == "cli"
    assert event.detail["plan"] == "free"
    assert PASSWORD not in json.dumps(event.detail)


def test_create_an_admin_on_pro_until_a_day(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    day = future_day()
    code, out, err = isomix(
        capsys,
        monkeypatch,
        "users",
        "create",
        "boss@example.com",
        "--plan",
        "pro",
        "--until",
        day.isoformat(),
        "--admin",
        stdin=PASSWORD + "\n",
    )

    assert code == 0, err
    assert "(admin)" in out
    assert f"plan: pro until {day.isoformat()}" in out
    boss = user(db, "boss@example.com")
    assert boss.is_admin
    (subscription,) = db.scalars(select(Subscription).where(Subscription.user_id == boss.id))
    assert (subscription.plan, subscription.source) == ("pro", "admin")
    assert subscription.ends_at is not None
    assert as_utc(subscription.ends_at) == midnight(day)
    state = users.plan_of(db, boss, accounts_settings())
    assert (state.plan.name, state.until) == ("pro", midnight(day))
    after = users.plan_of(db, boss, accounts_settings(), now=midnight(day) + timedelta(minutes=1))
    assert after.plan.name == "free"


def test_create_asks_twice_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter([PASSWORD, PASSWORD + "!", PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr("sys.stdin", Terminal())

    assert main(["users", "create", "tty@example.com"]) == 1
    assert "the two passwords differ" in capsys.readouterr().err
    assert db.scalar(select(User).where(User.email == "tty@example.com")) is None

    assert main(["users", "create", "tty@example.com"]) == 0
    assert users.authenticate(db, "tty@example.com", PASSWORD) is not None


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["taken@example.com"], PASSWORD + "\n", "exists already"),
        (["weak@example.com"], "short\n", "at least 10 characters"),
        (["weak@example.com"], "\n", "at least 10 characters"),
        (["same@example.com"], "Same@Example.com\n", "must not be the email"),
        (["not-an-email"], PASSWORD + "\n", "not an email address"),
        (["empty@example.com"], "", "no password on standard input"),
        (["late@example.com", "--plan", "pro", "--until", "2020-01-01"], PASSWORD, "future"),
        (["free@example.com", "--until", "2099-01-01"], PASSWORD, "paid plan"),
        (["day@example.com", "--plan", "pro", "--until", "31/12/2099"], PASSWORD, "YYYY-MM-DD"),
    ],
)
def test_create_refuses_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: Session,
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    make_user("taken@example.com")
    before = {row.email for row in db.scalars(select(User))}

    code, out, err = isomix(capsys, monkeypatch, "users", "create", *argv, stdin=stdin)

    assert code == 1
    assert err.startswith("error: ") and message in err
    assert out == ""
    assert {row.email for row in db.scalars(select(User))} == before
    assert events(db, "user_created") == []


def test_a_taken_email_is_refused_whatever_its_case(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    argv = ("users", "create", "dup@example.com")
    assert isomix(capsys, monkeypatch, *argv, stdin=PASSWORD)[0] == 0
    code, _, err = isomix(capsys, monkeypatch, "users", "create", "DUP@example.com", stdin=PASSWORD)
    assert code == 1 and "exists already" in err
    assert len(db.scalars(select(User).where(User.email == "dup@example.com")).all()) == 1


# ---------------------------------------------------------------- users list


def test_list_shows_every_user_but_the_local_owner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    code, out, err = isomix(capsys, monkeypatch, "users", "list")
    assert code == 0, err
    assert "No users yet" in out

    day = future_day(10)
    make_user("ann@example.com", admin=True)
    make_user("ben@example.com", plan="pro", until=midnight(day))
    make_user("cat@example.com")
    users.disable(db, user(db, "cat@example.com"))

    code, out, err = isomix(capsys, monkeypatch, "users", "list")

    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split() == ["EMAIL", "PLAN", "UNTIL", "ADMIN", "DISABLED", "CREATED"]
    table = {line.split()[0]: line.split() for line in lines}
    assert LOCAL_OWNER_EMAIL not in out
    assert list(table) == ["ann@example.com", "ben@example.com", "cat@example.com"]
    today = utcnow().date().isoformat()
    assert table["ann@example.com"] == ["ann@example.com", "free", "-", "yes", "no", today]
    assert table["ben@example.com"] == [
        "ben@example.com",
        "pro",
        day.isoformat(),
        "no",
        "no",
        today,
    ]
    assert table["cat@example.com"][1:4] == ["free", "-", "no"]
    assert table["cat@example.com"][4] == today  # disabled on (then the time)


# ---------------------------------------------------------------- users set-plan


def test_set_plan_until_a_day_then_free_after_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    make_user("dan@example.com")
    day = future_day(3)

    code, out, err = isomix(
        capsys, monkeypatch, "users", "set-plan", "dan@example.com", "pro", "--until", str(day)
    )

    assert code == 0, err
    assert out.strip() == f"dan@example.com: pro until {day.isoformat()}"
    dan = user(db, "dan@example.com")
    settings = accounts_settings()
    now = users.plan_of(db, dan, settings)
    assert (now.plan.name, now.until, now.source) == ("pro", midnight(day), "admin")
    assert users.plan_of(db, dan, settings, now=midnight(day) - timedelta(seconds=1)).plan.name == (
        "pro"
    )
    assert users.plan_of(db, dan, settings, now=midnight(day)).plan.name == "free"
    (event,) = events(db, "plan_changed")
    assert event.detail == {"plan": "pro", "until": midnight(day).isoformat(), "by": "cli"}
    assert (event.email, event.object_id) == ("dan@example.com", dan.id)

    # Back to free: the running subscription ends now.
    code, out, err = isomix(capsys, monkeypatch, "users", "set-plan", "dan@example.com", "free")
    assert code == 0, err
    assert users.plan_of(db, dan, settings).plan.name == "free"
    assert events(db, "plan_changed")[-1].detail == {"plan": "free", "until": None, "by": "cli"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dan@example.com", "pro", "--until", "2020-01-01"], "not in the future"),
        (["dan@example.com", "free", "--until", "2099-01-01"], "paid plan"),
        (["nobody@example.com", "pro"], "no user 'nobody@example.com'"),
        ([LOCAL_OWNER_EMAIL, "pro"], "no user"),
    ],
)
def test_set_plan_refusals_change_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: Session,
    argv: list[str],
    message: str,
) -> None:
    make_user("dan@example.com")

    code, _, err = isomix(capsys, monkeypatch, "users", "set-plan", *argv)

    assert code == 1 and message in err
    assert db.scalars(select(Subscription)).all() == []
    assert events(db, "plan_changed") == []


def test_today_is_already_past_for_until(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("eve@example.com")
    today = utcnow().date().isoformat()  # its 00:00 UTC has passed
    code, _, err = isomix(
        capsys, monkeypatch, "users", "set-plan", "eve@example.com", "pro", "--until", today
    )
    assert code == 1 and "not in the future" in err


# ---------------------------------------------------------------- users disable


def test_disable_ends_sign_in_and_tokens(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    make_user("fay@example.com")
    fay = user(db, "fay@example.com")
    _, secret = tokens.create_api_token(db, fay, "script")
    db.commit()
    refresh = tokens.start_session(db, fay, accounts_settings())
    db.commit()
    assert tokens.user_of_api_token(db, secret) is not None

    code, out, err = isomix(capsys, monkeypatch, "users", "disable", "fay@example.com")

    assert code == 0, err
    assert "disabled fay@example.com" in out
    assert user(db, "fay@example.com").disabled_at is not None
    assert users.authenticate(db, "fay@example.com", PASSWORD) is None
    assert tokens.user_of_api_token(db, secret) is None
    with pytest.raises(tokens.RefreshRefused):
        tokens.rotate(db, refresh.secret, accounts_settings())
    (event,) = events(db, "user_disabled")
    assert (event.email, event.object_id, event.detail) == (
        "fay@example.com",
        fay.id,
        {"by": "cli"},
    )

    code, out, _ = isomix(capsys, monkeypatch, "users", "disable", "fay@example.com")
    assert code == 0 and "disabled already" in out
    assert len(events(db, "user_disabled")) == 1

    code, _, err = isomix(capsys, monkeypatch, "users", "disable", "ghost@example.com")
    assert code == 1 and "no user 'ghost@example.com'" in err


# ---------------------------------------------------------------- tokens create


def test_token_create_prints_the_secret_once_on_the_last_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    make_user("gus@example.com")

    code, out, err = isomix(
        capsys, monkeypatch, "tokens", "create", "gus@example.com", "--name", "backup job"
    )

    assert code == 0, err
    secret = out.splitlines()[-1]
    assert secret.startswith("isk_") and secret.strip() == secret
    assert out.count(secret) == 1
    gus = user(db, "gus@example.com")
    found = tokens.user_of_api_token(db, secret)
    assert found is not None and found.id == gus.id
    (row,) = db.scalars(select(ApiToken).where(ApiToken.user_id == gus.id))
    assert row.name == "backup job"
    assert row.token_hash != secret and secret not in row.token_hash
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    (event,) = events(db, "token_created")
    assert (event.email, event.object_type, event.object_id) == ("gus@example.com", "token", row.id)
    assert event.detail == {"for": "gus@example.com", "name": "backup job", "by": "cli"}
    for stored in events(db):
        assert secret not in json.dumps(stored.detail)
        assert secret[len("isk_") :] not in json.dumps(stored.detail)


def test_token_create_refuses_unknown_and_disabled_users(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    code, out, err = isomix(capsys, monkeypatch, "tokens", "create", "nobody@example.com")
    assert (code, out) == (1, "") and "no user" in err

    make_user("hal@example.com")
    users.disable(db, user(db, "hal@example.com"))
    code, out, err = isomix(capsys, monkeypatch, "tokens", "create", "hal@example.com")
    assert (code, out) == (1, "") and "disabled" in err
    assert db.scalars(select(ApiToken)).all() == []


# ---------------------------------------------------------------- audit


def add_event(session: Session, at: datetime, action: str, who: User | None, **values: Any) -> None:
    session.add(
        AuditEvent(
            at=at,
            action=action,
            user_id=who.id if who else None,
            email=who.email if who else values.pop("email", None),
            **values,
        )
    )
    session.commit()


def audit_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str
) -> list[dict[str, Any]]:
    code, out, err = isomix(capsys, monkeypatch, "audit", "--json", *argv)
    assert code == 0, err
    listed: list[dict[str, Any]] = json.loads(out)
    return listed


def test_audit_filters_by_user_time_and_action(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    make_user("ivy@example.com")
    make_user("jon@example.com")
    ivy, jon = user(db, "ivy@example.com"), user(db, "jon@example.com")
    now = utcnow()
    add_event(db, now - timedelta(days=10), "login", ivy, ip="192.0.2.1")
    add_event(db, now - timedelta(days=2), "upload", ivy, object_type="project", object_id="p1")
    add_event(db, now - timedelta(hours=5), "login_failed", None, email="jon@example.com")
    add_event(db, now - timedelta(hours=1), "login", jon, ip="198.51.100.7")
    add_event(db, now - timedelta(minutes=5), "export", ivy, detail={"format": "mp3"})

    def actions(*argv: str) -> list[tuple[str, str | None]]:
        return [(e["action"], e["email"]) for e in audit_json(capsys, monkeypatch, *argv)]

    everything = actions()
    assert everything == [
        ("login", "ivy@example.com"),
        ("upload", "ivy@example.com"),
        ("login_failed", "jon@example.com"),
        ("login", "jon@example.com"),
        ("export", "ivy@example.com"),
    ]  # oldest first
    assert actions("--user", "IVY@example.com") == [
        ("login", "ivy@example.com"),
        ("upload", "ivy@example.com"),
        ("export", "ivy@example.com"),
    ]
    assert actions("--since", "24h") == everything[2:]
    assert actions("--since", "3d") == everything[1:]
    since_day = (now - timedelta(days=3)).date().isoformat()  # 00:00 UTC of that day
    assert actions("--since", since_day) == everything[1:]
    since_time = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    assert actions("--since", since_time) == everything[3:]
    assert actions("--since", (now - timedelta(hours=2)).isoformat()) == everything[3:]
    assert actions("--action", "login") == [everything[0], everything[3]]
    assert actions("--action", "login", "--since", "7d", "--user", "jon@example.com") == [
        everything[3]
    ]
    assert actions("--limit", "2") == everything[3:]  # the newest two, still oldest first

    code, out, err = isomix(capsys, monkeypatch, "audit", "--user", "ivy@example.com")
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split()[:4] == ["TIME", "(UTC)", "ACTION", "EMAIL"]
    assert len(lines) == 3
    assert "192.0.2.1" in lines[0]
    assert "project:p1" in lines[1]
    assert lines[2].endswith('{"format":"mp3"}')

    code, out, _ = isomix(capsys, monkeypatch, "audit", "--action", "logout")
    assert code == 0 and "No audit events match" in out


def test_audit_shows_what_the_cli_did(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    isomix(capsys, monkeypatch, "users", "create", "kim@example.com", stdin=PASSWORD)
    isomix(capsys, monkeypatch, "users", "set-plan", "kim@example.com", "pro")
    isomix(capsys, monkeypatch, "tokens", "create", "kim@example.com")
    isomix(capsys, monkeypatch, "users", "disable", "kim@example.com")

    listed = audit_json(capsys, monkeypatch, "--since", "1h")

    assert [event["action"] for event in listed] == [
        "user_created",
        "plan_changed",
        "token_created",
        "user_disabled",
    ]
    assert all(event["detail"]["by"] == "cli" for event in listed)
    assert all(event["email"] == "kim@example.com" for event in listed)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--user", "nobody@example.com"], "no user 'nobody@example.com'"),
        (["--since", "yesterday"], "--since wants"),
        (["--action", "hacked"], "unknown action 'hacked'"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_audit_refusals(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    code, out, err = isomix(capsys, monkeypatch, "audit", *argv)
    assert (code, out) == (1, "")
    assert message in err


def test_since_reads_durations_days_and_times() -> None:
    now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now=now) == now - timedelta(hours=24)
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    assert parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert parse_since("2w", now=now) == now - timedelta(weeks=2)
    assert parse_since("2026-05-01") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_since("2026-05-01T08:30") == datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    assert parse_since("2026-05-01T10:30+02:00") == datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


def test_the_audit_trail_refuses_update_and_delete(db: Session) -> None:
    audit.record("login", email="x@example.com", detail={"n": 1})

    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(update(AuditEvent).values(action="logout"))
    db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(delete(AuditEvent))
    db.rollback()
    events(db)[0].detail = {"n": 2}
    with pytest.raises(DBAPIError, match="append-only"):
        db.commit()
    db.rollback()
    db.delete(events(db)[0])
    with pytest.raises(DBAPIError, match="append-only"):
        db.commit()
    db.rollback()

    (unchanged,) = events(db)
    assert (unchanged.action, unchanged.detail) == ("login", {"n": 1})
