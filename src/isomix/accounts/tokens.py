"""Personal API tokens and rotating refresh tokens. Only hashes are stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from isomix.accounts.keys import digest, new_secret
from isomix.config import Settings
from isomix.db import rowcount
from isomix.models import ApiToken, RefreshToken, User, as_utc, new_id, utcnow

API_TOKEN_PREFIX: Final = "isk"
REFRESH_PREFIX: Final = "isr"
MAX_TOKEN_NAME: Final = 100
# An API token's last use is written at most this often (not on every request).
LAST_USED_WRITE_SECONDS: Final = 60


def looks_like_api_token(value: str) -> bool:
    return value.startswith(API_TOKEN_PREFIX + "_")


def create_api_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """The row and the secret (shown once, never stored). Not committed."""
    cleaned = name.strip()[:MAX_TOKEN_NAME] or "API token"
    secret = new_secret(API_TOKEN_PREFIX)
    row = ApiToken(
        user_id=user.id,
        name=cleaned,
        token_hash=digest(secret),
        prefix=secret[: len(API_TOKEN_PREFIX) + 5],
    )
    session.add(row)
    session.flush()
    return row, secret


def user_of_api_token(session: Session, secret: str) -> User | None:
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest(secret), ApiToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    now = utcnow()
    last = row.last_used_at
    if last is None or now - as_utc(last) > timedelta(seconds=LAST_USED_WRITE_SECONDS):
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        session.commit()
    return session.get(User, row.user_id)


def revoke_api_token(session: Session, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()


# ---------------------------------------------------------------- refresh tokens


@dataclass(frozen=True)
class Refreshed:
    user_id: str
    secret: str  # the new refresh token for the cookie
    expires_at: datetime


class RefreshRefused(Exception):
    """Why a refresh token does not work (expired, revoked, reused, unknown)."""


def start_session(session: Session, user: User, settings: Settings) -> Refreshed:
    """A new sign-in (family) with its first refresh token. Not committed."""
    return _issue(session, user.id, new_id(), settings)


def _issue(session: Session, user_id: str, family_id: str, settings: Settings) -> Refreshed:
    secret = new_secret(REFRESH_PREFIX)
    expires = utcnow() + timedelta(days=settings.refresh_token_days)
    session.add(
        RefreshToken(
            user_id=user_id, family_id=family_id, token_hash=digest(secret), expires_at=expires
        )
    )
    return Refreshed(user_id, secret, expires)


def rotate(session: Session, secret: str, settings: Settings) -> Refreshed:
    """Use a refresh token once: it is replaced by a new one of the same sign-in. A token
    used a second time was copied: the whole sign-in is revoked. Committed."""
    now = utcnow()
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(secret)))
    if row is None:
        raise RefreshRefused("unknown")
    if row.revoked_at is not None:
        raise RefreshRefused("revoked")
    if as_utc(row.expires_at) <= now:
        raise RefreshRefused("expired")
    # Compare-and-set: of two requests with the same token, one rotates it.
    used = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if rowcount(used) != 1:
        revoke_family(session, row.family_id)
        session.commit()
        raise RefreshRefused("reused")
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        revoke_family(session, row.family_id)
        session.commit()
        raise RefreshRefused("disabled")
    fresh = _issue(session, row.user_id, row.family_id, settings)
    session.commit()
    return fresh


def revoke_family(session: Session, family_id: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def end_session(session: Session, secret: str) -> str | None:
    """Log out: the sign-in of this refresh token ends. The user's id, if it was known."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(secret)))
    if row is None:
        return None
    revoke_family(session, row.family_id)
    session.commit()
    return row.user_id
