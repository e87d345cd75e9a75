"""Stripe billing: Checkout for Pro, and the webhook events that start, renew and end a user's
Stripe subscription. The HTTP side is `api/routes/billing.py`; nothing here knows FastAPI.

On only when `ISOMIX_STRIPE_SECRET_KEY` and `ISOMIX_STRIPE_WEBHOOK_SECRET` are both set in
accounts mode (`enabled`); otherwise an admin sets plans.

How a Stripe subscription maps onto `Subscription` rows (source "stripe", external_id = the
Stripe subscription id):

- Checkout asks Stripe for a subscription with an inline price (no products or prices to set
  up in the dashboard), tagged with the user's id (`client_reference_id`, and `metadata` on
  both the session and the subscription, so every later event names the user).
- An event that says the subscription is paid for (`checkout.session.completed`,
  `customer.subscription.created`/`updated` while active or trialing, `invoice.paid`) starts
  Pro, or extends the running row to the period's end plus `GRACE`. It never shortens it:
  Stripe does not deliver events in order, and an older event must not take back time a
  newer one gave.
- `customer.subscription.deleted` or a status that stops payment (`canceled`,
  `incomplete_expired`, `unpaid`, `paused`) ends that subscription's row now; a row of another
  subscription or an admin's grant is left alone. Canceled is for good: the subscription
  leaves a tombstone (a zero-length row, never running), and a late event saying it is
  active cannot bring Pro back.
- Every event id is recorded in `stripe_events` in the same transaction as its change, so a
  replayed event changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import stripe
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from isomix import audit, plans
from isomix.accounts import users
from isomix.config import Settings
from isomix.models import StripeEvent, Subscription, User, as_utc, utcnow

log = logging.getLogger(__name__)

PLAN: Final = "pro"
PRODUCT_NAME: Final = "IsoMix Studio Pro"
SOURCE: Final = "stripe"
OFF_MESSAGE: Final = "Payments are off on this server; an admin sets plans."
# Pro runs this long past the period Stripe says was paid for. The renewal invoice is made at
# the period's end and paid (or retried) in the hour after, and its webhook may come later
# still (Stripe retries failed deliveries for days); without it a renewing user would drop to
# Free in that gap. A day also absorbs clock skew between Stripe and this server.
GRACE: Final = timedelta(days=1)
ACTIVE_STATUSES: Final = frozenset({"active", "trialing"})
# Statuses in which the subscription no longer pays for Pro: for good (terminal), or until
# it is paid or resumed. (`past_due` keeps Pro until the paid period and the grace run out:
# Stripe is still retrying the payment.)
TERMINAL_STATUSES: Final = frozenset({"canceled", "incomplete_expired"})
ENDED_STATUSES: Final = frozenset({"unpaid", "paused"})
# The mark a terminated subscription leaves: a zero-length row of this plan (`_end`).
TOMBSTONE_PLAN: Final = "free"
# Stripe amounts are in the currency's smallest unit; these currencies have no decimals.
# https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL_CURRENCIES: Final = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
STRIPE_TIMEOUT: Final = (5.0, 30.0)  # seconds: connect, read
STRIPE_RETRIES: Final = 1  # the library adds an idempotency key, so a retried POST is safe
_EVENT_TYPE_CHARS: Final = 64  # StripeEvent.type

Interval = Literal["month", "year"]
# applied: something changed; ignored: nothing to do; duplicate: seen before;
# unknown_user: the event names no user of this server.
Outcome = Literal["applied", "ignored", "duplicate", "unknown_user"]


class BillingError(Exception):
    """A refused billing request; the message is for the person who asked (never a key)."""


class BadSignature(BillingError):
    pass


class CheckoutFailed(BillingError):
    pass


def enabled(settings: Settings) -> bool:
    """Checkout and the webhook are on: both Stripe secrets set, in accounts mode (in single
    mode the one owner has every limit already and there are no plans to buy)."""
    return bool(settings.stripe_secret_key and settings.stripe_webhook_secret and settings.accounts)


# ---------------------------------------------------------------- Checkout


def minor_units(amount: float, currency: str) -> int:
    """A price in the currency's smallest unit, as Stripe takes it (9 EUR: 900)."""
    factor = 1 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 100
    return round(amount * factor)


def client(settings: Settings, http_client: stripe.HTTPClient) -> stripe.StripeClient:
    if not settings.stripe_secret_key:
        raise CheckoutFailed(OFF_MESSAGE)
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        http_client=http_client,
        max_network_retries=STRIPE_RETRIES,
    )


