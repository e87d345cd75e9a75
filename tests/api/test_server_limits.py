"""What one client may hold of a real `isomix serve` (api/server.py, api/guards.py).

Each test talks raw HTTP/1.1 over a socket to a server on 127.0.0.1 with small limits. Loops
are bounded by bytes or steps; a deadline only stops a test that would otherwise hang.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from isomix.commands.serve import browser_url, exposure_warning, is_loopback

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")

STARTUP_SECONDS = 60
MIB = 1024 * 1024
HEADER_TIMEOUT = 2  # seconds, the servers' ISOMIX_HEADER_TIMEOUT and ISOMIX_BODY_TIMEOUT


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def peak_rss_mb(self) -> float:
        """VmHWM: the most memory the server process has held so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(tmp: Path, **settings: object) -> Iterator[Server]:
    data_dir = tmp / "data"
    data_dir.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ISOMIX_")}
    env["ISOMIX_DATA_DIR"] = str(data_dir)
    env["ISOMIX_UI_DIR"] = str(tmp / "no-ui")
    env.update({f"ISOMIX_{name.upper()}": str(value) for name, value in settings.items()})
    port = free_port()
    log_path = tmp / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "isomix", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(port, process, log_path)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, server.log()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(
        tmp_path_factory.mktemp("limits"),
        header_timeout=HEADER_TIMEOUT,
        body_timeout=HEADER_TIMEOUT,
    )


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


