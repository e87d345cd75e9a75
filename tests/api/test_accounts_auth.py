"""Accounts mode, signing in and staying signed in: sign-up, sign-in, the rotating refresh
cookie, sign-out, disabled users, API tokens, password changes, Argon2id, the audit trail,
/api/me; single mode without any of it; the security headers and /metrics."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from api.accounts_support import (
    PASSWORD,
    Response,
    api_token,
    bearer,
    disable,
    distinct_wav,
    fresh_rate_limits,
    login,
    make_user,
    ready_project,
    refresh,
    refresh_cookie,
    upload_as,
)
from api.support import SetEnv
from isomix.accounts import access
from isomix.config import get_settings
from isomix.db import get_sessionmaker
from isomix.models import ApiToken, AuditEvent, User

ARGON2_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


@pytest.fixture
def accounts(set_env: SetEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(auth_mode="accounts")
    fresh_rate_limits(monkeypatch)


def signup(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    client.cookies.clear()
    return client.post("/api/auth/signup", json={"email": email, "password": password})


def stored_user(email: str) -> User:
    with get_sessionmaker()() as session:
        user = session.scalar(select(User).where(User.email == email))
        assert user is not None
        return user


def actions() -> list[str]:
    with get_sessionmaker()() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# ---------------------------------------------------------------- sign-up and sign-in


def test_signup_signs_in_with_a_strict_refresh_cookie(accounts: None, client: TestClient) -> None:
    response = signup(client, "New.User@Example.com")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    cookie = response.headers["set-cookie"]
    name_value, *attributes = [part.strip() for part in cookie.split(";")]
    assert name_value.startswith("isomix_refresh=isr_")
    flags = {attribute.split("=")[0].lower(): attribute for attribute in attributes}
    assert "httponly" in flags and "secure" in flags
    assert flags["samesite"].lower() == "samesite=strict"
    assert flags["path"] == "Path=/api/auth"
    assert flags["max-age"] == f"Max-Age={30 * 24 * 3600}"
    me = client.get("/api/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["user"]["email"] == "new.user@example.com"  # stored lower-case
    assert me.json()["plan"]["name"] == "free"


def test_signup_refusals(accounts: None, set_env: SetEnv, client: TestClient) -> None:
    assert signup(client, "taken@example.com").status_code == 201
    taken = signup(client, "Taken@Example.com")
    assert taken.status_code == 409 and taken.json()["code"] == "email_taken"
    weak = signup(client, "weak@example.com", "short")
    assert weak.status_code == 422 and "10 characters" in weak.json()["detail"]
    same = signup(client, "same@example.com", "same@example.com")
    assert same.status_code == 422
    not_email = signup(client, "not an email")
    assert not_email.status_code == 422
    set_env(signup="false")
    off = signup(client, "late@example.com")
    assert off.status_code == 403 and off.json()["code"] == "signup_off"
    assert "set-cookie" not in off.headers
    with get_sessionmaker()() as session:
        emails = set(session.scalars(select(User.email)))
    assert "late@example.com" not in emails and "weak@example.com" not in emails


def test_login_good_and_bad(accounts: None, client: TestClient) -> None:
    make_user("ann@example.com")
    good = login(client, "ANN@example.com ")
    assert good.status_code == 200, good.text
    assert refresh_cookie(good).startswith("isr_")
    wrong_password = login(client, "ann@example.com", "not the password")
    unknown_email = login(client, "nobody@example.com")
    for refused in (wrong_password, unknown_email):
        assert refused.status_code == 401
        assert "set-cookie" not in refused.headers
    # The same answer: it does not tell which emails have accounts.
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json() == {
        "detail": "The email or password is not right.",
        "code": "bad_credentials",
    }


def test_the_access_token_is_a_jwt_of_at_most_15_minutes(
    accounts: None, client: TestClient
) -> None:
    user_id = make_user("ann@example.com")
    token = login(client, "ann@example.com").json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == user_id
    assert claims["aud"] == "isomix-api" and claims["iss"] == "isomix"
    assert 0 < claims["exp"] - claims["iat"] <= 900
    # Signed with the server's key: the same claims signed with another key are refused.
    forged = jwt.encode(claims, "not the key of this server, but long enough", algorithm="HS256")
    assert client.get("/api/me", headers=bearer(forged)).status_code == 401
    # An expired one is refused.
    stale, _ = access.issue(user_id, get_settings(), now=datetime.now(UTC) - timedelta(hours=1))
    assert client.get("/api/me", headers=bearer(stale)).status_code == 401
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


# ---------------------------------------------------------------- refresh, logout


def test_refresh_rotates_and_a_reused_cookie_ends_the_sign_in(
    accounts: None, client: TestClient
) -> None:
    make_user("ann@example.com")
    first = refresh_cookie(login(client, "ann@example.com"))
    rotated = refresh(client, first)
    assert rotated.status_code == 200, rotated.text
    second = refresh_cookie(rotated)
    assert second != first
    assert client.get("/api/me", headers=bearer(rotated.json()["access_token"])).is_success

    # The old cookie again: it was copied. The whole sign-in ends, the new cookie too.
    reused = refresh(client, first)
    assert reused.status_code == 401
    assert "isomix_refresh=" in reused.headers["set-cookie"]  # cleared
    assert refresh(client, second).status_code == 401
    assert "refresh_reused" in actions()


def test_refresh_needs_an_origin_and_a_cookie(accounts: None, client: TestClient) -> None:
    make_user("ann@example.com")
    cookie = refresh_cookie(login(client, "ann@example.com"))
    no_origin = refresh(client, cookie, origin=None)
    assert no_origin.status_code == 403 and no_origin.json()["code"] == "cross_origin"
    foreign = refresh(client, cookie, origin="https://evil.example")
    assert foreign.status_code == 403
    client.cookies.clear()
    no_cookie = client.post("/api/auth/refresh", headers={"Origin": "http://127.0.0.1"})
    assert no_cookie.status_code == 401
    # Neither refusal used the cookie up.
    assert refresh(client, cookie).status_code == 200


def test_logout_ends_the_refresh_cookie(accounts: None, client: TestClient) -> None:
    make_user("ann@example.com")
    cookie = refresh_cookie(login(client, "ann@example.com"))
    other = refresh_cookie(login(client, "ann@example.com"))  # another browser
    client.cookies.clear()
    out = client.post("/api/auth/logout", headers={"Cookie": f"isomix_refresh={cookie}"})
    assert out.status_code == 204
    assert (
        'isomix_refresh=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    )
    assert refresh(client, cookie).status_code == 401
    assert refresh(client, other).status_code == 200  # only this sign-in ended
    # Without a cookie there is nothing to end; still 204.
    client.cookies.clear()
    assert client.post("/api/auth/logout").status_code == 204


def test_a_disabled_user_is_refused_at_once(accounts: None, client: TestClient) -> None:
    user_id = make_user("ann@example.com")
    signed_in = login(client, "ann@example.com")
    token = signed_in.json()["access_token"]
    cookie = refresh_cookie(signed_in)
    _token_id, secret = api_token(user_id)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    disable(user_id)
    # The access token has minutes left, but the user is read on every request.
    assert client.get("/api/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/me", headers=bearer(secret)).status_code == 401
    assert refresh(client, cookie).status_code == 401
    assert login(client, "ann@example.com").status_code == 401


# ---------------------------------------------------------------- API tokens


def test_api_tokens(accounts: None, client: TestClient) -> None:
    user_id = make_user("ann@example.com")
    as_ann = bearer(user_id)
    created = client.post("/api/tokens", json={"name": "backup script"}, headers=as_ann)
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["token"]
    assert secret.startswith("isk_") and body["prefix"] == secret[:8]
    assert body["name"] == "backup script" and body["revoked"] is False
    with get_sessionmaker()() as session:
        row = session.get(ApiToken, body["id"])
        assert row is not None
        assert row.token_hash != secret and secret not in row.token_hash
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()

    listed = client.get("/api/tokens", headers=as_ann).json()
    assert [token["id"] for token in listed] == [body["id"]]
    assert "token" not in listed[0]
    assert secret not in str(listed)

    me = client.get("/api/me", headers=bearer(secret))
    assert me.status_code == 200 and me.json()["user"]["id"] == user_id
    assert client.get("/api/tokens", headers=as_ann).json()[0]["last_used_at"] is not None

    # Another user cannot revoke it (404, as for a missing token).
    other = make_user("ben@example.com")
    assert client.delete(f"/api/tokens/{body['id']}", headers=bearer(other)).status_code == 404
    assert client.get("/api/me", headers=bearer(secret)).status_code == 200

    assert client.delete(f"/api/tokens/{body['id']}", headers=as_ann).status_code == 204
    assert client.get("/api/me", headers=bearer(secret)).status_code == 401
    assert client.get("/api/tokens", headers=as_ann).json()[0]["revoked"] is True
    # A made-up token of the right shape is refused like a revoked one.
    assert client.get("/api/me", headers=bearer("isk_" + "x" * 43)).status_code == 401


def test_changing_the_password_ends_other_sign_ins(accounts: None, client: TestClient) -> None:
    user_id = make_user("ann@example.com")
    elsewhere = refresh_cookie(login(client, "ann@example.com"))
    _token_id, secret = api_token(user_id)
    new_password = "another long passphrase"
    wrong = client.post(
        "/api/me/password",
        json={"current_password": "not the password", "new_password": new_password},
        headers=bearer(user_id),
    )
    assert wrong.status_code == 422
    changed = client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=bearer(user_id),
    )
    assert changed.status_code == 204, changed.text
    assert login(client, "ann@example.com").status_code == 401
    assert refresh(client, elsewhere).status_code == 401
    assert client.get("/api/me", headers=bearer(secret)).status_code == 200  # tokens stay
    assert login(client, "ann@example.com", new_password).status_code == 200
    stored = stored_user("ann@example.com").password_hash
    assert stored is not None and stored.startswith(ARGON2_PREFIX)


def test_passwords_are_argon2id_with_the_written_parameters(
    accounts: None, client: TestClient
) -> None:
    assert signup(client, "ann@example.com").status_code == 201
    assert signup(client, "ben@example.com").status_code == 201
    ann = stored_user("ann@example.com").password_hash
    ben = stored_user("ben@example.com").password_hash
    assert ann is not None and ann.startswith(ARGON2_PREFIX)
    assert ben is not None and ben != ann  # salted
    assert PASSWORD not in ann


# ---------------------------------------------------------------- the audit trail


def test_audit_events_are_written_and_cannot_be_changed(accounts: None, client: TestClient) -> None:
    admin = make_user("ada@example.com", admin=True)
    token = signup(client, "ann@example.com").json()["access_token"]
    ann = stored_user("ann@example.com").id
    cookie = refresh_cookie(login(client, "ann@example.com"))
    assert login(client, "ann@example.com", "not the password").status_code == 401
    client.cookies.clear()
    out = client.post("/api/auth/logout", headers={"Cookie": f"isomix_refresh={cookie}"})
    assert out.status_code == 204
    as_ann = bearer(token)
    created = client.post("/api/tokens", json={"name": "t"}, headers=as_ann).json()
    assert client.delete(f"/api/tokens/{created['id']}", headers=as_ann).status_code == 204
    uploaded = upload_as(client, as_ann, distinct_wav(1), model="classic")
    assert uploaded.status_code == 202, uploaded.text
    assert (
        client.delete(f"/api/projects/{uploaded.json()['id']}", headers=as_ann).status_code == 204
    )
    project = ready_project(ann)
    exported = client.post(
        f"/api/projects/{project}/exports", json={"format": "mp3", "bitrate": 192}, headers=as_ann
    )
    assert exported.status_code == 202, exported.text
    changed = client.post(
        f"/api/admin/users/{ann}/plan", json={"plan": "pro"}, headers=bearer(admin)
    )
    assert changed.status_code == 200, changed.text

    assert actions() == [
        "signup",
        "login",
        "login_failed",
        "logout",
        "token_created",
        "token_revoked",
        "upload",
        "delete",
        "export",
        "plan_changed",
    ]
    with get_sessionmaker()() as session:
        events = {event.action: event for event in session.scalars(select(AuditEvent))}
    assert events["signup"].user_id == ann and events["signup"].email == "ann@example.com"
    assert events["login_failed"].user_id is None
    assert events["login_failed"].email == "ann@example.com"
    assert events["upload"].object_id == uploaded.json()["id"]
    assert events["export"].object_id == exported.json()["id"]
    assert events["plan_changed"].user_id == admin
    assert events["plan_changed"].object_id == ann
    assert all(event.ip == "testclient" for event in events.values())
    for event in events.values():  # never a secret in the trail
        assert PASSWORD not in str(event.detail) and created["token"] not in str(event.detail)

    # Append-only: the database itself refuses to change or remove a row.
    with get_sessionmaker()() as session:
        with pytest.raises(DatabaseError):
            session.execute(update(AuditEvent).values(action="login"))
        session.rollback()
        with pytest.raises(DatabaseError):
            session.execute(delete(AuditEvent).where(AuditEvent.action == "login_failed"))
        session.rollback()
    assert len(actions()) == 10


# ---------------------------------------------------------------- /api/me


def test_me_shows_the_plan_and_todays_usage(accounts: None, client: TestClient) -> None:
    user_id = make_user("ann@example.com")
    as_ann = bearer(user_id)
    first = upload_as(client, as_ann, distinct_wav(1), model="classic")
    second = upload_as(client, as_ann, distinct_wav(2), model="classic")
    assert first.status_code == 202 and second.status_code == 202
    me = client.get("/api/me", headers=as_ann).json()
    assert set(me) == {"user", "plan", "plan_source", "usage", "auth_mode"}
    assert me["auth_mode"] == "accounts" and me["plan_source"] is None
    assert me["user"] == {
        "id": user_id,
        "email": "ann@example.com",
        "is_admin": False,
        "disabled": False,
        "created_at": me["user"]["created_at"],
        "plan": "free",
        "plan_until": None,
    }
    assert me["plan"]["name"] == "free" and me["plan"]["uploads_per_day"] == 3
    usage = me["usage"]
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert datetime.fromisoformat(usage.pop("resets_at")) == midnight
    assert usage == {
        "uploads_today": 2,
        "uploads_left": 1,
        "jobs_running": 0,
        "storage_bytes": len(distinct_wav(1)) + len(distinct_wav(2)),
        "projects": 2,
    }
    # Another user's uploads are not counted.
    other = client.get("/api/me", headers=bearer(make_user("ben@example.com"))).json()
    assert other["usage"]["uploads_today"] == 0 and other["usage"]["projects"] == 0


def test_single_mode_needs_no_sign_in(client: TestClient) -> None:
    me = client.get("/api/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["auth_mode"] == "single"
    assert body["plan"]["name"] == "owner" and body["plan"]["uploads_per_day"] is None
    assert body["usage"]["uploads_left"] is None
    for route in ("/api/auth/login", "/api/auth/signup", "/api/auth/refresh", "/api/auth/logout"):
        response = client.post(
            route,
            json={"email": "ann@example.com", "password": PASSWORD},
            headers={"Origin": "http://127.0.0.1"},
        )
        assert response.status_code == 404, route
        assert response.json()["code"] == "accounts_off"
    # A bearer token means nothing here: single mode is the owner either way.
    assert client.get("/api/me", headers=bearer("isk_whatever")).status_code == 200


# ---------------------------------------------------------------- headers and /metrics


def test_security_headers_on_a_real_answer(accounts: None, client: TestClient) -> None:
    for response in (client.get("/api/config"), client.get("/api/me")):
        csp = response.headers["content-security-policy"]
        directives = {
            part.strip().split(" ")[0]: part.strip().split(" ")[1:] for part in csp.split(";")
        }
        # WebAssembly may compile (the mixer's stretch worklet); no JavaScript eval.
        assert directives["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
        assert "'unsafe-eval'" not in directives["script-src"]
        assert "'unsafe-inline'" not in directives["script-src"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["object-src"] == ["'none'"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"


def test_metrics_need_the_token_in_accounts_mode(
    accounts: None, set_env: SetEnv, client: TestClient
) -> None:
    assert client.get("/metrics").status_code == 403  # the test client is not on loopback
    set_env(metrics_token="scrape-me")
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    user = make_user("ann@example.com")
    assert client.get("/metrics", headers=bearer(user)).status_code == 403  # users are not it
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")


def test_metrics_forwarded_by_a_local_proxy_need_the_token(
    accounts: None, set_env: SetEnv, client: TestClient
) -> None:
    # Behind a reverse proxy on the same machine every request's peer is loopback: a scraper
    # here, or anyone on the internet through the proxy. The proxy says which it is.
    set_env(trusted_proxies="127.0.0.1", metrics_token="scrape-me")
    local = TestClient(client.app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))
    with local:
        assert local.get("/metrics").status_code == 200  # the scraper on this machine
        forwarded = local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert forwarded.status_code == 403, "a remote client through the proxy got /metrics"
        token = {"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer scrape-me"}
        assert local.get("/metrics", headers=token).status_code == 200


def test_metrics_stay_open_in_single_mode(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200
