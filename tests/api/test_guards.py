"""The guards before routing (api/guards.py): Host, Origin, head size, body cap and timeouts.

Through the app, as TestClient and raw ASGI calls; `test_server_limits.py` has the same
limits against a real `isomix serve` on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from api.support import (
    SetEnv,
    files_under,
    http_scope,
    insert_ready_project,
    row_counts,
    upload,
    wav_bytes,
)
from isomix.api.app import create_app
from isomix.api.guards import GuardedBody, Policy, split_host
from isomix.api.upload import CONTENT_LENGTH_SLACK
from isomix.config import get_settings


def refusal(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code and isinstance(body["detail"], str), body
    assert response.headers["connection"] == "close"
    return body


# --- Hosts -------------------------------------------------------------------------------

SERVED_HOSTS = ["127.0.0.1", "127.0.0.1:8000", "localhost", "LocalHost:5173", "[::1]:8000", "[::1]"]
REFUSED_HOSTS = [
    "testserver",
    "evil.example",
    "evil.example:8000",
    "127.0.0.1.evil.example",
    "localhost.evil.example",
    "0.0.0.0:8000",
    "127.000.0.1",
    "[::1",
    "127.0.0.1:80:80",
    "127.0.0.1:port",
]


@pytest.mark.parametrize("host", SERVED_HOSTS)
def test_loopback_names_are_served(client: TestClient, host: str) -> None:
    response = client.get("/api/config", headers={"Host": host})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("host", REFUSED_HOSTS)
@pytest.mark.parametrize("path", ["/api/config", "/api/projects", "/", "/readyz", "/metrics"])
def test_other_host_names_are_refused_before_routing(
    client: TestClient, host: str, path: str
) -> None:
    body = refusal(client.get(path, headers={"Host": host}), 400, "host_not_allowed")
    assert "ISOMIX_ALLOWED_HOSTS" in body["detail"]


def test_a_rebound_name_cannot_delete(client: TestClient, song: bytes) -> None:
    """DNS rebinding: a page whose own name now points at 127.0.0.1 sends its own name."""
    status, project = upload(client, song)
    assert status == 202
    url = f"/api/projects/{project['id']}"
    headers = {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
    refusal(client.delete(url, headers=headers), 400, "host_not_allowed")
    assert client.get(url).status_code == 200


def test_healthz_answers_any_host(client: TestClient) -> None:
    response = client.get("/healthz", headers={"Host": "10.1.2.3:8000"})
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_a_long_refused_host_is_shortened(client: TestClient) -> None:
    body = refusal(client.get("/api/config", headers={"Host": "a" * 5000}), 400, "host_not_allowed")
    assert len(body["detail"]) < 300


def test_allowed_hosts_setting_adds_names(client: TestClient, set_env: SetEnv) -> None:
    set_env(allowed_hosts="studio.example, .example.org,[2001:db8::1]:8443, 192.0.2.9:8000")
    for host in (
        "studio.example",
        "Studio.Example.:443",
        "example.org",
        "www.example.org",
        "[2001:db8:0::1]:8443",
        "192.0.2.9:8000",
        "127.0.0.1:8000",  # loopback names stay served
    ):
        assert client.get("/api/config", headers={"Host": host}).status_code == 200, host
    for host in ("other.example", "badexample.org", "[2001:db8::1]:80", "192.0.2.9:8001"):
        refusal(client.get("/api/config", headers={"Host": host}), 400, "host_not_allowed")


def test_allowed_hosts_star_serves_any_name(client: TestClient, set_env: SetEnv) -> None:
    set_env(allowed_hosts="*")
    assert client.get("/api/config", headers={"Host": "anything.example"}).status_code == 200


def test_a_specific_listen_address_is_a_served_name(data_dir: Path) -> None:
    with TestClient(create_app(listen_host="192.0.2.7"), base_url="http://192.0.2.7:8000") as c:
        assert c.get("/api/config").status_code == 200
    with TestClient(create_app(listen_host="0.0.0.0"), base_url="http://0.0.0.0:8000") as c:
        refusal(c.get("/api/config"), 400, "host_not_allowed")


def test_a_specific_configured_host_is_a_served_name(data_dir: Path, set_env: SetEnv) -> None:
    set_env(host="studio.lan")
    with TestClient(create_app(), base_url="http://studio.lan:8000") as c:
        assert c.get("/api/config").status_code == 200


@pytest.mark.parametrize(
    ("setting", "value"),
    [("allowed_hosts", "ok.example, bad host"), ("allowed_origins", "studio.example")],
)
def test_settings_that_name_no_host_fail_when_the_app_is_created(
    set_env: SetEnv, setting: str, value: str
) -> None:
    set_env(**{setting: value})
    with pytest.raises(ValueError, match=r"bad host|studio\.example"):
        create_app()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("LOCALHOST.", ("localhost", None)),
        ("[0:0::1]:80", ("[::1]", 80)),
        ("::1", ("[::1]", None)),
        ("127.000.0.1", ("127.000.0.1", None)),  # a name, and not a served one
        ("a b", None),
        ("host:99999999", None),
    ],
)
def test_split_host(value: str, expected: tuple[str, int | None] | None) -> None:
    assert split_host(value) == expected


# --- Cross-site --------------------------------------------------------------------------


def test_cross_site_upload_is_refused_and_stores_nothing(
    client: TestClient, data_dir: Path, song: bytes
) -> None:
    response = client.post(
        "/api/projects",
        files={"file": ("song.wav", song, "audio/wav")},
        headers={"Origin": "https://evil.example"},
    )
    refusal(response, 403, "cross_origin")
    assert files_under(data_dir / "projects") == []
    assert row_counts()["projects"] == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1:8000"},  # another port is another origin
        {"Origin": "https://127.0.0.1"},  # and another scheme
        {"Origin": "null"},
        {"Origin": "garbage"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "cross-site"},
    ],
    ids=["other site", "other port", "other scheme", "null", "garbage", "fetch-site", "both"],
)
def test_cross_site_changes_are_refused(
    client: TestClient, song: bytes, headers: dict[str, str]
) -> None:
    status, project = upload(client, song)
    assert status == 202
    url = f"/api/projects/{project['id']}"
    refusal(client.post(f"{url}/cancel", headers=headers), 403, "cross_origin")
    refusal(
        client.post(f"{url}/exports", json={"format": "wav"}, headers=headers), 403, "cross_origin"
    )
    refusal(client.delete(url, headers=headers), 403, "cross_origin")
    assert client.get(url).json()["status"] == project["status"]
    # Reading is not a change: another site cannot read the answer (no CORS headers).
    assert client.get(url, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://127.0.0.1"},
        {"Origin": "http://127.0.0.1:80", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
    ids=["no origin (curl, CLI)", "own origin", "own origin, default port", "typed url"],
)
def test_own_and_originless_changes_pass(
    client: TestClient, song: bytes, headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/projects", files={"file": ("song.wav", song, "audio/wav")}, headers=headers
    )
    assert response.status_code == 202, response.text
    url = f"/api/projects/{response.json()['id']}"
    assert client.delete(url, headers=headers).status_code == 204


def test_own_origin_follows_the_scheme(data_dir: Path) -> None:
    from isomix.migrate import ensure_schema

    ensure_schema()
    with TestClient(create_app(), base_url="https://localhost:8443") as c:
        same = {"Origin": "https://localhost:8443"}
        assert c.delete("/api/projects/nothing", headers=same).status_code == 404
        plain = {"Origin": "http://localhost:8443"}
        refusal(c.delete("/api/projects/nothing", headers=plain), 403, "cross_origin")


def test_allowed_origins_setting(client: TestClient, set_env: SetEnv) -> None:
    set_env(allowed_origins="https://app.example, http://localhost:5173")
    for origin in ("https://app.example", "https://APP.example:443", "http://localhost:5173"):
        headers = {"Origin": origin, "Sec-Fetch-Site": "cross-site"}
        assert client.delete("/api/projects/nothing", headers=headers).status_code == 404
    for origin in ("https://app.example:8443", "http://app.example", "http://localhost:5174"):
        refusal(
            client.delete("/api/projects/nothing", headers={"Origin": origin}), 403, "cross_origin"
        )


# --- Head size ---------------------------------------------------------------------------


def test_headers_over_the_cap_are_431(client: TestClient) -> None:
    cap = get_settings().max_header_bytes
    assert client.get("/api/config", headers={"X-Big": "a" * (cap - 2048)}).status_code == 200
    body = refusal(
        client.get("/api/config", headers={"X-Big": "a" * cap}), 431, "headers_too_large"
    )
    assert str(cap) in body["detail"]
    many = {f"X-H{index}": "b" * 100 for index in range(cap // 100)}
    refusal(client.get("/api/config", headers=many), 431, "headers_too_large")
    refusal(client.get("/api/config?" + "q" * cap), 431, "headers_too_large")


def test_header_cap_is_a_setting(client: TestClient, set_env: SetEnv) -> None:
    set_env(max_header_bytes=4096)
    refusal(client.get("/api/config", headers={"X-Big": "a" * 5000}), 431, "headers_too_large")


# --- Bodies, through ASGI ----------------------------------------------------------------


class Exchange:
    """One raw ASGI request to the app: counts receive() calls, records what is sent."""

    def __init__(
        self,
        app: Any,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        chunks: Any,
    ) -> None:
        self.app = app
        self.scope = http_scope(method, path, headers, host=b"127.0.0.1:8000")
        self.chunks = chunks
        self.receives = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.receives += 1
        return dict(await self.chunks(self.receives))

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def run(self) -> tuple[int, dict[str, Any]]:
        anyio.run(self.app, self.scope, self.receive, self.send)
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        headers = {key.decode().lower(): value.decode() for key, value in start["headers"]}
        assert headers.get("connection") == "close" or start["status"] < 400
        return int(start["status"]), json.loads(body)


JSON = [(b"content-type", b"application/json")]


def test_declared_huge_body_is_413_before_reading(client: TestClient) -> None:
    project_id = insert_ready_project()

    async def never(_index: int) -> dict[str, Any]:
        raise AssertionError("the body was read")

    exchange = Exchange(
        client.app,
        "POST",
        f"/api/projects/{project_id}/exports",
        [*JSON, (b"content-length", b"400000000")],
        never,
    )
    status, body = exchange.run()
    assert (status, body["code"]) == (413, "too_large")
    assert exchange.receives == 0
    assert row_counts()["exports"] == 0


def test_streamed_body_is_cut_at_the_cap(client: TestClient, set_env: SetEnv) -> None:
    """A chunked body that never ends: 413 once the cap is crossed, the rest never read."""
    cap = 256 * 1024
    set_env(max_body_bytes=cap)
    project_id = insert_ready_project()
    chunk = b" " * 65536

    async def endless(index: int) -> dict[str, Any]:
        return {"type": "http.request", "body": b"{" if index == 1 else chunk, "more_body": True}

    exchange = Exchange(client.app, "POST", f"/api/projects/{project_id}/exports", JSON, endless)
    status, body = exchange.run()
    assert (status, body["code"]) == (413, "too_large")
    assert exchange.receives <= cap // len(chunk) + 2
    assert row_counts()["exports"] == 0


def test_a_body_under_the_cap_is_read_whole(client: TestClient) -> None:
    project_id = insert_ready_project()
    text = json.dumps({"format": "wav"}).encode()
    pieces = [text[:5], text[5:], b""]

    async def in_pieces(index: int) -> dict[str, Any]:
        return {"type": "http.request", "body": pieces[index - 1], "more_body": index < 3}

    exchange = Exchange(client.app, "POST", f"/api/projects/{project_id}/exports", JSON, in_pieces)
    status, body = exchange.run()
    assert status == 202 and body["status"] == "queued", body


def test_the_upload_keeps_its_own_limit(client: TestClient, set_env: SetEnv) -> None:
    set_env(max_body_bytes=64 * 1024)
    status, project = upload(client, wav_bytes(2.0))  # about 350 kB
    assert status == 202, project


def test_a_stalled_body_is_408(client: TestClient, set_env: SetEnv) -> None:
    set_env(body_timeout=0.2)
    project_id = insert_ready_project()

    async def stalls(index: int) -> dict[str, Any]:
        if index > 1:
            await anyio.sleep_forever()
        return {"type": "http.request", "body": b'{"format"', "more_body": True}

    exchange = Exchange(client.app, "POST", f"/api/projects/{project_id}/exports", JSON, stalls)
    status, body = exchange.run()
    assert (status, body["code"]) == (408, "request_timeout")
    assert row_counts()["exports"] == 0


def test_a_trickled_upload_is_408_and_leaves_nothing(
    client: TestClient, set_env: SetEnv, data_dir: Path
) -> None:
    """One byte at a time, each well inside the stall limit, below the minimum average rate."""
    set_env(body_timeout=0.3, min_body_rate=1000)
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n\r\n'

    async def trickle(index: int) -> dict[str, Any]:
        if index > 1:
            await anyio.sleep(0.02)
        return {"type": "http.request", "body": head if index == 1 else b"\0", "more_body": True}

    exchange = Exchange(
        client.app,
        "POST",
        "/api/projects",
        [(b"content-type", b"multipart/form-data; boundary=b")],
        trickle,
    )
    status, body = exchange.run()
    assert (status, body["code"]) == (408, "request_timeout")
    assert exchange.receives < 1000  # cut long before a real upload's worth
    assert files_under(data_dir / "projects") == []


def test_no_timeout_once_the_body_is_complete(data_dir: Path, set_env: SetEnv) -> None:
    """A streaming response waits for http.disconnect as long as it likes."""
    set_env(body_timeout=0.05)
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if not messages:
            await anyio.sleep(0.3)
            return {"type": "http.disconnect"}
        return messages.pop()

    async def main() -> list[str]:
        body = GuardedBody(receive, limit=10, policy=Policy.from_settings(get_settings()))
        return [str((await body())["type"]) for _ in range(2)]

    assert anyio.run(main) == ["http.request", "http.disconnect"]


def test_an_upload_body_past_its_budget_is_cut_even_after_the_file_part(
    client: TestClient, set_env: SetEnv, data_dir: Path
) -> None:
    """A tiny file part, then megabytes after the closing boundary (which the multipart
    parser skips): the upload's byte budget still ends it with 413."""
    set_env(max_upload_bytes=100_000)
    boundary = b"b0undary"
    head = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        b"RIFF\r\n--" + boundary + b"--\r\n"
    )
    chunk = b"x" * 65536

    async def endless(index: int) -> dict[str, Any]:
        return {"type": "http.request", "body": head if index == 1 else chunk, "more_body": True}

    headers = [(b"content-type", b"multipart/form-data; boundary=" + boundary)]
    exchange = Exchange(client.app, "POST", "/api/projects", headers, endless)
    status, body = exchange.run()
    assert (status, body["code"]) == (413, "too_large")
    budget = 100_000 + CONTENT_LENGTH_SLACK
    assert exchange.receives <= budget // len(chunk) + 3
    assert row_counts()["projects"] == 0


@pytest.mark.parametrize("value", ["localhost:\u00b2", "127.0.0.1:\u00b9\u00b3"])
def test_a_port_of_unicode_digits_is_refused_not_a_crash(client: TestClient, value: str) -> None:
    # str.isdigit() says yes to "²"; int() does not: a 400, never a 500 and a traceback.
    headers = [(b"host", value.encode("latin-1"))]

    async def empty(_index: int) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    exchange = Exchange(client.app, "GET", "/api/config", [], empty)
    exchange.scope["headers"] = headers
    status, body = exchange.run()
    assert (status, body["code"]) == (400, "host_not_allowed")
