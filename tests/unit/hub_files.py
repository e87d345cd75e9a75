"""Model files in the hub's format, and a local stand-in for the hub to pull them from."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch
from demucs.htdemucs import HTDemucs
from helpers.models import SMALL_HTDEMUCS_KWARGS, SOURCES
from safetensors.torch import save_file


def _encode_json(value: Any) -> Any:
    # What demucs' tools/export_hf.py writes for init arguments (see demucs.hf._decode_json).
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    if isinstance(value, dict):
        return {key: _encode_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_json(item) for item in value]
    return value


def write_hub_safetensors(path: Path, *, seed: int = 0) -> HTDemucs:
    """A small HTDemucs saved in the hub format: state tensors + klass/args/kwargs metadata."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HTDemucs(sources=list(SOURCES), **SMALL_HTDEMUCS_KWARGS)
    args, kwargs = model._init_args_kwargs
    tensors = {key: value.contiguous() for key, value in model.state_dict().items()}
    metadata = {
        "klass": "demucs.htdemucs.HTDemucs",
        "args": json.dumps(_encode_json(list(args))),
        "kwargs": json.dumps(_encode_json(kwargs)),
    }
    save_file(tensors, str(path), metadata=metadata)
    return model


class FakeHub:
    """Answers `HEAD/GET /<repo>/resolve/<revision>/<file>` like the HuggingFace hub: commit,
    ETag (the sha256 for large files, as LFS files have) and size headers."""

    # How long a held download waits at most (a bound for a test that forgets to release it).
    HOLD_LIMIT_SECONDS = 60.0

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.requests: list[str] = []
        self.holds: dict[str, threading.Event] = {}

    def add(self, repo: str, filename: str, content: bytes, *, etag: str | None = None) -> None:
        self.files[f"/{repo}/resolve/main/{filename}"] = content
        if etag is not None:
            self.etags[f"/{repo}/resolve/main/{filename}"] = etag

    def hold(self, repo: str, filename: str) -> threading.Event:
        """Make GETs of that file wait until the returned event is set (HEADs still answer)."""
        event = self.holds[f"/{repo}/resolve/main/{filename}"] = threading.Event()
        return event

    @contextmanager
    def serve(self) -> Iterator[str]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, *, body: bool) -> None:
                path = self.path.split("?", 1)[0]
                hub.requests.append(f"{self.command} {path}")
                content = hub.files.get(path)
                if content is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                held = hub.holds.get(path)
                if body and held is not None:
                    held.wait(hub.HOLD_LIMIT_SECONDS)
                etag = hub.etags.get(path, hashlib.sha256(content).hexdigest())
                self.send_response(200)
                self.send_header("X-Repo-Commit", "0" * 40)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if body:
                    self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            for held in hub.holds.values():
                held.set()
            server.shutdown()
            server.server_close()
            thread.join()
