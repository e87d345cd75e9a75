"""Every request's id: the client's (or nginx's) `X-Request-ID` when it is well-formed, else
a new one; in the logs' context for every line about the request, on the rows of the jobs it
creates (so the worker's lines carry it too), tagged on its error reports, and sent back as
the `X-Request-ID` response header.

A client's id is taken only as 8 to 64 characters of `[A-Za-z0-9._-]`: it is written into
log lines and a 64-character column, so nothing else (spaces, quotes, newlines) gets in.
Pure ASGI: the response streams through untouched but for the one header.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isomix import errortracking, logs

HEADER: Final = "X-Request-ID"
_WELL_FORMED: Final = re.compile(r"[A-Za-z0-9._-]{8,64}")


def accepted(value: str | None) -> str | None:
    """The client's id if it may be used as it is."""
    if value is not None and _WELL_FORMED.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name.lower() == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = accepted(given) or new_request_id()
        logs.set_request_id(request_id)
        errortracking.tag(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
