"""Signed download links: a link names one object (its path and variant), carries its
expiry, and is valid only with the server's HMAC over both. `<audio>` elements and plain
links work without headers; a changed path, another object's signature or a late use fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from typing import Final
from urllib.parse import urlencode

from isomix.accounts.keys import derived_key
from isomix.config import Settings

EXPIRES_PARAM: Final = "expires"
SIGNATURE_PARAM: Final = "sig"
# Expiry times are rounded up to this many seconds, so a page that asks twice in a row gets
# the same links (the browser's cache keeps working) and a link never lives less than TTL.
ROUND_SECONDS: Final = 60


def _mac(settings: Settings, path: str, params: str, expires: int) -> str:
    message = f"{path}\n{params}\n{expires}".encode()
    digest = hmac.new(derived_key(settings, "download-link"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _canonical(params: dict[str, str]) -> str:
    return urlencode(sorted(params.items()))


def sign(
    path: str, settings: Settings, *, params: dict[str, str] | None = None, now: float | None = None
) -> str:
    """`path?params&expires=...&sig=...`, valid for ISOMIX_SIGNED_URL_TTL seconds or more."""
    extra = dict(params or {})
    moment = time.time() if now is None else now
    expires = int(math.ceil((moment + settings.signed_url_ttl) / ROUND_SECONDS) * ROUND_SECONDS)
    signature = _mac(settings, path, _canonical(extra), expires)
    query = urlencode([*extra.items(), (EXPIRES_PARAM, str(expires)), (SIGNATURE_PARAM, signature)])
    return f"{path}?{query}"


def verify(
    path: str,
    query: dict[str, str],
    settings: Settings,
    *,
    now: float | None = None,
) -> bool:
    """Whether `query` (all of the request's parameters) holds a valid, unexpired signature
    for exactly this path and these other parameters. Compared in constant time."""
    given = query.get(SIGNATURE_PARAM)
    raw_expires = query.get(EXPIRES_PARAM)
    if not given or not raw_expires or not raw_expires.isdigit() or len(raw_expires) > 12:
        return False
    expires = int(raw_expires)
    if expires < (time.time() if now is None else now):
        return False
    extra = {k: v for k, v in query.items() if k not in (EXPIRES_PARAM, SIGNATURE_PARAM)}
    expected = _mac(settings, path, _canonical(extra), expires)
    return hmac.compare_digest(expected.encode(), given.encode())


def is_signed(query: dict[str, str]) -> bool:
    return SIGNATURE_PARAM in query or EXPIRES_PARAM in query
