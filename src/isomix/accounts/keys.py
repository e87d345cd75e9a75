"""The server's signing key and the one way a secret token is made and stored (hashed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from isomix import storage
from isomix.config import Settings

KEY_BYTES = 32


@lru_cache(maxsize=4)
def _key_from(setting: str | None, path: str) -> bytes:
    if setting:
        return setting.encode()
    from pathlib import Path

    fresh = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES))
    return storage.create_exclusively(Path(path), fresh).strip()


def signing_key(settings: Settings) -> bytes:
    """ISOMIX_SECRET_KEY, else a random key made once and kept in the data directory.

    Derived keys keep the uses apart: a download signature can never pass as a JWT.
    """
    return _key_from(settings.secret_key, str(storage.secret_key_file()))


def derived_key(settings: Settings, purpose: str) -> bytes:
    return hmac.new(signing_key(settings), purpose.encode(), hashlib.sha256).digest()


def new_secret(prefix: str) -> str:
    """A token for a person to hold: `prefix_` + 256 random bits, URL-safe."""
    return f"{prefix}_{secrets.token_urlsafe(KEY_BYTES)}"


def digest(token: str) -> str:
    """What the database keeps of a token. The tokens are random and long, so a plain
    sha256 cannot be reversed; a slow hash (as for passwords) is not needed."""
    return hashlib.sha256(token.encode()).hexdigest()
