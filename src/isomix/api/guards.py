"""Who may talk to the API and how much one request may hold: checks before routing.

`RequestGuard` is the outermost middleware of the app. For every HTTP request, in this order:

1. Head size: request line and headers over `ISOMIX_MAX_HEADER_BYTES` are refused (431).
   `isomix serve` refuses them earlier, before buffering them (`api/server.py`); this is the
   same rule for any server.
2. Host: served only for the loopback names (`localhost`, `127.0.0.1`, `[::1]`, any port),
   the address `isomix serve` listens on when it is a specific one, and
   `ISOMIX_ALLOWED_HOSTS`; anything else is refused (400). This defeats DNS rebinding: a page
   on another site that points its own name at 127.0.0.1 still sends its own name as Host.
   `GET /healthz` is answered for any Host (it says only "ok"), so load balancers may probe
   by address. A request without a Host header (HTTP/1.0; no browser sends one) passes.
3. Cross-site: POST, PUT, PATCH and DELETE whose `Origin` is neither the server's own (the
   request's scheme, Host name and port) nor in `ISOMIX_ALLOWED_ORIGINS`, or that a browser
   marks `Sec-Fetch-Site: cross-site`, are refused (403). Without `Origin` (curl, the CLI,
   scripts) they pass: a browser always sends it on these methods.
4. Body: on every route but the upload (which has `ISOMIX_MAX_UPLOAD_BYTES`), a declared
   Content-Length over `ISOMIX_MAX_BODY_BYTES` is refused (413) before a byte is read, and a
   chunked body is counted as it arrives and cut at the cap (413). On every route, a body
   that stalls for `ISOMIX_BODY_TIMEOUT` seconds, or arrives slower than
   `ISOMIX_MIN_BODY_RATE` bytes/s on average beyond that, is refused (408). Only the time the
   app waits for the client counts.

Refusals use the API's error shape and `Connection: close`; none of them reads the body.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isomix.api import urls
from isomix.api.upload import CONTENT_LENGTH_SLACK
from isomix.config import Settings, get_settings

LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "[::1]")
# Addresses that listen on every interface: they name no host a client would use.
WILDCARD_ADDRESSES: Final = frozenset({"", "*", "0.0.0.0", "[::]"})
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Served for any Host: says only that the process answers.
ANY_HOST_PATHS: Final = frozenset({"/healthz"})
_SHOWN_CHARS = 80  # of a refused Host or Origin, in the message


class Refused(StarletteHTTPException):
    """A request the guards turn away: status, code and message in the API's error shape."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(status_code, detail, headers={"Connection": "close"})
        self.code = code


def error_json(code: str, detail: str) -> bytes:
    return json.dumps({"detail": detail, "code": code}).encode()


def _refused_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Refused)
    return JSONResponse(
        {"detail": error.detail, "code": error.code},
        status_code=error.status_code,
        headers=error.headers,
    )


async def _send_refusal(send: Send, error: Refused) -> None:
    body = error_json(error.code, error.detail)
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _shown(value: str) -> str:
    text = value.encode("ascii", "backslashreplace").decode()
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


# --- Hosts -------------------------------------------------------------------------------


def _canonical_name(name: str) -> str:
    """Lower case, no trailing dot; IP literals in one spelling, IPv6 in brackets."""
    name = name.strip().lower().rstrip(".")
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return name
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def split_host(value: str) -> tuple[str, int | None] | None:
    """`name[:port]` or `[v6][:port]` as (canonical name, port); None when malformed."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
    elif value.count(":") > 1:  # a bare IPv6 literal: only in settings, never in a Host header
        name, rest = value, ""
    else:
        name, colon, port_text = value.partition(":")
        rest = colon + port_text
    port: int | None = None
    if rest:
        if not (rest.startswith(":") and _digits(rest[1:]) and len(rest) <= 6):
            return None
        port = int(rest[1:])
    name = _canonical_name(name)
    if not name or any(char in name for char in "/\\@ \t"):
        return None
    return name, port


@dataclass(frozen=True)
class HostRules:
    """Allowed Host names: exact names (any port or one port), `.suffix` patterns, or any."""

    any_host: bool
    names: frozenset[str]
    name_ports: frozenset[tuple[str, int]]
    suffixes: tuple[str, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostRules:
        any_host = False
        names: set[str] = set()
        name_ports: set[tuple[str, int]] = set()
        suffixes: list[str] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            if entry == "*":
                any_host = True
            elif entry.startswith("."):
                suffixes.append(entry.lower().rstrip("."))
            else:
                parsed = split_host(entry)
                if parsed is None:
                    raise ValueError(f"not a host name: {entry!r}")
                name, port = parsed
                if port is None:
                    names.add(name)
                else:
                    name_ports.add((name, port))
        return cls(any_host, frozenset(names), frozenset(name_ports), tuple(suffixes))

    def allows(self, name: str, port: int | None) -> bool:
        if self.any_host or name in self.names:
            return True
        if port is not None and (name, port) in self.name_ports:
            return True
        return any(name == suffix[1:] or name.endswith(suffix) for suffix in self.suffixes)


def is_specific_address(host: str) -> bool:
    """A listen address that names one host (not 0.0.0.0, ::, or empty)."""
    parsed = split_host(host)
    return parsed is not None and parsed[0] not in WILDCARD_ADDRESSES


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Origins -----------------------------------------------------------------------------

Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """`scheme://host[:port]` as (scheme, canonical host, port); None when it is not one."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.username is not None or parts.query or parts.fragment:
        return None
    return scheme, _canonical_name(parts.hostname), port or DEFAULT_PORTS[scheme]


