"""How often one address, account or user may do something guessable or expensive.

Each rule is a setting in the `limits` notation ("20/minute"), parsed when `RateLimits` is
built, so a bad value stops the service at start with the setting's name. A rule counts per
key: the caller passes the client address (`login_ip`, `signup_ip`, `refresh_ip`), the account
name (`login_account`) or the user id (`upload`, `export`). Login has both an address and an
account rule: one address cannot try many accounts, and many addresses cannot try one.

Counts live in Redis when `ISOMIX_REDIS_URL` is set, so every API process of a scaled setup
counts together; otherwise in this process's memory (`isomix serve` is one process).

The strategy is the moving window: one timestamp per hit, and a hit is allowed while fewer
than N fell in the last window. It is exact: a fixed window lets 2N through across a window
boundary, and the sliding window counter estimates from the previous window's total, so it
refuses early or allows late. The rules are small (tens per key), so the timestamps cost
little, and the oldest one says exactly when the next hit is allowed (`Retry-After`).

Rate limiting fails open: when the storage cannot be reached (Redis down), `hit` allows the
request and logs a warning, once per outage. Without Redis the whole service is degraded
anyway; refusing every login on top would turn a missing safety net into an outage.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

import limits
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from isomix.config import Settings

log = logging.getLogger(__name__)

Rule = Literal["login_ip", "login_account", "signup_ip", "upload", "export", "refresh_ip"]
RULES: Final[tuple[Rule, ...]] = get_args(Rule)
KEY_PREFIX: Final = "isomix-ratelimit"
# Seconds a Redis call may take before the hit fails open: a hung Redis must not hang login.
# Options in the URL (?socket_timeout=...) take precedence.
REDIS_TIMEOUT: Final = 2.0


def _setting(rule: Rule) -> str:
    return f"rate_limit_{rule}"


def _parse_rule(settings: Settings, rule: Rule) -> limits.RateLimitItem:
    name = _setting(rule)
    value: str = getattr(settings, name)
    try:
        items = limits.parse_many(value)
    except ValueError:
        items = []
    if len(items) != 1:  # limits.parse would keep the first of "20/minute;100/hour" silently
        raise ValueError(
            f"ISOMIX_{name.upper()}: not a rate limit: {value!r} (write one, e.g. '20/minute')"
        )
    return items[0]


def _storage(redis_url: str | None) -> limits.storage.StorageTypes:
    if not redis_url:
        return storage_from_string("memory://", wrap_exceptions=True)
    try:
        return storage_from_string(
            redis_url,
            wrap_exceptions=True,
            key_prefix=KEY_PREFIX,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
        )
    except ConfigurationError:  # the URL may hold a password: name only its scheme
        scheme = urlsplit(redis_url).scheme
        raise ValueError(
            f"ISOMIX_REDIS_URL: rate limits cannot use a {scheme!r} URL (use redis://)"
        ) from None


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self._items = {rule: _parse_rule(settings, rule) for rule in RULES}
        self._limiter = MovingWindowRateLimiter(_storage(settings.redis_url))
        self._failing = False

    def hit(self, rule: Rule, *keys: str) -> float | None:
        """Count one hit of `rule` for `keys`. None: allowed. Else refused (and not counted):
        whole seconds, at least 1, until the next hit would be allowed (for Retry-After)."""
        item = self._items[rule]
        try:
            allowed = self._limiter.hit(item, rule, *keys)
            reset = (
                None if allowed else self._limiter.get_window_stats(item, rule, *keys).reset_time
            )
        except StorageError as error:
            if not self._failing:
                log.warning("rate limits are off until their storage answers again: %s", error)
                self._failing = True
            return None
        if self._failing:
            log.info("rate limits are on again: their storage answers")
            self._failing = False
        if reset is None:
            return None
        return float(max(1, math.ceil(reset - time.time())))


_instances: dict[tuple[str | None, ...], RateLimits] = {}
_instances_lock = threading.Lock()


def get_rate_limits(settings: Settings) -> RateLimits:
    """One `RateLimits` (one storage connection pool) per process and configuration."""
    key = (settings.redis_url, *(str(getattr(settings, _setting(rule))) for rule in RULES))
    with _instances_lock:
        if key not in _instances:
            _instances[key] = RateLimits(settings)
        return _instances[key]
