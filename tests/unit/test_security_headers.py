"""Response headers and CORS (api/headers.py) on a small app: JSON, streamed, docs, errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from fastapi import FastAPI
from fastapi.responses import Response, StreamingResponse
from fastapi.testclient import TestClient
from starlette.types import Message

from isomix.api.headers import CSP, DOCS_CSP, cors_origins, install_security_headers
from isomix.config import Settings

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
APP_ORIGIN = "https://app.example"


def make_app(**settings: Any) -> FastAPI:
    app = FastAPI(docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.get("/api/thing")
    def thing() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/api/thing")
    def make_thing() -> dict[str, str]:
        return {"made": "yes"}

    @app.get("/api/own-headers")
    def own_headers() -> Response:
        return Response(
            "x", headers={"Content-Security-Policy": "sandbox", "Referrer-Policy": "same-origin"}
        )

    @app.get("/api/stream")
    def stream() -> StreamingResponse:
        def chunks() -> Any:
            yield b"one\n"
            yield b"two\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    install_security_headers(app, Settings(**settings))
    return app


def directives(csp: str) -> dict[str, list[str]]:
    parsed = {}
    for part in csp.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_secured(headers: Any, csp: bytes = CSP) -> None:
    for name, value in EXPECTED.items():
        assert headers.get_list(name) == [value], name
    assert headers.get_list("content-security-policy") == [csp.decode()]


@pytest.mark.parametrize("path", ["/api/thing", "/api/stream", "/api/missing", "/"])
def test_every_answer_carries_the_headers(path: str) -> None:
    response = TestClient(make_app()).get(path)
    assert_secured(response.headers)


def test_the_policy_forbids_inline_scripts_and_framing() -> None:
    policy = directives(CSP.decode())
    # WebAssembly (the mixer's stretch worklet) may compile; JavaScript eval may not.
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["media-src"] == ["'self'", "blob:"]
    assert policy["worker-src"] == ["'self'", "blob:"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_a_header_the_route_set_is_kept() -> None:
    response = TestClient(make_app()).get("/api/own-headers")
    assert response.headers.get_list("content-security-policy") == ["sandbox"]
    assert response.headers.get_list("referrer-policy") == ["same-origin"]
    assert response.headers["x-frame-options"] == "DENY"


def test_swagger_ui_gets_a_policy_that_allows_what_it_loads() -> None:
    client = TestClient(make_app())
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert_secured(response.headers, DOCS_CSP)
    policy = directives(response.headers["content-security-policy"])
    assert "'unsafe-inline'" in policy["script-src"]  # FastAPI's bootstrap script
    assert policy["frame-ancestors"] == ["'none'"]
    html = response.text
    loaded = {
        "script-src": re.findall(r'<script src="([^"]+)"', html),
        "style-src": re.findall(r'<link type="text/css" rel="stylesheet" href="([^"]+)"', html),
        "img-src": re.findall(r'<link rel="shortcut icon" href="([^"]+)"', html),
    }
    for directive, urls in loaded.items():
        assert urls, directive
        for url in urls:
            parts = urlsplit(url)
            assert f"{parts.scheme}://{parts.netloc}" in policy[directive], (directive, url)
    # Only the docs page: the schema and the rest of the API keep the strict policy.
    assert_secured(client.get("/api/openapi.json").headers)
    assert_secured(client.get("/api/docsx").headers)


def test_a_streamed_answer_is_passed_on_chunk_by_chunk() -> None:
    """The first chunk reaches the server before the generator goes on: nothing buffers."""
    app = FastAPI()
    first_sent = anyio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"one\n"
        await first_sent.wait()  # deadlocks (and times out) if the middleware buffers
        yield b"two\n"

    @app.get("/events")
    def events() -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/event-stream")

    install_security_headers(app, Settings())
    sent: list[Message] = []

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body") == b"one\n":
            first_sent.set()

    async def main() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/events",
            "raw_path": b"/events",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        with anyio.fail_after(5):
            await app(scope, receive, send)

    anyio.run(main)
    start = sent[0]
    assert start["type"] == "http.response.start"
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    assert headers["content-security-policy"] == CSP.decode()
    assert all(headers[name] == value for name, value in EXPECTED.items())
    bodies = [message.get("body") for message in sent[1:]]
    assert bodies[:2] == [b"one\n", b"two\n"]


# --- CORS ----------------------------------------------------------------------------------


def preflight(client: TestClient, origin: str) -> Any:
    return client.options(
        "/api/thing",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize("origin", [APP_ORIGIN, "https://evil.example", "null"])
def test_cors_is_off_by_default(origin: str) -> None:
    client = TestClient(make_app())
    for response in (
        client.get("/api/thing", headers={"Origin": origin}),
        preflight(client, origin),
    ):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers


def test_cors_allows_exactly_the_named_origin() -> None:
    client = TestClient(make_app(cors_origins=f"{APP_ORIGIN}/, https://other.example:8443"))
    response = client.get("/api/thing", headers={"Origin": APP_ORIGIN})
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = {
        value.strip() for value in response.headers["access-control-expose-headers"].split(",")
    }
    assert exposed == {"Retry-After", "Content-Disposition", "X-Request-ID"}

    answer = preflight(client, APP_ORIGIN)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    methods = {value.strip() for value in answer.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "PUT", "PATCH", "DELETE"}
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert_secured(answer.headers)  # preflight answers carry the headers too


@pytest.mark.parametrize("origin", ["https://evil.example", "http://app.example", "null"])
def test_cors_refuses_another_origin(origin: str) -> None:
    client = TestClient(make_app(cors_origins=APP_ORIGIN))
    response = client.get("/api/thing", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers
    answer = preflight(client, origin)
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("value", ["*", f"{APP_ORIGIN}, *", "https://*.example"])
def test_a_wildcard_origin_is_refused_at_startup(value: str) -> None:
    with pytest.raises(ValueError, match=r"ISOMIX_CORS_ORIGINS: .* wildcard"):
        make_app(cors_origins=value)


@pytest.mark.parametrize(
    "value",
    ["app.example", "ftp://app.example", "https://app.example/path", "https://a:b@x.example"],
)
def test_a_cors_entry_that_is_no_origin_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="ISOMIX_CORS_ORIGINS: not an origin"):
        cors_origins(value)


def test_cors_origins_are_read_as_a_list() -> None:
    assert cors_origins("") == []
    assert cors_origins(" https://a.example/ ,, http://b.example:8080 ") == [
        "https://a.example",
        "http://b.example:8080",
    ]


def test_a_bad_trusted_proxy_fails_at_startup() -> None:
    with pytest.raises(ValueError, match=r"ISOMIX_TRUSTED_PROXIES.*'10\.0\.0\.300'"):
        make_app(trusted_proxies="10.0.0.1, 10.0.0.300")
