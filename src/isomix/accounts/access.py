"""Short-lived access tokens: JWTs (PyJWT, HS256) with the user's id, for at most 15 minutes.

The server looks the user up on every request anyway (plan, disabled), so a token carries
nothing else and a disabled user is refused at once, before the token runs out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import jwt

from isomix.accounts.keys import derived_key
from isomix.config import Settings

ALGORITHM: Final = "HS256"
AUDIENCE: Final = "isomix-api"
ISSUER: Final = "isomix"


def issue(user_id: str, settings: Settings, *, now: datetime) -> tuple[str, int]:
    """The token and its lifetime in seconds."""
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": user_id,
        "iat": now,
        "exp": now + lifetime,
        "aud": AUDIENCE,
        "iss": ISSUER,
    }
    token = jwt.encode(claims, derived_key(settings, "access-token"), algorithm=ALGORITHM)
    return token, int(lifetime.total_seconds())


def subject(token: str, settings: Settings) -> str | None:
    """The user id of a valid, unexpired token; None for anything else."""
    try:
        claims = jwt.decode(
            token,
            derived_key(settings, "access-token"),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
