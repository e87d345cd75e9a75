"""Accounts on PostgreSQL (ISOMIX_AUTH_MODE=accounts): the daily quota under real concurrent
uploads, plans and usage with timezone-aware timestamps, the append-only audit trail, and
per-owner job slots when two workers claim at once."""

from __future__ import annotations

import contextlib
import io
import random
import threading
import wave
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
import uvicorn
from conftest import Stack, free_port, wait_until
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from isomix import audit
from isomix.accounts import access, usage, users
from isomix.api.app import create_app
from isomix.api.server import uvicorn_options
from isomix.config import get_settings
from isomix.db import get_engine, get_sessionmaker, reset_engines
from isomix.jobs import lease
from isomix.models import (
    AuditEvent,
    JobStatus,
    Project,
    Subscription,
    UsageDay,
    User,
    new_id,
    utcnow,
)

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
PARALLEL_UPLOADS = 20
RUNS = 10
# A zone far from UTC: its date differs from UTC's for 14 hours of every day.
FAR_ZONE = "Pacific/Kiritimati"


@pytest.fixture
def accounts(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("ISOMIX_AUTH_MODE", "accounts")
    get_settings.cache_clear()
    assert get_settings().accounts
    return stack


@pytest.fixture(params=["UTC", FAR_ZONE])
def zone(request: pytest.FixtureRequest, accounts: Stack) -> str:
    """The server's zone: timestamptz values come back in it (aware, but not in UTC)."""
    set_database_zone(accounts, request.param)
    return str(request.param)


def set_database_zone(stack: Stack, zone: str) -> None:
    name = stack.database_url.rsplit("/", 1)[1]
    with get_engine().connect() as connection:
        connection.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO '{zone}'"))
        connection.commit()
    reset_engines()  # new connections pick the zone up
    with get_engine().connect() as connection:
        assert connection.scalar(text("SHOW timezone")) == zone


def noise_wav(seed: int, seconds: float = 0.5, rate: int = 22050) -> bytes:
    """Half a second of stereo 16-bit noise: a different file (and sha256) for every seed."""
    generator = random.Random(seed)
    frames = int(seconds * rate)
    samples = generator.randbytes(frames * 2 * 2)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples)
    return buffer.getvalue()


def new_user(email: str) -> User:
    """A new user on the Free plan (3 uploads a day, 1 job at a time)."""
    with get_sessionmaker()() as session:
        return users.create(session, email, PASSWORD, settings=get_settings())


def bearer(user: User) -> dict[str, str]:
    token, _ = access.issue(user.id, get_settings(), now=utcnow())
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def live_server() -> Iterator[str]:
    """The app under uvicorn (with `isomix serve`'s protocol and limits) on a free loopback
    port, in a thread: requests from several client threads really run at once."""
    options, _ = uvicorn_options(get_settings())
    config = uvicorn.Config(
        create_app(),
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="off",
        ws="none",
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 20, "uvicorn")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(20)
        assert not thread.is_alive(), "uvicorn did not stop"


