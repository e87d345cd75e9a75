"""Stripe billing: Checkout against a local stand-in for Stripe's API, and webhook events
signed exactly as Stripe signs them (`Stripe-Signature: t=<ts>,v1=<hmac>`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.support import SetEnv
from isomix import audit, billing
from isomix.accounts import access, users
from isomix.api.app import create_app
from isomix.api.routes import billing as billing_routes
from isomix.config import get_settings
from isomix.db import get_sessionmaker, reset_engines
from isomix.migrate import ensure_schema
from isomix.models import StripeEvent, User, utcnow

SECRET_KEY = "sk_test_x"
WEBHOOK_SECRET = "whsec_test"
PASSWORD = "correct horse battery"
WEBHOOK = "/api/billing/webhook"
CHECKOUT = "/api/billing/checkout"
LOOPBACK_URL = "http://127.0.0.1"  # a Host the guards accept (not "testserver")
OFF = {"detail": "Payments are off on this server; an admin sets plans.", "code": "billing_off"}


# ---------------------------------------------------------------- fixtures


def _make_client() -> Iterator[TestClient]:
    reset_engines()
    ensure_schema()
    app = create_app()
    if not any(getattr(route, "path", "") == WEBHOOK for route in app.routes):
        app.include_router(billing_routes.router)
    with TestClient(app, base_url=LOOPBACK_URL) as test_client:
        yield test_client
    reset_engines()


@pytest.fixture
def stripe_on(set_env: SetEnv) -> None:
    set_env(
        auth_mode="accounts",
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
def client(stripe_on: None) -> Iterator[TestClient]:
    yield from _make_client()


@pytest.fixture
def public_url(set_env: SetEnv, stripe_on: None) -> None:
    set_env(public_url="https://isomix.example/")


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class FakeStripe:
    """Stripe's API as far as Checkout needs it, on 127.0.0.1."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200
    answer: dict[str, Any] = field(
        default_factory=lambda: {
            "id": "cs_test_1",
            "object": "checkout.session",
            "url": "https://checkout.stripe.test/cs_test_1",
        }
    )


@pytest.fixture
def fake_stripe(set_env: SetEnv, stripe_on: None) -> Iterator[FakeStripe]:
    fake = FakeStripe(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            fake.requests.append(
                Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, parse_qs(body))
            )
            answer = json.dumps(fake.answer).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.send_header("Request-Id", "req_test")
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    set_env(stripe_api_base=fake.url)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ---------------------------------------------------------------- helpers


def make_user(email: str = "buyer@example.com") -> User:
    with get_sessionmaker()() as session:
        return users.create(session, email, PASSWORD, settings=get_settings())


def auth_headers(user: User) -> dict[str, str]:
    token, _ = access.issue(user.id, get_settings(), now=utcnow())
    return {"Authorization": f"Bearer {token}"}


def plan_state(user: User, *, now: datetime | None = None) -> users.PlanState:
    with get_sessionmaker()() as session:
        row = session.get(User, user.id)
        assert row is not None
        return users.plan_of(session, row, get_settings(), now=now)


def reload(user: User) -> User:
    with get_sessionmaker()() as session:
        row = session.get(User, user.id)
        assert row is not None
        return row


def stripe_event_count() -> int:
    with get_sessionmaker()() as session:
        return session.scalar(select(func.count()).select_from(StripeEvent)) or 0


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def from_stamp(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def event(kind: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def completed(user: User, *, subscription: str = "sub_1") -> dict[str, Any]:
    return {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "subscription",
        "payment_status": "paid",
        "client_reference_id": user.id,
        "customer": "cus_1",
        "subscription": subscription,
        "metadata": {"user_id": user.id, "plan": "pro"},
    }


def subscription(
    user: User,
    status: str,
    period_end: datetime,
    *,
    sub_id: str = "sub_1",
    on_items: bool = False,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "status": status,
        "customer": "cus_1",
        "metadata": {"user_id": user.id, "plan": "pro"},
        "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item"}]},
    }
    if on_items:  # API versions since 2025-03-31
        obj["items"]["data"][0]["current_period_end"] = stamp(period_end)
    else:
        obj["current_period_end"] = stamp(period_end)
    return obj


def sub_event(
    kind: str, user: User, status: str, period_end: datetime, **fields: Any
) -> dict[str, Any]:
    """A `customer.subscription.<kind>` event."""
    return event(f"customer.subscription.{kind}", subscription(user, status, period_end, **fields))


def invoice(period_end: datetime, *, sub_id: str = "sub_1") -> dict[str, Any]:
    return {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_1",
        "status": "paid",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub_id, "metadata": {}},
        },
        "lines": {
            "object": "list",
            "data": [{"id": "il_1", "period": {"start": 0, "end": stamp(period_end)}}],
        },
    }


