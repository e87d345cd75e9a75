"""Error reports of a real `isomix serve` with ISOMIX_SENTRY_DSN set, read by a tiny ingest
server standing in for Sentry: the error arrives, tagged with its request id, without the
upload's file name, the signed link's signature or the bearer token."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from api.serve_process import serve
from api.support import wav_bytes

FAILING_SERVER = str(Path(__file__).resolve().parents[1] / "helpers" / "failing_upload_server.py")
FILENAME = "Telltale Secret Take 7.wav"  # the helper's upload route fails on this name
SIGNATURE = "SIGTELLTALE123"
TOKEN = "TOKENTELLTALE456"
REQUEST_ID = "sentry-req-0001"
REPORT_SECONDS = 20


class Ingest:
    """Sentry's envelope endpoint: keeps every body it receives, decompressed."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                assert encoding in ("", "gzip"), encoding
                if encoding == "gzip":
                    body = gzip.decompress(body)
                with ingest._lock:
                    ingest.bodies.append(body)
                    ingest.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def received(self) -> bytes:
        with self._lock:
            return b"\n".join(self.bodies)


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    server = Ingest()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join()


def test_a_server_error_is_reported_without_file_name_signature_or_token(
    tmp_path: Path, ingest: Ingest
) -> None:
    env = {
        "ISOMIX_SENTRY_DSN": f"http://publickey@127.0.0.1:{ingest.port}/1",
        "ISOMIX_SENTRY_ENVIRONMENT": "tests",
        "ISOMIX_LOG_FORMAT": "json",
    }
    with serve(tmp_path, env, launcher=(FAILING_SERVER,)) as served:
        response = httpx.post(
            f"{served.base}/api/projects?expires=1700000000&sig={SIGNATURE}",
            files={"file": (FILENAME, wav_bytes(1.0), "audio/wav")},
            data={"model": "demucs_unittest"},
            headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": REQUEST_ID},
            timeout=30,
        )
        assert response.status_code == 500, response.text
        # The SDK sends from a background thread; wait for the error's envelope.
        deadline = time.monotonic() + REPORT_SECONDS
        while b"RuntimeError" not in ingest.received():
            assert time.monotonic() < deadline, f"no report arrived:\n{served.output()}"
            time.sleep(0.1)

    sent = ingest.received()
    assert all(path == "/api/1/envelope/" for path in ingest.paths), ingest.paths
    assert b'"type":"event"' in sent or b'"type": "event"' in sent
    text = sent.decode()
    assert "could not store [file name] at " in text  # the error, its message scrubbed
    assert REQUEST_ID in text  # tagged: the report and the log lines meet
    assert '"environment":"tests"' in text.replace(" ", "")
    for secret in ("Telltale", SIGNATURE, TOKEN):
        at = text.find(secret)
        assert at < 0, f"{secret} reached the report: {text[max(0, at - 300) : at + 60]}"
    # The server's own log line about the error: JSON, with the id, the signature redacted.
    errors = [line for line in served.json_lines() if line.get("exception")]
    assert errors, served.output()
    assert all(line.get("request_id") == REQUEST_ID for line in errors)
    assert SIGNATURE not in served.output() and TOKEN not in served.output()