def read_answer(sock: socket.socket) -> Answer:
    """One response (Content-Length framed) from the socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of the body"
        body += chunk
    return Answer(int(lines[0].split()[1]), headers, body[:length])


def closed_by_server(sock: socket.socket, wait: float = 10.0) -> bool:
    """True when the server ends the connection (EOF or reset) within `wait` seconds."""
    sock.settimeout(wait)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def answered(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def send_until_answered(sock: socket.socket, head: bytes, chunk: bytes, limit: int) -> int:
    """Send `head`, then `chunk` until the server answers or `limit` bytes went; bytes sent."""
    sock.sendall(head)
    sent = 0
    try:
        while sent < limit and not answered(sock):
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


# --- Head size ---------------------------------------------------------------------------


def test_a_100_mb_header_is_refused_without_buffering_it(server: Server) -> None:
    """Three clients in parallel, each sending up to 100 MiB of one header line."""
    before = server.peak_rss_mb()
    results: list[tuple[int, Answer]] = []

    def one() -> None:
        with server.connect() as sock:
            head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
            sent = send_until_answered(sock, head, b"a" * MIB, 100 * MIB)
            results.append((sent, read_answer(sock)))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == 3
    for _sent, answer in results:
        assert answer.status == 431 and answer.json()["code"] == "headers_too_large"
        assert answer.headers["connection"] == "close"
    growth = server.peak_rss_mb() - before
    print(f"peak RSS {before:.0f} MB -> +{growth:.1f} MB; sent {[s for s, _ in results]}")
    assert growth < 16, f"the server's peak memory grew by {growth:.0f} MB"


def test_a_head_under_the_cap_is_served(server: Server) -> None:
    with server.connect() as sock:
        big = b"a" * 30000
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + big + b"\r\n\r\n")
        assert read_answer(sock).status == 200


# --- Head timeout ------------------------------------------------------------------------


def trickle(sock: socket.socket, byte: bytes, steps: int) -> Answer | None:
    """Send one byte a second (each recv waits a second) until the server answers."""
    sock.settimeout(1.0)
    for _ in range(steps):
        try:
            sock.sendall(byte)
            if sock.recv(1, socket.MSG_PEEK):
                return read_answer(sock)
        except TimeoutError:
            continue
    return None


def test_a_head_sent_one_byte_a_second_is_cut_at_the_timeout(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer = trickle(sock, b"a", 4 * HEADER_TIMEOUT)
        assert answer is not None, "still open after four times the head timeout"
        assert answer.status == 408 and answer.json()["code"] == "request_timeout"
        assert closed_by_server(sock)


def test_an_idle_connection_is_closed_without_a_word(server: Server) -> None:
    with server.connect() as sock:
        sock.settimeout(4 * HEADER_TIMEOUT)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(100) == b""


def test_keep_alive_then_a_slow_head_is_cut_too(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_answer(sock).status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        answer = trickle(sock, b"X", 4 * HEADER_TIMEOUT)
        assert answer is not None and answer.status == 408
        assert closed_by_server(sock)


# --- Bodies ------------------------------------------------------------------------------


def test_a_declared_400_mb_body_is_413_before_it_is_sent(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /api/projects/x/exports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 400000000\r\n\r\n"
        )
        answer = read_answer(sock)
        assert answer.status == 413 and answer.json()["code"] == "too_large"
        assert closed_by_server(sock)


def test_a_streamed_chunked_body_is_cut_at_the_cap(server: Server) -> None:
    before = server.peak_rss_mb()
    with server.connect() as sock:
        head = (
            b"POST /api/projects/x/exports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = b" " * 65536
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        sent = send_until_answered(sock, head, chunk, 400 * MIB)
        answer = read_answer(sock)
        assert answer.status == 413 and answer.json()["code"] == "too_large"
        assert closed_by_server(sock)
    assert sent < 400 * MIB
    growth = server.peak_rss_mb() - before
    print(f"sent {sent / MIB:.1f} MiB before the 413; peak RSS +{growth:.1f} MB")
    assert growth < 16


def test_a_stalled_body_is_408(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /api/projects/x/exports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"format"'
        )
        sock.settimeout(4 * HEADER_TIMEOUT)
        answer = read_answer(sock)
        assert answer.status == 408 and answer.json()["code"] == "request_timeout"
        assert closed_by_server(sock)


def test_an_unread_body_does_not_hold_the_connection(server: Server) -> None:
    """The route answers without the body; the client keeps trickling it: closed anyway."""
    with server.connect() as sock:
        sock.sendall(
            b"POST /api/projects/x/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 1000000\r\n\r\n"
        )
        assert read_answer(sock).status == 404
        sock.settimeout(1.0)
        closed = False
        for _ in range(4 * HEADER_TIMEOUT):
            try:
                sock.sendall(b"a")
                if sock.recv(100) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed


def test_guards_answer_in_json_on_the_real_server(server: Server) -> None:
    host = httpx.get(f"{server.base}/api/config", headers={"Host": "evil.example"})
    assert host.status_code == 400 and host.json()["code"] == "host_not_allowed"
    origin = httpx.delete(
        f"{server.base}/api/projects/x", headers={"Origin": "https://evil.example"}
    )
    assert origin.status_code == 403 and origin.json()["code"] == "cross_origin"
    own = httpx.delete(f"{server.base}/api/projects/x", headers={"Origin": server.base})
    assert own.status_code == 404


# --- Connections -------------------------------------------------------------------------


def test_the_connection_cap_answers_503_and_logs_once(tmp_path: Path) -> None:
    cap = 4  # and past cap + 1, closed at once
    for running in start_server(tmp_path, max_connections=cap, header_timeout=60):
        with contextlib.ExitStack() as sockets:
            for _ in range(cap):  # open connections, each with half a request
                sockets.enter_context(running.connect()).sendall(b"GET /healthz HTTP/1.1\r\n")
            over = sockets.enter_context(running.connect())
            beyond = [sockets.enter_context(running.connect()) for _ in range(2)]
            for sock in beyond:  # past the hard limit: answered and closed unasked
                answer = read_answer(sock)
                assert answer.status == 503 and answer.json()["code"] == "busy"
                assert closed_by_server(sock)
            over.sendall(b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = read_answer(over)
            assert answer.status == 503 and answer.json()["code"] == "busy"
            assert answer.headers["retry-after"] == "5"
            assert closed_by_server(over)
        for _ in range(100):  # the server sees the closes; then it serves again
            if httpx.get(f"{running.base}/api/config", timeout=5).status_code == 200:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("still busy after every connection closed")
        lines = [line for line in running.log().splitlines() if "connection cap reached" in line]
        assert len(lines) == 1, lines  # three refusals, one line a minute
        assert "ISOMIX_MAX_CONNECTIONS=4" in lines[0]


# --- Listening beyond this machine -------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_listening_says_nothing(host: str) -> None:
    assert is_loopback(host)
    assert exposure_warning(host, 8000) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "studio.lan", ""])
def test_listening_beyond_loopback_warns(host: str) -> None:
    warning = exposure_warning(host, 8000)
    assert warning is not None
    assert "anyone who can reach this port can upload" in warning
    assert "ISOMIX_ALLOWED_HOSTS" in warning
    assert "ISOMIX_AUTH_MODE=accounts" in warning
    assert exposure_warning(host, 8000, accounts=True) is None  # every route signs in


def test_the_printed_address_is_one_a_browser_can_open() -> None:
    assert browser_url("0.0.0.0", 8000) == "http://127.0.0.1:8000/"
    assert browser_url("::", 8000) == "http://[::1]:8000/"
    assert browser_url("::1", 9000) == "http://[::1]:9000/"
    assert browser_url("studio.lan", 80) == "http://studio.lan:80/"


def test_serve_refuses_a_bad_allowed_hosts_setting(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ISOMIX_")}
    env.update(ISOMIX_DATA_DIR=str(tmp_path), ISOMIX_ALLOWED_HOSTS="good.example, not a host")
    result = subprocess.run(
        [sys.executable, "-m", "isomix", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "not a host" in result.stderr


def test_the_cap_is_lowered_to_fit_the_open_files_limit() -> None:
    """In a child whose hard open-files limit is 600, 500 connections cannot fit."""
    code = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (600, 600))\n"
        "from isomix.api.server import ServerLimits, fit_descriptors\n"
        "limits = ServerLimits(max_header_bytes=32768, header_timeout=20, max_connections=500)\n"
        "print(fit_descriptors(limits))\n"
        "print(limits.max_connections, limits.hard_connections)\n"
        "fits = ServerLimits(max_header_bytes=32768, header_timeout=20, max_connections=100)\n"
        "print(fit_descriptors(fits), fits.max_connections)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    note, numbers, fitting = result.stdout.splitlines()
    assert "too low for ISOMIX_MAX_CONNECTIONS=500" in note
    cap, hard = map(int, numbers.split())
    assert 2 * hard + 256 <= 600 and cap > 0
    assert fitting == "None 100"