def signed(
    body: dict[str, Any] | str, *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    payload = body if isinstance(body, str) else json.dumps(body)
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return payload.encode(), {
        "Stripe-Signature": f"t={timestamp},v1={mac.hexdigest()}",
        "Content-Type": "application/json",
    }


def deliver(client: TestClient, body: dict[str, Any] | str, **sign: Any) -> dict[str, Any]:
    payload, headers = signed(body, **sign)
    response = client.post(WEBHOOK, content=payload, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# ---------------------------------------------------------------- the webhook


def test_a_signed_checkout_completion_starts_pro(client: TestClient) -> None:
    user = make_user()
    assert plan_state(user).plan.name == "free"

    assert deliver(client, event("checkout.session.completed", completed(user))) == {
        "received": True,
        "applied": True,
    }

    state = plan_state(user)
    assert (state.plan.name, state.source) == ("pro", "stripe")
    assert reload(user).stripe_customer_id == "cus_1"
    with get_sessionmaker()() as session:
        trail = audit.events(session, user_id=user.id, action="plan_changed")
    assert [(row.detail["plan"], row.detail["by"]) for row in trail] == [("pro", "stripe")]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Stripe-Signature": "garbage"},
        {"Stripe-Signature": "t=1,v1=00"},
    ],
    ids=["missing", "malformed", "wrong"],
)
def test_an_unsigned_event_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    user = make_user()
    body = json.dumps(event("checkout.session.completed", completed(user)))
    response = client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_signature"
    assert plan_state(user).plan.name == "free"
    assert stripe_event_count() == 0


def test_a_wrong_secret_tampering_or_an_old_signature_is_refused(client: TestClient) -> None:
    user = make_user()
    body = event("checkout.session.completed", completed(user))

    for payload, headers in (
        signed(body, secret="whsec_other"),
        signed(body, at=int(time.time()) - 600),  # past Stripe's 5 minute tolerance
    ):
        response = client.post(WEBHOOK, content=payload, headers=headers)
        assert response.status_code == 400
        assert response.json()["code"] == "bad_signature"

    payload, headers = signed(body)
    tampered = payload.replace(b'"cus_1"', b'"cus_2"')
    response = client.post(WEBHOOK, content=tampered, headers=headers)
    assert response.status_code == 400

    assert plan_state(user).plan.name == "free"
    assert reload(user).stripe_customer_id is None
    assert stripe_event_count() == 0


def test_a_replayed_event_changes_nothing(client: TestClient) -> None:
    user = make_user()
    completion = event("checkout.session.completed", completed(user))
    assert deliver(client, completion)["applied"] is True
    with get_sessionmaker()() as session:
        row = session.get(User, user.id)
        assert row is not None
        users.set_plan(session, row, "free", until=None, source="admin")
        session.commit()

    # Stripe redelivers the same event (same id), freshly signed.
    assert deliver(client, completion) == {"received": True, "applied": False}

    assert plan_state(user).plan.name == "free"
    assert stripe_event_count() == 1


def test_an_active_subscription_runs_to_its_period_end_plus_grace(client: TestClient) -> None:
    user = make_user()
    period_end = from_stamp(stamp(utcnow() + timedelta(days=30)))

    deliver(client, sub_event("created", user, "active", period_end))

    state = plan_state(user)
    assert state.plan.name == "pro"
    assert state.until == period_end + billing.GRACE
    assert plan_state(user, now=period_end + timedelta(hours=23)).plan.name == "pro"
    # Expired: no renewal came.
    after = period_end + billing.GRACE + timedelta(seconds=1)
    assert plan_state(user, now=after).plan.name == "free"


def test_the_period_end_on_subscription_items_is_read(client: TestClient) -> None:
    user = make_user()
    period_end = from_stamp(stamp(utcnow() + timedelta(days=365)))
    sub = subscription(user, "trialing", period_end, on_items=True)

    deliver(client, event("customer.subscription.updated", sub))

    assert plan_state(user).until == period_end + billing.GRACE


def test_a_paid_invoice_extends_pro(client: TestClient) -> None:
    user = make_user()
    first_end = from_stamp(stamp(utcnow() + timedelta(days=30)))
    second_end = from_stamp(stamp(utcnow() + timedelta(days=60)))
    deliver(client, sub_event("created", user, "active", first_end))

    assert deliver(client, event("invoice.paid", invoice(second_end)))["applied"] is True
    # Stripe sends both for one payment; the second has nothing to add.
    again = event("invoice.payment_succeeded", invoice(second_end))
    assert deliver(client, again)["applied"] is False

    state = plan_state(user)
    assert (state.plan.name, state.until) == ("pro", second_end + billing.GRACE)
    # A late event about the older period does not take the time back.
    late = sub_event("updated", user, "active", first_end)
    assert deliver(client, late)["applied"] is False
    assert plan_state(user).until == second_end + billing.GRACE
    assert plan_state(user, now=first_end + timedelta(days=2)).plan.name == "pro"


