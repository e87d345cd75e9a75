"""The growing WAV of a running separation: header, Range answers, body."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient

from isomix.api.errors import install_error_handlers
from isomix.api.partial_audio import (
    HEADER_BYTES,
    RangeNotSatisfiableError,
    byte_range,
    wav_header,
    wav_response,
)

RATE = 44100


@pytest.mark.parametrize("frames", [0, 1, 44100, 12345])
def test_header_is_canonical_and_reads_back(frames: int) -> None:
    header = wav_header(frames, RATE)
    assert len(header) == HEADER_BYTES
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt " and header[36:40] == b"data"
    assert int.from_bytes(header[4:8], "little") == 36 + 4 * frames
    assert int.from_bytes(header[40:44], "little") == 4 * frames
    with wave.open(io.BytesIO(header + bytes(4 * frames))) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (2, 2)
        assert (reader.getframerate(), reader.getnframes()) == (RATE, frames)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 99)),
        ("bytes=44-", (44, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=10-1000", (10, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-1000", (0, 99)),
        ("Bytes = 5-6", (5, 6)),
        # Ignored (the whole body): other units, several ranges, malformed, reversed.
        ("items=0-1", None),
        ("bytes=0-1,5-6", None),
        ("bytes=a-", None),
        ("bytes=5", None),
        ("bytes=-", None),
        ("bytes=9-3", None),
    ],
)
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-160", "bytes=-0"])
def test_ranges_past_the_end_are_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        byte_range(header, 100)


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    """An app serving the first 1000 frames of a 1500-frame PCM file."""
    pcm = tmp_path / "vocals.pcm"
    samples = (np.arange(1500 * 2) % 30000).astype("<i2")
    pcm.write_bytes(samples.tobytes())
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/wav")
    def serve(request: Request) -> Response:
        return wav_response(
            pcm.open("rb"),
            frames=1000,
            sample_rate=RATE,
            range_header=request.headers.get("range"),
        )

    return TestClient(app)


def _expected_body() -> bytes:
    samples = (np.arange(1000 * 2) % 30000).astype("<i2")
    return wav_header(1000, RATE) + samples.tobytes()


def test_whole_body_is_a_valid_wav_of_the_frames_announced(client: TestClient) -> None:
    response = client.get("/wav")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == _expected_body()
    assert int(response.headers["content-length"]) == HEADER_BYTES + 4000
    with wave.open(io.BytesIO(response.content)) as reader:
        assert reader.getnframes() == 1000
        frames = np.frombuffer(reader.readframes(1000), "<i2")
    assert np.array_equal(frames, np.arange(2000) % 30000)


def test_range_from_what_the_client_holds(client: TestClient) -> None:
    body = _expected_body()
    start = HEADER_BYTES + 4 * 600
    response = client.get("/wav", headers={"Range": f"bytes={start}-"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{len(body) - 1}/{len(body)}"
    assert response.content == body[start:]
    middle = client.get("/wav", headers={"Range": "bytes=40-47"})
    assert middle.status_code == 206 and middle.content == body[40:48]


def test_range_past_the_end_is_416_with_the_length(client: TestClient) -> None:
    total = HEADER_BYTES + 4000
    response = client.get("/wav", headers={"Range": f"bytes={total}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{total}"
    assert response.json()["code"] == "range_not_satisfiable"