def checkout_params(
    settings: Settings, user: User, interval: Interval, base_url: str
) -> stripe.params.checkout.SessionCreateParams:
    """The Checkout Session for Pro at the plan's price (plans file applied)."""
    pro = plans.plan_named(PLAN, settings)
    price = pro.price_month if interval == "month" else pro.price_year
    metadata = {"user_id": user.id, "plan": PLAN}
    params: stripe.params.checkout.SessionCreateParams = {
        "mode": "subscription",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": settings.currency.lower(),
                    "unit_amount": minor_units(price, settings.currency),
                    "recurring": {"interval": interval},
                    "product_data": {"name": PRODUCT_NAME},
                },
            }
        ],
        "client_reference_id": user.id,
        "metadata": metadata,
        "subscription_data": {"metadata": dict(metadata)},
        "success_url": f"{base_url}/#/account?checkout=success",
        "cancel_url": f"{base_url}/#/account?checkout=cancelled",
    }
    if user.stripe_customer_id:
        params["customer"] = user.stripe_customer_id
    else:
        params["customer_email"] = user.email
    return params


def start_checkout(settings: Settings, user: User, interval: Interval, base_url: str) -> str:
    """The address of a new Stripe Checkout page for Pro; CheckoutFailed when Stripe refuses
    or cannot be reached."""
    params = checkout_params(settings, user, interval, base_url.rstrip("/"))
    http_client = stripe.RequestsClient(timeout=STRIPE_TIMEOUT)
    try:
        checkout = client(settings, http_client).v1.checkout.sessions.create(params)
    except stripe.AuthenticationError:
        log.error("Stripe refused the API key (ISOMIX_STRIPE_SECRET_KEY)")
        raise CheckoutFailed(
            "Payments are misconfigured on this server (Stripe refused its key); tell the admin."
        ) from None
    except stripe.APIConnectionError as error:
        log.warning("Stripe cannot be reached: %s", type(error).__name__)
        raise CheckoutFailed("Stripe cannot be reached now; try again in a minute.") from None
    except stripe.StripeError as error:
        # Stripe's messages mask keys; still, only the code and status go into the log.
        log.warning(
            "Stripe refused a Checkout Session: %s (status %s, code %s)",
            type(error).__name__,
            error.http_status,
            error.code,
        )
        raise CheckoutFailed("Stripe refused to start the checkout; try again later.") from None
    finally:
        # Its connections (a requests session per thread). Untyped in stripe 16.
        http_client.close()  # type: ignore[no-untyped-call]
    if not checkout.url:
        raise CheckoutFailed("Stripe answered without a checkout page; try again later.")
    return checkout.url


# ---------------------------------------------------------------- the webhook


def verify_event(payload: bytes, signature: str | None, settings: Settings) -> dict[str, Any]:
    """The event of a webhook body whose `Stripe-Signature` matches the webhook secret and is
    at most 5 minutes old; BadSignature otherwise."""
    try:
        stripe.WebhookSignature.verify_header(
            payload,
            signature,
            settings.stripe_webhook_secret,
            tolerance=stripe.Webhook.DEFAULT_TOLERANCE,
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        raise BadSignature("The Stripe-Signature does not match this body.") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not event["id"]
        or not isinstance(event.get("type"), str)
    ):
        raise BadSignature("The body is not a Stripe event.")
    return event