def test_an_open_ended_checkout_gets_its_end_from_the_subscription(client: TestClient) -> None:
    user = make_user()
    deliver(client, event("checkout.session.completed", completed(user)))
    assert plan_state(user).until is None

    period_end = from_stamp(stamp(utcnow() + timedelta(days=30)))
    deliver(client, sub_event("updated", user, "active", period_end))

    assert plan_state(user).until == period_end + billing.GRACE


def test_deletion_ends_pro_for_good(client: TestClient) -> None:
    user = make_user()
    period_end = from_stamp(stamp(utcnow() + timedelta(days=30)))
    active = subscription(user, "active", period_end)
    deliver(client, event("customer.subscription.created", active))
    assert plan_state(user).plan.name == "pro"

    gone = deliver(client, sub_event("deleted", user, "canceled", period_end))

    assert gone["applied"] is True
    assert plan_state(user).plan.name == "free"
    # An older "active" event that arrives late does not bring Pro back.
    assert deliver(client, event("customer.subscription.updated", active))["applied"] is False
    assert deliver(client, event("invoice.paid", invoice(period_end)))["applied"] is False
    assert plan_state(user).plan.name == "free"
    with get_sessionmaker()() as session:
        trail = audit.events(session, user_id=user.id, action="plan_changed")
    assert [row.detail["plan"] for row in trail] == ["pro", "free"]


def test_a_canceled_status_ends_pro_and_unpaid_ends_it_until_paid(client: TestClient) -> None:
    user = make_user()
    period_end = from_stamp(stamp(utcnow() + timedelta(days=30)))
    deliver(client, sub_event("created", user, "active", period_end))

    deliver(client, sub_event("updated", user, "unpaid", period_end))
    assert plan_state(user).plan.name == "free"
    # Paid after all: Pro again.
    deliver(client, sub_event("updated", user, "active", period_end))
    assert plan_state(user).plan.name == "pro"

    deliver(client, sub_event("updated", user, "canceled", period_end))
    assert plan_state(user).plan.name == "free"


def test_ending_another_subscription_leaves_the_current_one(client: TestClient) -> None:
    user = make_user()
    period_end = from_stamp(stamp(utcnow() + timedelta(days=30)))
    deliver(client, sub_event("created", user, "active", period_end))
    deliver(client, sub_event("created", user, "active", period_end, sub_id="sub_2"))

    old_gone = sub_event("deleted", user, "canceled", period_end)
    assert deliver(client, old_gone)["applied"] is False

    assert plan_state(user).plan.name == "pro"


def test_a_period_already_over_changes_nothing(client: TestClient) -> None:
    user = make_user()
    with get_sessionmaker()() as session:
        row = session.get(User, user.id)
        assert row is not None
        users.set_plan(session, row, "pro", until=None, source="admin")
        row.stripe_customer_id = "cus_1"
        session.commit()
    long_ago = utcnow() - timedelta(days=40)

    body = sub_event("updated", user, "active", long_ago)
    assert deliver(client, body)["applied"] is False

    state = plan_state(user)
    assert (state.plan.name, state.source, state.until) == ("pro", "admin", None)


