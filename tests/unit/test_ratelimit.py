"""Rate limits (ratelimit.py): each rule's count per key, in memory and in a real Redis."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import limits
import pytest
import redis

from isomix.config import Settings
from isomix.ratelimit import RULES, RateLimits, Rule, get_rate_limits


def rate_limits(**settings: Any) -> RateLimits:
    return RateLimits(Settings(redis_url=None, **settings))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("rule", RULES)
def test_each_default_limit_allows_n_then_refuses(rule: Rule) -> None:
    allowed = limits.parse(getattr(Settings(), f"rate_limit_{rule}"))
    limiter = rate_limits()
    for _ in range(allowed.amount):
        assert limiter.hit(rule, "key") is None
    retry_after = limiter.hit(rule, "key")
    assert retry_after is not None
    assert 1 <= retry_after <= allowed.get_expiry()
    assert retry_after == int(retry_after)  # whole seconds, for Retry-After


def test_defaults() -> None:
    settings = Settings()
    assert {rule: getattr(settings, f"rate_limit_{rule}") for rule in RULES} == {
        "login_ip": "20/minute",
        "login_account": "10/minute",
        "signup_ip": "5/hour",
        "upload": "30/hour",
        "export": "60/hour",
        "refresh_ip": "60/minute",
    }


def test_a_refused_hit_is_not_counted_and_retry_after_is_at_least_one_second() -> None:
    limiter = rate_limits(rate_limit_upload="2/second")
    assert limiter.hit("upload", "u1") is None
    assert limiter.hit("upload", "u1") is None
    assert limiter.hit("upload", "u1") == 1.0
    time.sleep(1.05)
    assert limiter.hit("upload", "u1") is None


def test_keys_and_rules_count_apart() -> None:
    limiter = rate_limits(rate_limit_upload="1/hour", rate_limit_export="1/hour")
    assert limiter.hit("upload", "alice") is None
    assert limiter.hit("upload", "alice") is not None
    assert limiter.hit("upload", "bob") is None  # another user
    assert limiter.hit("export", "alice") is None  # another rule with the same limit
    # Login is limited per address and per account: both counted apart.
    login = rate_limits(rate_limit_login_ip="1/minute", rate_limit_login_account="1/minute")
    assert login.hit("login_ip", "198.51.100.7") is None
    assert login.hit("login_account", "alice@example.com") is None
    assert login.hit("login_ip", "198.51.100.7") is not None
    assert login.hit("login_account", "alice@example.com") is not None
    assert login.hit("login_ip", "198.51.100.8") is None


def test_instances_with_memory_storage_count_apart() -> None:
    first, second = rate_limits(rate_limit_export="1/hour"), rate_limits(rate_limit_export="1/hour")
    assert first.hit("export", "u") is None
    assert second.hit("export", "u") is None


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("value", ["lots", "10/fortnight", "", "-1/minute", "1/second;9/hour"])
def test_a_bad_limit_names_its_setting(rule: Rule, value: str) -> None:
    with pytest.raises(ValueError, match=f"ISOMIX_RATE_LIMIT_{rule.upper()}: not a rate limit"):
        rate_limits(**{f"rate_limit_{rule}": value})


def test_a_redis_url_limits_cannot_use_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="ISOMIX_REDIS_URL") as error:
        RateLimits(Settings(redis_url="redis+socket:///run/secret-password.sock"))
    assert "secret-password" not in str(error.value)


def test_one_instance_per_configuration() -> None:
    settings = Settings(redis_url=None)
    assert get_rate_limits(settings) is get_rate_limits(Settings(redis_url=None))
    other = Settings(redis_url=None, rate_limit_upload="3/hour")
    assert get_rate_limits(other) is not get_rate_limits(settings)


def test_unreachable_redis_fails_open_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimits(
        Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_upload="1/hour")
    )
    with caplog.at_level(logging.WARNING, logger="isomix.ratelimit"):
        for _ in range(3):
            assert limiter.hit("upload", "u") is None
    warnings = [record for record in caplog.records if record.name == "isomix.ratelimit"]
    assert len(warnings) == 1
    assert "rate limits are off" in warnings[0].getMessage()


# --- Redis -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server of our own (tests/integration/conftest.py's fixture is not importable
    from here): missing, the test is skipped, or fails in CI."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: integration tests must run)", pytrace=False)
        pytest.skip(message)
    directory = Path(tempfile.mkdtemp(prefix="isomix-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        with redis.Redis.from_url(url) as client:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("redis-server did not start")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.integration
def test_api_processes_share_counts_through_redis(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, rate_limit_upload="3/hour")
    first, second = RateLimits(settings), RateLimits(settings)
    user = uuid.uuid4().hex
    assert first.hit("upload", user) is None
    assert second.hit("upload", user) is None
    assert first.hit("upload", user) is None
    for limiter in (second, first):
        retry_after = limiter.hit("upload", user)
        assert retry_after is not None and 3500 < retry_after <= 3600
    assert second.hit("upload", uuid.uuid4().hex) is None  # another user
    with redis.Redis.from_url(redis_url) as client:
        keys = [key.decode() for key in client.keys("*")]
    assert keys and all(key.startswith("isomix-ratelimit") for key in keys)
