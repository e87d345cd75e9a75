"""`isomix serve`'s HTTP server: uvicorn on h11, with bounds on what one client may hold.

uvicorn's default parser (httptools) buffers a request head of any size and waits for it for
ever. `GuardedH11Protocol` is uvicorn's h11 protocol plus:

- Head size: the request line and headers are counted as they arrive; past
  `ISOMIX_MAX_HEADER_BYTES` the client is answered 431 and the connection closed, so memory
  never holds more than the cap plus one socket read. h11's own buffer limit sits just above
  as a backstop.
- Head timeout: a request's head must be complete `ISOMIX_HEADER_TIMEOUT` seconds after the
  connection opened (or the previous response ended, on a kept-alive connection). Otherwise:
  408 when some of it came, a silent close when nothing did.
- A response sent while the request's body is still arriving (the app did not need it) ends
  the connection instead of draining the body for ever.
- Connections: over `ISOMIX_MAX_CONNECTIONS` open at once, a new connection is answered 503
  (with Retry-After) as soon as its head is in; over a further quarter it is closed at once.
  One log line a minute says so while it happens.

Refusals are written in the API's error shape, then the connection is half-closed and what
the client still sends is discarded for at most `LINGER_SECONDS`, so it can read the answer.
Body size and body timeouts are the app's (`api/guards.py`), which sees what the route needs.
"""

from __future__ import annotations

import asyncio
import http
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import h11
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from isomix.api.guards import error_json
from isomix.config import Settings

log = logging.getLogger(__name__)

LINGER_SECONDS = 2.0
# h11 refuses a head past this on its own (uvicorn then answers a plain 400); ours comes
# first: a head is counted after each read, and one read is at most 256 KiB.
READ_SLACK = 512 * 1024
BUSY_RETRY_AFTER = 5  # seconds
BUSY_LOG_INTERVAL = 60.0
# Descriptors a process needs besides its connections: database, worker pipes, open files.
RESERVED_DESCRIPTORS = 256


class BusyLog:
    """One warning per `interval` while connections are turned away, with the count."""

    def __init__(self, interval: float = BUSY_LOG_INTERVAL) -> None:
        self.interval = interval
        self.last = -math.inf
        self.refused = 0

    def hit(self, open_now: int, cap: int) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        log.warning(
            "connection cap reached: %d connections open, ISOMIX_MAX_CONNECTIONS=%d; new "
            "connections get 503 (%d since the last such line, at most one line a minute)",
            open_now,
            cap,
            self.refused,
        )
        self.last = now
        self.refused = 0


@dataclass
class ServerLimits:
    max_header_bytes: int
    header_timeout: float
    max_connections: int
    busy_log: BusyLog = field(default_factory=BusyLog)

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout,
            max_connections=settings.max_connections,
        )

    @property
    def hard_connections(self) -> int:
        """Past this many, a new connection is closed at once, unanswered by the app."""
        return self.max_connections + max(1, self.max_connections // 4)


def raw_response(status: int, code: str, detail: str, *extra: tuple[str, str]) -> bytes:
    """A whole HTTP/1.1 response in the API's error shape, ending the connection."""
    body = error_json(code, detail)
    lines = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in extra),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _busy_detail() -> str:
    return "The server is busy: too many open connections. Try again in a few seconds."


async def busy_app(scope: Scope, receive: Receive, send: Send) -> None:
    """What a connection over the cap gets instead of the app."""
    if scope["type"] != "http":
        return
    body = error_json("busy", _busy_detail())
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(BUSY_RETRY_AFTER).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the bounds in this module's docstring."""

    limits: ClassVar[ServerLimits]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._lingering = False

    # Connections ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        open_now = len(self.connections)
        if open_now > self.limits.max_connections:
            self.limits.busy_log.hit(open_now, self.limits.max_connections)
            if open_now > self.limits.hard_connections:
                transport.write(
                    raw_response(
                        503, "busy", _busy_detail(), ("retry-after", str(BUSY_RETRY_AFTER))
                    )
                )
                transport.close()
                return
            self.app = busy_app
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def eof_received(self) -> None:
        if self._lingering:
            self.transport.close()

    # The request head -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # an answer is out: discard what the client still sends
        waiting_for_head = self.conn.their_state is h11.IDLE
        super().data_received(data)
        if self.transport.is_closing() or self._lingering:
            return
        if self.conn.their_state is not h11.IDLE:
            self._head_bytes = 0
            self._cancel_header_timer()
            return
        if waiting_for_head:
            self._head_bytes += len(data)
            cap = self.limits.max_header_bytes
            if self._head_bytes > cap:
                detail = f"The request's headers are larger than {cap} bytes."
                self._refuse(431, "headers_too_large", detail)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing() or self._lingering:
            return
        if self.conn.their_state is h11.SEND_BODY:
            # Answered before the body was read; the rest of it is nobody's business.
            self._start_lingering()
        elif self.conn.their_state is h11.IDLE:
            self._head_bytes = 0
            self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout, self._header_timed_out
        )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self._lingering:
            return
        if self.conn.their_state is not h11.IDLE:
            return
        if self._head_bytes:
            self._refuse(
                408,
                "request_timeout",
                f"The request's headers did not arrive within {self.limits.header_timeout:g} s.",
            )
        else:  # nothing came: an idle connection, closed without a word
            self.conn.send(h11.ConnectionClosed())
            self.transport.close()

    # Ending a connection with an answer -------------------------------------------------

    def _refuse(self, status: int, code: str, detail: str) -> None:
        self._cancel_header_timer()
        self.transport.write(raw_response(status, code, detail))
        self._start_lingering()

    def _start_lingering(self) -> None:
        """Half-close after the answer; read and drop the rest for a moment, then close.

        Closing a socket with unread input resets it, and the client may lose the answer.
        """
        self._lingering = True
        self._unset_keepalive_if_required()
        self._cancel_header_timer()
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)


def protocol_class(limits: ServerLimits) -> type[H11Protocol]:
    """A GuardedH11Protocol bound to these limits (uvicorn builds protocols from a class)."""
    return cast(
        "type[H11Protocol]", type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})
    )


def fit_descriptors(limits: ServerLimits) -> str | None:
    """Raise the soft open-files limit so the connection cap fits in it, up to the hard limit.

    When it cannot fit, the cap is lowered; the return value then says so (None: all fits).
    """
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    # A connection is a socket and, while a file is sent, that file.
    needed = 2 * limits.hard_connections + RESERVED_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (ValueError, OSError):
        pass
    if soft >= needed:
        return None
    fits = max(1, (soft - RESERVED_DESCRIPTORS) // 2 * 4 // 5)
    before, limits.max_connections = limits.max_connections, fits
    return (
        f"the open-files limit ({soft}) is too low for ISOMIX_MAX_CONNECTIONS={before}; "
        f"serving at most {fits} connections (raise `ulimit -n` for more)"
    )


def uvicorn_options(settings: Settings) -> tuple[dict[str, Any], str | None]:
    """Keyword arguments for `uvicorn.run`, and a note when the connection cap was lowered."""
    limits = ServerLimits.from_settings(settings)
    note = fit_descriptors(limits)
    options: dict[str, Any] = {
        "http": protocol_class(limits),
        "h11_max_incomplete_event_size": limits.max_header_bytes + READ_SLACK,
        "timeout_keep_alive": 5,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 whatever ISOMIX_TRUSTED_PROXIES
        # says, so a local page could pick its own address for rate limits and the audit
        # trail; api/client_ip.py alone decides whose X-Forwarded-For counts.
        "proxy_headers": False,
    }
    return options, note