def test_events_for_unknown_users_and_other_types_are_recorded_and_ignored(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = User(id=str(uuid.uuid4()), email="nobody@example.com")
    assert deliver(client, event("checkout.session.completed", completed(stranger))) == {
        "received": True,
        "applied": False,
    }
    assert deliver(client, event("customer.created", {"id": "cus_9", "object": "customer"})) == {
        "received": True,
        "applied": False,
    }
    assert stripe_event_count() == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("names no user of this server" in message for message in warnings)


def test_a_known_customer_finds_the_user_without_metadata(client: TestClient) -> None:
    user = make_user()
    deliver(client, event("checkout.session.completed", completed(user)))
    period_end = from_stamp(stamp(utcnow() + timedelta(days=30)))
    sub = subscription(user, "active", period_end)
    sub["metadata"] = {}

    deliver(client, event("customer.subscription.updated", sub))

    assert plan_state(user).until == period_end + billing.GRACE


# ---------------------------------------------------------------- Checkout


def test_checkout_asks_stripe_for_a_monthly_pro_subscription(
    fake_stripe: FakeStripe, client: TestClient
) -> None:
    user = make_user()

    response = client.post(CHECKOUT, json={"interval": "month"}, headers=auth_headers(user))

    assert response.status_code == 200, response.text
    assert response.json() == {"url": "https://checkout.stripe.test/cs_test_1"}
    [sent] = fake_stripe.requests
    assert sent.path == "/v1/checkout/sessions"
    assert sent.headers["authorization"] == f"Bearer {SECRET_KEY}"
    form = {name: values[0] for name, values in sent.form.items()}
    assert form["mode"] == "subscription"
    assert form["client_reference_id"] == user.id
    assert form["customer_email"] == user.email
    assert "customer" not in form
    assert form["line_items[0][price_data][unit_amount]"] == "900"
    assert form["line_items[0][price_data][currency]"] == "eur"
    assert form["line_items[0][price_data][recurring][interval]"] == "month"
    assert form["line_items[0][price_data][product_data][name]"] == "IsoMix Studio Pro"
    assert form["line_items[0][quantity]"] == "1"
    assert form["metadata[user_id]"] == user.id
    assert form["metadata[plan]"] == "pro"
    assert form["subscription_data[metadata][user_id]"] == user.id
    assert form["subscription_data[metadata][plan]"] == "pro"
    assert form["success_url"] == f"{LOOPBACK_URL}/#/account?checkout=success"
    assert form["cancel_url"] == f"{LOOPBACK_URL}/#/account?checkout=cancelled"


def test_yearly_checkout_for_a_known_customer_at_the_public_url(
    public_url: None, fake_stripe: FakeStripe, client: TestClient
) -> None:
    user = make_user()
    with get_sessionmaker()() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.stripe_customer_id = "cus_known"
        session.commit()

    response = client.post(CHECKOUT, json={"interval": "year"}, headers=auth_headers(user))

    assert response.status_code == 200, response.text
    form = {name: values[0] for name, values in fake_stripe.requests[0].form.items()}
    assert form["line_items[0][price_data][unit_amount]"] == "9000"
    assert form["line_items[0][price_data][recurring][interval]"] == "year"
    assert form["customer"] == "cus_known"
    assert "customer_email" not in form
    assert form["success_url"] == "https://isomix.example/#/account?checkout=success"


def test_checkout_is_refused_when_on_pro_through_stripe(
    fake_stripe: FakeStripe, client: TestClient
) -> None:
    user = make_user()
    deliver(client, event("checkout.session.completed", completed(user)))

    response = client.post(CHECKOUT, json={"interval": "month"}, headers=auth_headers(user))

    assert response.status_code == 409
    assert fake_stripe.requests == []


def test_checkout_needs_a_signed_in_user(fake_stripe: FakeStripe, client: TestClient) -> None:
    response = client.post(CHECKOUT, json={"interval": "month"})
    assert response.status_code == 401
    assert fake_stripe.requests == []


def test_a_stripe_refusal_is_a_502_without_the_key(
    fake_stripe: FakeStripe, client: TestClient
) -> None:
    user = make_user()
    fake_stripe.status = 401
    fake_stripe.answer = {
        "error": {"type": "invalid_request_error", "message": f"Invalid API Key: {SECRET_KEY}"}
    }

    response = client.post(CHECKOUT, json={"interval": "month"}, headers=auth_headers(user))

    assert response.status_code == 502
    assert response.json()["code"] == "stripe_error"
    assert SECRET_KEY not in response.text

    fake_stripe.status = 400
    response = client.post(CHECKOUT, json={"interval": "year"}, headers=auth_headers(user))
    assert response.status_code == 502
    assert SECRET_KEY not in response.text


# ---------------------------------------------------------------- off


@pytest.mark.parametrize(
    "settings",
    [
        {"auth_mode": "accounts"},
        {"auth_mode": "accounts", "stripe_secret_key": SECRET_KEY},
        {"auth_mode": "accounts", "stripe_webhook_secret": WEBHOOK_SECRET},
        # Single mode has no plans to buy: its one owner has every limit already.
        {
            "auth_mode": "single",
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
        },
    ],
    ids=["no stripe settings", "key only", "webhook secret only", "single mode"],
)
def test_billing_is_off_without_both_stripe_settings(
    set_env: SetEnv, settings: dict[str, str]
) -> None:
    set_env(**settings)
    for test_client in _make_client():
        user = make_user()
        response = test_client.post(
            CHECKOUT, json={"interval": "month"}, headers=auth_headers(user)
        )
        assert (response.status_code, response.json()) == (404, OFF)
        payload, headers = signed(event("checkout.session.completed", completed(user)))
        response = test_client.post(WEBHOOK, content=payload, headers=headers)
        assert (response.status_code, response.json()) == (404, OFF)
        assert stripe_event_count() == 0
