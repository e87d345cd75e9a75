"""`isomix serve`'s uvicorn leaves X-Forwarded-For to api/client_ip.py: a client on
loopback cannot choose the address the application sees."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn
from integration.conftest import free_port
from starlette.types import Receive, Scope, Send

from isomix.api.server import uvicorn_options
from isomix.config import get_settings


async def echo_client(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    body = str(scope["client"][0]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_a_forwarded_for_header_from_loopback_does_not_change_the_peer() -> None:
    options, _note = uvicorn_options(get_settings())
    port = free_port()
    config = uvicorn.Config(
        echo_client, host="127.0.0.1", port=port, log_config=None, lifespan="off", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        answer = httpx.get(f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert answer.text == "127.0.0.1"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