# --- The policy --------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    hosts: HostRules
    origins: frozenset[Origin]
    max_header_bytes: int
    max_body_bytes: int
    body_timeout: float
    min_body_rate: int

    @classmethod
    def from_settings(cls, settings: Settings, listen_host: str | None = None) -> Policy:
        return _policy(
            settings.allowed_hosts,
            # Origins allowed to call across sites with CORS may also change things.
            ",".join(filter(None, (settings.allowed_origins, settings.cors_origins))),
            listen_host if listen_host is not None else settings.host,
            settings.max_header_bytes,
            settings.max_body_bytes,
            settings.body_timeout,
            settings.min_body_rate,
        )


@lru_cache(maxsize=8)
def _policy(
    allowed_hosts: str,
    allowed_origins: str,
    listen_host: str,
    max_header_bytes: int,
    max_body_bytes: int,
    body_timeout: float,
    min_body_rate: int,
) -> Policy:
    entries = [*LOOPBACK_NAMES, *_csv(allowed_hosts)]
    if is_specific_address(listen_host):
        entries.append(listen_host)
    origins: set[Origin] = set()
    for entry in _csv(allowed_origins):
        origin = parse_origin(entry)
        if origin is None:
            raise ValueError(f"ISOMIX_ALLOWED_ORIGINS: not an origin: {entry!r}")
        origins.add(origin)
    return Policy(
        hosts=HostRules.parse(entries),
        origins=frozenset(origins),
        max_header_bytes=max_header_bytes,
        max_body_bytes=max_body_bytes,
        body_timeout=body_timeout,
        min_body_rate=min_body_rate,
    )


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope["headers"] if key.lower() == name]


def head_bytes(scope: Scope) -> int:
    """The size of the request head as sent: request line and header lines."""
    size = len(scope.get("method", "")) + len(scope.get("raw_path", b"")) + 12
    size += len(scope.get("query_string", b"")) + 1
    return size + sum(len(key) + len(value) + 4 for key, value in scope["headers"])


def check_head(policy: Policy, scope: Scope) -> Refused | None:
    """The checks that need only the head: size, Host, Origin. None: go on."""
    if head_bytes(scope) > policy.max_header_bytes:
        return Refused(
            431,
            "headers_too_large",
            f"The request's headers are larger than {policy.max_header_bytes} bytes.",
        )
    hosts = _header_values(scope, b"host")
    if len(hosts) > 1:
        return Refused(400, "host_not_allowed", "The request has more than one Host header.")
    method = scope.get("method", "GET")
    if hosts and not (method in ("GET", "HEAD") and scope["path"] in ANY_HOST_PATHS):
        parsed = split_host(hosts[0])
        if parsed is None or not policy.hosts.allows(*parsed):
            return Refused(
                400,
                "host_not_allowed",
                f"This server does not answer to the host name '{_shown(hosts[0])}'. "
                "Its administrator can add it to ISOMIX_ALLOWED_HOSTS.",
            )
    if method in UNSAFE_METHODS:
        return _check_origin(policy, scope, hosts[0] if hosts else None)
    return None


