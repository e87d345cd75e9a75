"""Rate limits through the API (accounts mode): sign-in per address and per account, the
address taken from X-Forwarded-For only when a trusted proxy sent it, sign-up per address,
uploads per user. Each test has limiters of its own (fresh_rate_limits) and small limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from api.accounts_support import (
    PASSWORD,
    Response,
    bearer,
    distinct_wav,
    fresh_rate_limits,
    make_user,
    upload_as,
    uploads_today,
)
from api.support import SetEnv

LOOPBACK_URL = "http://127.0.0.1"
PER_ADDRESS = 2  # sign-ins a minute per address (each costs an Argon2 verification)


@pytest.fixture
def accounts(set_env: SetEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(
        auth_mode="accounts",
        rate_limit_login_ip=f"{PER_ADDRESS}/minute",
        rate_limit_login_account="50/minute",
    )
    fresh_rate_limits(monkeypatch)


@pytest.fixture
def from_address(client: TestClient) -> Iterator[Callable[[str], TestClient]]:
    """Test clients of the same app whose TCP peer is the given address."""
    made: list[TestClient] = []

    def make(address: str) -> TestClient:
        peer = TestClient(client.app, base_url=LOOPBACK_URL, client=(address, 50000))
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


def attempt(
    client: TestClient,
    email: str,
    password: str = "not the password",
    *,
    forwarded_for: str | None = None,
) -> Response:
    client.cookies.clear()
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    return client.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )


def assert_limited(response: Response, rule: str, window: int = 60) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "rate_limited" and body["limit"] == rule, body
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    assert body["value"] == retry_after
    assert f"Try again in {retry_after} s." in body["detail"]


def test_sign_in_is_limited_per_address(
    accounts: None, client: TestClient, from_address: Callable[[str], TestClient]
) -> None:
    make_user("ann@example.com")
    here = from_address("203.0.113.5")
    # Failed and successful attempts count alike, whatever account they name.
    assert attempt(here, "ben@example.com").status_code == 401
    assert attempt(here, "ann@example.com", PASSWORD).status_code == 200
    assert_limited(attempt(here, "ann@example.com", PASSWORD), "login_ip")
    assert_limited(attempt(here, "cat@example.com"), "login_ip")
    # Another address is not held back.
    assert attempt(from_address("203.0.113.6"), "ann@example.com", PASSWORD).status_code == 200


def test_sign_in_is_limited_per_account_from_any_address(
    accounts: None, set_env: SetEnv, client: TestClient, from_address: Callable[[str], TestClient]
) -> None:
    set_env(rate_limit_login_ip="100/minute", rate_limit_login_account="2/minute")
    make_user("ann@example.com")
    for index in range(2):
        assert attempt(from_address(f"198.51.100.{index}"), "ann@example.com").status_code == 401
    # A third address, the right password, the email spelled differently: still this account.
    third = from_address("198.51.100.99")
    assert_limited(attempt(third, " ANN@Example.com", PASSWORD), "login_account")
    # Another account from the same address is not held back.
    assert attempt(third, "ben@example.com").status_code == 401


def test_a_spoofed_forwarded_for_does_not_escape_the_address_limit(
    accounts: None, client: TestClient, from_address: Callable[[str], TestClient]
) -> None:
    # No trusted proxies: X-Forwarded-For is the client's own words and is ignored.
    here = from_address("203.0.113.5")
    for index in range(PER_ADDRESS):
        response = attempt(here, "ann@example.com", forwarded_for=f"192.0.2.{index}")
        assert response.status_code == 401
    assert_limited(attempt(here, "ann@example.com", forwarded_for="192.0.2.77"), "login_ip")
    assert_limited(attempt(here, "ann@example.com"), "login_ip")


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored_with_proxies_set(
    accounts: None, set_env: SetEnv, client: TestClient, from_address: Callable[[str], TestClient]
) -> None:
    set_env(trusted_proxies="10.0.0.0/8")
    here = from_address("203.0.113.5")  # not one of the proxies
    for index in range(PER_ADDRESS):
        response = attempt(here, "ann@example.com", forwarded_for=f"192.0.2.{index}")
        assert response.status_code == 401
    assert_limited(attempt(here, "ann@example.com", forwarded_for="192.0.2.9"), "login_ip")


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_key(
    accounts: None, set_env: SetEnv, client: TestClient, from_address: Callable[[str], TestClient]
) -> None:
    set_env(trusted_proxies="10.0.0.0/8")
    proxy = from_address("10.0.0.2")
    # Attempts from one client behind the proxy; whatever the client wrote left of
    # the proxy's own entry changes nothing: the right-most untrusted address is the key.
    for index in range(PER_ADDRESS):
        forwarded = f"192.0.2.{index}, 198.51.100.7"
        assert attempt(proxy, "ann@example.com", forwarded_for=forwarded).status_code == 401
    assert_limited(attempt(proxy, "ann@example.com", forwarded_for="198.51.100.7"), "login_ip")
    # Through a second proxy of ours the same client is still the same key.
    assert_limited(
        attempt(proxy, "ann@example.com", forwarded_for="198.51.100.7, 10.1.2.3"), "login_ip"
    )
    # Other clients behind the same proxy have buckets of their own.
    assert attempt(proxy, "ann@example.com", forwarded_for="198.51.100.8").status_code == 401
    # The proxy's own requests (no header) are the proxy's address.
    for _ in range(PER_ADDRESS):
        assert attempt(proxy, "ann@example.com").status_code == 401
    assert_limited(attempt(proxy, "ann@example.com"), "login_ip")


def test_sign_up_is_limited_per_address(
    accounts: None, set_env: SetEnv, client: TestClient, from_address: Callable[[str], TestClient]
) -> None:
    set_env(rate_limit_signup_ip="2/hour")
    here = from_address("203.0.113.5")

    def signup(peer: TestClient, email: str) -> Response:
        peer.cookies.clear()
        return peer.post("/api/auth/signup", json={"email": email, "password": "short"})

    # Refused sign-ups (a weak password: 422) count too: the limit comes first.
    assert signup(here, "a@example.com").status_code == 422
    assert signup(here, "b@example.com").status_code == 422
    assert_limited(signup(here, "c@example.com"), "signup_ip", window=3600)
    assert signup(from_address("203.0.113.6"), "c@example.com").status_code == 422


def test_uploads_are_limited_per_user_before_the_daily_quota(
    accounts: None, set_env: SetEnv, client: TestClient
) -> None:
    set_env(rate_limit_upload="2/hour")
    user = make_user("ann@example.com")
    as_ann = bearer(user)
    for index in range(2):
        assert upload_as(client, as_ann, distinct_wav(index), model="classic").status_code == 202
    limited = upload_as(client, as_ann, distinct_wav(5), model="classic")
    assert_limited(limited, "upload", window=3600)
    assert uploads_today(user) == 2  # the refused one took none of today's uploads
    other = make_user("ben@example.com")
    assert upload_as(client, bearer(other), distinct_wav(5), model="classic").status_code == 202