def upload_together(
    base_url: str, headers: dict[str, str], songs: list[bytes]
) -> list[httpx.Response]:
    """Every song in its own thread and connection, sent when all threads are ready."""
    start = threading.Barrier(len(songs))

    def send(index: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
            start.wait(timeout=30)
            return client.post(
                "/api/projects",
                data={"model": "classic"},
                files={"file": (f"noise-{index}.wav", songs[index], "audio/wav")},
            )

    with ThreadPoolExecutor(max_workers=len(songs)) as pool:
        return list(pool.map(send, range(len(songs))))


def test_parallel_uploads_take_exactly_the_daily_quota(accounts: Stack) -> None:
    songs = [noise_wav(seed) for seed in range(PARALLEL_UPLOADS)]
    assert len(set(songs)) == PARALLEL_UPLOADS
    with live_server() as base_url:
        for run in range(RUNS):
            user = new_user(f"quota-{run}@example.com")
            responses = upload_together(base_url, bearer(user), songs)
            statuses = Counter(response.status_code for response in responses)
            assert statuses == {202: 3, 429: 17}, f"run {run}: {statuses}: " + "; ".join(
                r.text[:200] for r in responses if r.status_code not in (202, 429)
            )
            for response in responses:
                body = response.json()
                if response.status_code == 202:
                    assert body["status"] == "queued" and body["model"] == "classic", body
                else:
                    assert body["code"] == "limit_reached", body
                    assert body["limit"] == "uploads_per_day" and body["value"] == 3, body
                    assert int(response.headers["Retry-After"]) >= 1
            with get_sessionmaker()() as session:
                rows = session.scalars(select(UsageDay).where(UsageDay.user_id == user.id)).all()
                assert [row.uploads for row in rows] == [3], f"run {run}"
                projects = session.scalar(
                    select(func.count()).select_from(Project).where(Project.owner_id == user.id)
                )
                assert projects == 3, f"run {run}"


# ---------------------------------------------------------------- plans and usage


def test_plans_and_subscriptions_on_postgres(zone: str) -> None:
    settings = get_settings()
    until = utcnow() + timedelta(days=30)
    with get_sessionmaker()() as session:
        pro = users.create(
            session, "pro@example.com", PASSWORD, plan="pro", until=until, settings=settings
        )
        state = users.plan_of(session, pro, settings)
        assert (state.plan.name, state.source) == ("pro", "admin")
        assert state.until is not None and state.until.tzinfo is not None
        assert state.until == until  # microseconds and the instant survive the round trip

        # The subscription runs from its creation until `until`, both compared in SQL.
        def plan_at(moment: datetime) -> str:
            return users.plan_of(session, pro, settings, now=moment).plan.name

        assert plan_at(until - timedelta(seconds=1)) == "pro"
        assert plan_at(until) == "free"
        assert plan_at(utcnow() - timedelta(hours=1)) == "free"

        # Back to Free: the running subscription ends now.
        users.set_plan(session, pro, "free", until=None, source="admin")
        session.commit()
        assert users.plan_of(session, pro, settings).plan.name == "free"
        # Pro again, open-ended, from Stripe: the newest running subscription wins.
        users.set_plan(session, pro, "pro", until=None, source="stripe", external_id="sub_1")
        session.commit()
        state = users.plan_of(session, pro, settings)
        assert (state.plan.name, state.until, state.source) == ("pro", None, "stripe")
        ended = session.scalars(
            select(Subscription.ends_at).where(
                Subscription.user_id == pro.id, Subscription.ends_at.is_not(None)
            )
        ).all()
        assert len(ended) == 1 and ended[0].tzinfo is not None and ended[0] <= utcnow()
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        me = client.get("/api/me", headers=bearer(pro))
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["plan"]["name"] == "pro" and body["plan_source"] == "stripe"
        assert body["user"]["plan_until"] is None
        assert body["usage"]["uploads_today"] == 0 and body["usage"]["uploads_left"] == 100


def test_usage_days_on_postgres(zone: str) -> None:
    user = new_user("usage@example.com")
    now = utcnow()
    with get_sessionmaker()() as session:
        assert [usage.reserve_upload(session, user.id, 2, now=now) for _ in range(3)] == [
            True,
            True,
            False,
        ]
        assert usage.uploads_today(session, user.id, now=now) == 2
        usage.give_back(session, user.id, now)
        assert usage.uploads_today(session, user.id, now=now) == 1
        assert usage.uploads_today(session, user.id, now=now + timedelta(days=1)) == 0
        # No limit: counted, never refused.
        assert all(usage.reserve_upload(session, user.id, None, now=now) for _ in range(5))
        assert usage.uploads_today(session, user.id, now=now) == 6


def test_cancel_gives_the_upload_back_to_its_utc_day_whatever_the_server_zone(
    accounts: Stack,
) -> None:
    """PostgreSQL hands timestamptz values back in the session's TimeZone (the server's
    `timezone` setting unless a client sets one). A queued project made late in a UTC day and
    cancelled must give its upload back to that UTC day also when the zone is another."""
    set_database_zone(accounts, FAR_ZONE)
    user = new_user("zone@example.com")
    late = datetime(2030, 1, 1, 23, 0, tzinfo=UTC)  # 2030-01-02 13:00 in FAR_ZONE
    with get_sessionmaker()() as session:
        assert usage.reserve_upload(session, user.id, 3, now=late)  # what the upload did
        project = Project(
            owner_id=user.id,
            filename="late.wav",
            source_path="projects/late/original.wav",
            content_sha256="0" * 64,
            size_bytes=1,
            container="wav",
            model="classic",
            status=JobStatus.queued,
            queued_at=late,
            created_at=late,
        )
        session.add(project)
        session.commit()
        project_id = project.id
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        cancelled = client.post(f"/api/projects/{project_id}/cancel", headers=bearer(user))
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    with get_sessionmaker()() as session:
        days = {row.day: row.uploads for row in session.scalars(select(UsageDay))}
    assert days == {"2030-01-01": 0}, f"the upload went back to the wrong day: {days}"


# ---------------------------------------------------------------- audit trail


def test_audit_events_refuse_update_and_delete_on_postgres(accounts: Stack) -> None:
    user = new_user("audit@example.com")
    audit.record("login", user=user, ip="127.0.0.1")
    sessionmaker = get_sessionmaker()
    for statement in (update(AuditEvent).values(ip="10.0.0.1"), delete(AuditEvent)):
        with sessionmaker() as session, pytest.raises(DBAPIError) as refused:
            session.execute(statement)
            session.commit()
        assert isinstance(refused.value.orig, psycopg.errors.RaiseException)
        assert "audit_events is append-only" in str(refused.value.orig)
    # Also in raw SQL, outside the ORM.
    with sessionmaker() as session:
        for sql in ("UPDATE audit_events SET action = 'admin'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"):
                session.execute(text(sql))
            session.rollback()
        rows = session.scalars(select(AuditEvent)).all()
        assert [(row.action, row.ip, row.user_id) for row in rows] == [
            ("login", "127.0.0.1", user.id)
        ]
        assert rows[0].at.tzinfo is not None


# ---------------------------------------------------------------- job slots


def queued_project(owner_id: str) -> str:
    project_id = new_id()
    now = utcnow()
    with get_sessionmaker()() as session:
        session.add(
            Project(
                id=project_id,
                owner_id=owner_id,
                priority=0,
                job_slots=1,
                filename="song.wav",
                source_path=f"projects/{project_id}/original.wav",
                content_sha256=new_id().replace("-", "").ljust(64, "0"),
                size_bytes=1,
                container="wav",
                model="classic",
                status=JobStatus.queued,
                queued_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()
    return project_id


def claim_together(project_ids: list[str]) -> list[lease.Claim]:
    """Each job claimed by its own worker thread, the claims started at the same moment."""
    start = threading.Barrier(len(project_ids))

    def claim(index: int) -> lease.Claim:
        start.wait(timeout=30)
        return lease.claim(Project, project_ids[index], worker_id=f"worker-{index}")

    with ThreadPoolExecutor(max_workers=len(project_ids)) as pool:
        return list(pool.map(claim, range(len(project_ids))))


def test_two_workers_claiming_one_free_owners_jobs_run_one(accounts: Stack) -> None:
    for attempt in range(RUNS):
        owner = new_user(f"slots-{attempt}@example.com")
        first, second = queued_project(owner.id), queued_project(owner.id)
        claims = claim_together([first, second])
        assert sorted(claim.value for claim in claims) == ["claimed", "owner_busy"], (
            f"attempt {attempt}: {claims}"
        )
        with get_sessionmaker()() as session:
            statuses = session.scalars(
                select(Project.status).where(Project.owner_id == owner.id)
            ).all()
        assert sorted(statuses) == [JobStatus.processing, JobStatus.queued], f"attempt {attempt}"