def _check_origin(policy: Policy, scope: Scope, host: str | None) -> Refused | None:
    origins = _header_values(scope, b"origin")
    origin = parse_origin(origins[0]) if len(origins) == 1 else None
    if origin is not None and origin in policy.origins:
        return None
    refused = Refused(
        403,
        "cross_origin",
        "Refused: this request came from another site. Open IsoMix at its own address, or "
        "its administrator can add the site to ISOMIX_ALLOWED_ORIGINS.",
    )
    fetch_site = _header_values(scope, b"sec-fetch-site")
    if fetch_site and fetch_site[0].strip().lower() == "cross-site":
        return refused
    if not origins:
        return None
    if origin is None or host is None:  # "null", garbage, or two Origin headers
        return refused
    own_host = split_host(host)
    scheme = str(scope.get("scheme", "http")).lower()
    if own_host is None or scheme not in DEFAULT_PORTS:
        return refused
    own = (scheme, own_host[0], own_host[1] or DEFAULT_PORTS[scheme])
    return None if origin == own else refused


# --- The body ----------------------------------------------------------------------------


def _digits(text: str) -> bool:
    # str.isdigit() also accepts "²" (a latin-1 byte in a header), which int() refuses.
    return text.isascii() and text.isdigit()


def is_upload(scope: Scope) -> bool:
    return scope.get("method") == "POST" and scope.get("path") == urls.PROJECTS


def declared_length(scope: Scope) -> int | None:
    values = _header_values(scope, b"content-length")
    if len(values) != 1 or not _digits(values[0].strip()):
        return None
    return int(values[0].strip())


def _too_large(limit: int) -> Refused:
    return Refused(413, "too_large", f"The request body is larger than {limit} bytes.")


class GuardedBody:
    """The app's `receive`: counts the body against its cap and times the client's part.

    Once the body is complete (`more_body` false) it only passes messages through, so an
    app that waits for `http.disconnect` (a streaming response) waits as long as it likes.
    """

    def __init__(self, receive: Receive, *, limit: int | None, policy: Policy) -> None:
        self._receive = receive
        self.limit = limit
        self.timeout = policy.body_timeout
        self.min_rate = policy.min_body_rate
        self.received = 0
        self.waited = 0.0
        self.complete = False

    def _allowance(self) -> float:
        """Seconds the next chunk may take: a stall limit, and the average rate beyond it."""
        if self.min_rate <= 0:
            return self.timeout
        budget = self.timeout + self.received / self.min_rate - self.waited
        return max(0.0, min(self.timeout, budget))

    async def __call__(self) -> Message:
        if self.complete:
            return await self._receive()
        started = time.monotonic()
        message: Message | None = None
        with anyio.move_on_after(self._allowance()):
            message = await self._receive()
        self.waited += time.monotonic() - started
        if message is None:
            raise Refused(
                408, "request_timeout", "The request body arrived too slowly; send it again."
            )
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.limit is not None and self.received > self.limit:
                raise _too_large(self.limit)
            if not message.get("more_body", False):
                self.complete = True
        else:  # http.disconnect
            self.complete = True
        return message


class RequestGuard:
    """The checks above, as pure ASGI middleware (no buffering, no thread)."""

    def __init__(self, app: ASGIApp, listen_host: str | None = None) -> None:
        self.app = app
        self.listen_host = listen_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        policy = Policy.from_settings(get_settings(), self.listen_host)
        refusal = check_head(policy, scope)
        if scope["type"] == "websocket":
            if refusal is None:
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        length = declared_length(scope)
        if is_upload(scope):
            # The upload route answers a declared length over its limit itself (with the
            # limit in words); here its body, chunked or not, is only cut past that budget.
            limit = get_settings().max_upload_bytes + CONTENT_LENGTH_SLACK
        else:
            limit = policy.max_body_bytes
            if refusal is None and length is not None and length > limit:
                refusal = _too_large(limit)
        if refusal is not None:
            await _send_refusal(send, refusal)
            return

        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        body = GuardedBody(receive, limit=limit, policy=policy)
        try:
            await self.app(scope, body, tracked_send)
        except Refused as error:  # raised by `body` where no handler of the app saw it
            if started:
                raise
            await _send_refusal(send, error)


def install_guards(app: FastAPI, *, listen_host: str | None = None) -> None:
    """Add the guards as the outermost middleware; call after every other add_middleware."""
    # Settings that name no host or origin fail here, when the app is created.
    Policy.from_settings(get_settings(), listen_host)
    app.add_exception_handler(Refused, _refused_handler)
    app.add_middleware(RequestGuard, listen_host=listen_host)
