"""Password hashing: Argon2id through pwdlib, with the parameters written down here.

RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes): 0.2 s per hash measured here,
slow for a guesser, quick enough for a sign-in.
"""

from __future__ import annotations

from typing import Final

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

TIME_COST: Final = 3
MEMORY_COST_KIB: Final = 64 * 1024
PARALLELISM: Final = 4
MIN_LENGTH: Final = 10
MAX_LENGTH: Final = 1024  # beyond this a hash is work for nothing; refuse, don't truncate

_HASHER: Final = PasswordHash(
    (Argon2Hasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM),)
)
# Verified when the email is unknown, so that a miss costs what a wrong password costs and
# the time of an answer does not tell which emails have accounts.
_DUMMY_HASH: Final = _HASHER.hash("isomix-timing-equaliser")


class WeakPasswordError(ValueError):
    """The message says what a password needs."""


def check_strength(password: str, *, email: str | None = None) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"The password needs at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"The password may have at most {MAX_LENGTH} characters.")
    if email is not None and password.strip().lower() == email.strip().lower():
        raise WeakPasswordError("The password must not be the email address.")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Whether the password matches, and a new hash when the stored one used older
    parameters (to store instead)."""
    if stored is None:
        _HASHER.verify(password, _DUMMY_HASH)
        return False, None
    try:
        return _HASHER.verify_and_update(password, stored)
    except Exception:  # a malformed stored hash is a failed sign-in, not a server error
        return False, None