def apply_event(
    session: Session, event: Mapping[str, Any], *, now: datetime | None = None
) -> Outcome:
    """Apply one verified Stripe event and record its id, in one transaction (committed).
    A replayed id changes nothing ("duplicate")."""
    now = now or utcnow()
    event_id = str(event["id"])
    event_type = str(event["type"])
    session.add(StripeEvent(id=event_id, type=event_type[:_EVENT_TYPE_CHARS], received_at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return "duplicate"
    context = _Context(session=session, event_id=event_id, now=now)
    outcome = _dispatch(context, event_type, _dict(_dict(event.get("data")).get("object")))
    if outcome == "unknown_user":
        log.warning(
            "Stripe event %s (%s) names no user of this server; recorded and ignored",
            event_id,
            event_type,
        )
    try:
        session.commit()
    except IntegrityError:  # the same event, applied meanwhile by another delivery
        session.rollback()
        return "duplicate"
    return outcome


@dataclass(frozen=True)
class _Context:
    session: Session
    event_id: str
    now: datetime


def _dispatch(context: _Context, event_type: str, obj: dict[str, Any]) -> Outcome:
    if event_type == "checkout.session.completed":
        return _checkout_completed(context, obj)
    if event_type in ("customer.subscription.created", "customer.subscription.updated"):
        return _subscription_changed(context, obj, deleted=False)
    if event_type == "customer.subscription.deleted":
        return _subscription_changed(context, obj, deleted=True)
    if event_type in ("invoice.paid", "invoice.payment_succeeded"):
        return _invoice_paid(context, obj)
    return "ignored"


def _checkout_completed(context: _Context, obj: dict[str, Any]) -> Outcome:
    if obj.get("mode") != "subscription":
        return "ignored"
    metadata = _dict(obj.get("metadata"))
    customer = _id(obj.get("customer"))
    user = _find_user(
        context.session,
        _str(obj.get("client_reference_id")) or _str(metadata.get("user_id")),
        customer,
    )
    if user is None:
        return "unknown_user"
    changed = _remember_customer(user, customer)
    # A delayed payment method (a bank debit) completes the session unpaid: Pro starts with
    # the subscription or invoice event that says it is paid.
    if obj.get("payment_status") != "unpaid":
        subscription = obj.get("subscription")
        period_end = (
            _subscription_period_end(subscription) if isinstance(subscription, dict) else None
        )
        changed |= _start_or_extend(context, user, _id(subscription), _plus_grace(period_end))
    return "applied" if changed else "ignored"


def _subscription_changed(context: _Context, obj: dict[str, Any], *, deleted: bool) -> Outcome:
    subscription_id = _id(obj)
    if subscription_id is None:
        return "ignored"
    customer = _id(obj.get("customer"))
    user = _find_user(
        context.session,
        _str(_dict(obj.get("metadata")).get("user_id")),
        customer,
        subscription_id=subscription_id,
    )
    if user is None:
        return "unknown_user"
    changed = _remember_customer(user, customer)
    status = obj.get("status")
    if deleted or status in TERMINAL_STATUSES or status in ENDED_STATUSES:
        terminal = deleted or status in TERMINAL_STATUSES
        changed |= _end(context, user, subscription_id, terminal=terminal)
    elif status in ACTIVE_STATUSES:
        until = _plus_grace(_subscription_period_end(obj))
        changed |= _start_or_extend(context, user, subscription_id, until)
    return "applied" if changed else "ignored"


def _invoice_paid(context: _Context, obj: dict[str, Any]) -> Outcome:
    # API versions before 2025-03-31 name the subscription on the invoice, later ones under
    # parent.subscription_details.
    details = _dict(_dict(obj.get("parent")).get("subscription_details"))
    legacy_details = _dict(obj.get("subscription_details"))
    subscription_id = _id(obj.get("subscription")) or _id(details.get("subscription"))
    if subscription_id is None:
        return "ignored"  # a one-off invoice, not Pro
    metadata = _dict(details.get("metadata")) or _dict(legacy_details.get("metadata"))
    customer = _id(obj.get("customer"))
    user = _find_user(
        context.session,
        _str(metadata.get("user_id")),
        customer,
        subscription_id=subscription_id,
    )
    if user is None:
        return "unknown_user"
    changed = _remember_customer(user, customer)
    period_ends = [
        _timestamp(_dict(_dict(line).get("period")).get("end")) for line in _list(obj.get("lines"))
    ]
    known = [end for end in period_ends if end is not None]
    until = _plus_grace(max(known)) if known else None
    if until is not None:  # an invoice without a period says nothing about how long
        changed |= _start_or_extend(context, user, subscription_id, until)
    return "applied" if changed else "ignored"


# ---------------------------------------------------------------- rows


def _find_user(
    session: Session,
    user_id: str | None,
    customer: str | None,
    *,
    subscription_id: str | None = None,
) -> User | None:
    """The user by our id (we put it in the metadata), else by a subscription row they
    have, else by their Stripe customer."""
    if user_id:
        user = session.get(User, user_id)
        if user is not None:
            return user
    if subscription_id:
        owner = session.scalars(
            select(Subscription.user_id)
            .where(Subscription.source == SOURCE, Subscription.external_id == subscription_id)
            .limit(1)
        ).first()
        if owner is not None:
            return session.get(User, owner)
    if customer:
        return session.scalars(
            select(User).where(User.stripe_customer_id == customer).limit(1)
        ).first()
    return None


def _remember_customer(user: User, customer: str | None) -> bool:
    if customer is None or user.stripe_customer_id == customer:
        return False
    user.stripe_customer_id = customer
    return True


def _running_stripe_row(context: _Context, user: User, subscription_id: str) -> Subscription | None:
    now = context.now
    return context.session.scalars(
        select(Subscription)
        .where(
            Subscription.user_id == user.id,
            Subscription.source == SOURCE,
            Subscription.external_id == subscription_id,
            Subscription.starts_at <= now,
            or_(Subscription.ends_at.is_(None), Subscription.ends_at > now),
        )
        .order_by(Subscription.starts_at.desc(), Subscription.id.desc())
        .limit(1)
    ).first()


def _terminated(context: _Context, user: User, subscription_id: str) -> bool:
    """Stripe said this subscription is over for good (canceled, or never paid): its
    tombstone exists. Such a subscription never becomes active again, so an event saying it
    is active is an older one delivered late."""
    return (
        context.session.scalars(
            select(Subscription.id)
            .where(
                Subscription.user_id == user.id,
                Subscription.source == SOURCE,
                Subscription.external_id == subscription_id,
                Subscription.plan == TOMBSTONE_PLAN,
            )
            .limit(1)
        ).first()
        is not None
    )


def _start_or_extend(
    context: _Context, user: User, subscription_id: str | None, until: datetime | None
) -> bool:
    """Pro through this Stripe subscription until `until` (None: until Stripe says more).
    Extends the subscription's running row, never shortens it; else starts a new one."""
    if until is not None and until <= context.now:
        return False  # a period that is over gives nothing (and must not end anything)
    if subscription_id is not None:
        running = _running_stripe_row(context, user, subscription_id)
        if running is not None:
            current = as_utc(running.ends_at) if running.ends_at is not None else None
            if until is None or (current is not None and current >= until):
                return False
            # An open-ended row (from Checkout) gets its end once Stripe names the period.
            running.ends_at = until
            _audit(context, user, PLAN, until, subscription_id)
            return True
        if _terminated(context, user, subscription_id):
            log.info(
                "Stripe event %s is older than the end of subscription %s; not applied",
                context.event_id,
                subscription_id,
            )
            return False
    users.set_plan(
        context.session,
        user,
        PLAN,
        until=until,
        source=SOURCE,
        external_id=subscription_id,
        now=context.now,
    )
    _audit(context, user, PLAN, until, subscription_id)
    return True


def _end(context: _Context, user: User, subscription_id: str, *, terminal: bool) -> bool:
    """End Pro now if this subscription is what the user is on; anything else stays. A
    terminal end also leaves the subscription's tombstone (see `_terminated`)."""
    changed = False
    if _running_stripe_row(context, user, subscription_id) is not None:
        # The running row is the only one (set_plan ends the others), so this ends just it.
        users.set_plan(context.session, user, "free", until=None, source=SOURCE, now=context.now)
        _audit(context, user, "free", None, subscription_id)
        changed = True
    if terminal and not _terminated(context, user, subscription_id):
        # Zero length: never running, so no plan reads it.
        context.session.add(
            Subscription(
                user_id=user.id,
                plan=TOMBSTONE_PLAN,
                starts_at=context.now,
                ends_at=context.now,
                source=SOURCE,
                external_id=subscription_id,
            )
        )
    return changed


def _audit(
    context: _Context, user: User, plan: str, until: datetime | None, subscription_id: str | None
) -> None:
    audit.record(
        "plan_changed",
        user=user,
        object_type="subscription",
        object_id=subscription_id,
        detail={
            "plan": plan,
            "until": until.isoformat() if until is not None else None,
            "by": "stripe",
            "event": context.event_id,
        },
        session=context.session,
    )


# ---------------------------------------------------------------- reading Stripe objects


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    """The items of a Stripe list object (`{"object": "list", "data": [...]}`)."""
    data = _dict(value).get("data")
    return data if isinstance(data, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: object) -> str | None:
    """An id as Stripe sends it: the string, or an expanded object with its `id`."""
    return _str(value) if not isinstance(value, dict) else _str(value.get("id"))


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _subscription_period_end(obj: dict[str, Any]) -> datetime | None:
    """The end of the paid period: on the subscription before API version 2025-03-31, on
    its items since."""
    ends = [_timestamp(obj.get("current_period_end"))] + [
        _timestamp(_dict(item).get("current_period_end")) for item in _list(obj.get("items"))
    ]
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def _plus_grace(moment: datetime | None) -> datetime | None:
    return moment + GRACE if moment is not None else None
