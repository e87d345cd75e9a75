"""Users and their subscriptions: create, find, sign in, change password, disable, and the
plan a user is on at a moment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from isomix import plans
from isomix.accounts import passwords
from isomix.config import Settings
from isomix.models import (
    LOCAL_OWNER_EMAIL,
    LOCAL_OWNER_ID,
    ApiToken,
    RefreshToken,
    Subscription,
    User,
    as_utc,
    utcnow,
)

# Enough to catch typos; the address is proven only by use.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
MAX_EMAIL_LENGTH = 254


class AccountError(ValueError):
    """A refused account change; the message is for the person who asked."""


class EmailTakenError(AccountError):
    pass


def normal_email(email: str) -> str:
    cleaned = email.strip().lower()
    if len(cleaned) > MAX_EMAIL_LENGTH or not _EMAIL.match(cleaned):
        raise AccountError("That is not an email address (name@example.com).")
    return cleaned


def by_email(session: Session, email: str) -> User | None:
    try:
        cleaned = normal_email(email)
    except AccountError:
        return None
    return session.scalar(select(User).where(User.email == cleaned))


def create(
    session: Session,
    email: str,
    password: str,
    *,
    plan: str = "free",
    admin: bool = False,
    until: datetime | None = None,
    settings: Settings,
) -> User:
    """A new user (committed), on `plan` from now until `until` (None: open-ended)."""
    cleaned = normal_email(email)
    passwords.check_strength(password, email=cleaned)
    if plan not in plans.plans(settings):
        raise AccountError(f"Unknown plan {plan!r}; plans: {', '.join(plans.plans(settings))}.")
    if until is not None and until <= utcnow():
        raise AccountError("The plan's end must be in the future.")
    user = User(email=cleaned, password_hash=passwords.hash_password(password), is_admin=admin)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise EmailTakenError("An account with that email exists already.") from None
    if plan != "free":
        session.add(Subscription(user_id=user.id, plan=plan, source="admin", ends_at=until))
    session.commit()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user when the email and password match an enabled account; None otherwise, in
    about the same time either way."""
    user = by_email(session, email)
    ok, new_hash = passwords.verify(password, user.password_hash if user else None)
    if user is None or not ok or user.disabled_at is not None:
        return None
    if new_hash is not None:
        user.password_hash = new_hash
        session.commit()
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Checks the current password, stores the new one and ends every sign-in, this one
    included (all refresh tokens revoked: the request carries no cookie to tell which is
    this one). API tokens keep working. Committed."""
    ok, _ = passwords.verify(current, user.password_hash)
    if not ok:
        raise AccountError("The current password is not right.")
    passwords.check_strength(new, email=user.email)
    user.password_hash = passwords.hash_password(new)
    revoke_sessions(session, user.id)
    session.commit()


def revoke_sessions(session: Session, user_id: str) -> None:
    """Every refresh token of the user stops working (not committed)."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def disable(session: Session, user: User) -> None:
    """The user can no longer sign in or use a token; sessions and tokens end now."""
    now = utcnow()
    if user.disabled_at is None:
        user.disabled_at = now
    revoke_sessions(session, user.id)
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.commit()


def ensure_local_owner(session: Session) -> User:
    """Single mode's owner (made by migration 0003; made again if someone deleted it)."""
    owner = session.get(User, LOCAL_OWNER_ID)
    if owner is None:
        owner = User(id=LOCAL_OWNER_ID, email=LOCAL_OWNER_EMAIL, is_admin=True)
        session.add(owner)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            owner = session.get(User, LOCAL_OWNER_ID)
            assert owner is not None
    return owner


# ---------------------------------------------------------------- plans


@dataclass(frozen=True)
class PlanState:
    plan: plans.Plan
    until: datetime | None  # when the paid plan ends; None: open-ended or free
    source: str | None  # "admin", "stripe", or None (free, or single mode)


def _running(user_id: str, now: datetime):  # type: ignore[no-untyped-def]
    return and_(
        Subscription.user_id == user_id,
        Subscription.starts_at <= now,
        or_(Subscription.ends_at.is_(None), Subscription.ends_at > now),
    )


def plan_of(
    session: Session, user: User, settings: Settings, *, now: datetime | None = None
) -> PlanState:
    """The plan the user is on now: single mode's owner plan, the newest running
    subscription, or Free."""
    if not settings.accounts:
        return PlanState(plans.owner_plan(settings), None, None)
    now = now or utcnow()
    running = session.scalars(
        select(Subscription)
        .where(_running(user.id, now))
        .order_by(Subscription.starts_at.desc(), Subscription.id.desc())
    ).first()
    if running is None:
        return PlanState(plans.plan_named("free", settings), None, None)
    try:
        plan = plans.plan_named(running.plan, settings)
    except KeyError:  # a plan the plans file no longer has
        plan = plans.plan_named("free", settings)
    ends = as_utc(running.ends_at) if running.ends_at is not None else None
    return PlanState(plan, ends, running.source)


def set_plan(
    session: Session,
    user: User,
    plan: str,
    *,
    until: datetime | None,
    source: str,
    external_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """From now on the user is on `plan` (until `until`): running subscriptions end now and
    a new one starts. Free ends them without a new one. Not committed."""
    now = now or utcnow()
    session.execute(update(Subscription).where(_running(user.id, now)).values(ends_at=now))
    if plan != "free":
        session.add(
            Subscription(
                user_id=user.id,
                plan=plan,
                starts_at=now,
                ends_at=until,
                source=source,
                external_id=external_id,
            )
        )
