"""Every refused upload answers its status and code, and leaves nothing on disk or in the DB."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from helpers.crafted_audio import bitrate_lying_mp3

from api.support import SetEnv, files_under, http_scope, row_counts, upload, wav_bytes
from isomix.api.upload import MAX_BOUNDARY_CHARS


def assert_nothing_left(data_dir: Path) -> None:
    assert files_under(data_dir / "projects") == []
    assert row_counts() == {"projects": 0, "stem_sets": 0, "exports": 0}


def id3_hls_polyglot(secret: Path) -> bytes:
    """An ID3 tag (so magic-byte sniffers say audio/mpeg) followed by an HLS playlist that
    points at another file on disk."""
    playlist = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n"
        f"#EXTINF:10.0,\n{secret}\n#EXTINF:10.0,\nfile:{secret}\n#EXT-X-ENDLIST\n"
    ).encode()
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + playlist


def refused(
    client: TestClient, content: bytes, status: int, code: str, data_dir: Path, **fields: str
) -> dict[str, object]:
    got_status, body = upload(client, content, **fields)
    assert (got_status, body.get("code")) == (status, code), body
    assert isinstance(body["detail"], str) and body["detail"]
    assert_nothing_left(data_dir)
    return body


def test_not_audio_is_415(client: TestClient, data_dir: Path) -> None:
    refused(client, b"%PDF-1.7\n" + b"x" * 5000, 415, "unsupported_media", data_dir)
    refused(client, b"just some text, not a song\n" * 100, 415, "unsupported_media", data_dir)


def test_415_says_it_once_and_names_the_formats_the_api_serves(
    client: TestClient, data_dir: Path
) -> None:
    body = refused(client, b"%PDF-1.7\n" + b"x" * 5000, 415, "unsupported_media", data_dir)
    detail = str(body["detail"])
    config = client.get("/api/config").json()
    names = config["accepted_formats"]
    assert names[:3] == ["MP3", "WAV", "FLAC"] and "AIFF" in names
    assert ".mp3" in config["accepted_extensions"] and ".aac" not in config["accepted_extensions"]
    # One sentence, ending with the list /api/config serves to the drop zone.
    assert detail.count(".") == 1
    assert detail.endswith(f"{', '.join(names[:-1])} or {names[-1]}.")


def test_id3_hls_polyglot_is_415_and_reads_no_other_file(
    client: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.wav"
    secret.write_bytes(wav_bytes(1.0))
    refused(client, id3_hls_polyglot(secret), 415, "unsupported_media", data_dir)


def test_truncated_audio_is_422(client: TestClient, data_dir: Path, song: bytes) -> None:
    # The WAV header alone: it promises 2.5 s of samples and holds none.
    refused(client, song[:44], 422, "corrupt_audio", data_dir)


def test_corrupt_audio_is_422(client: TestClient, data_dir: Path) -> None:
    # FLAC magic followed by garbage: an allowed container that does not decode.
    refused(client, b"fLaC" + bytes(range(256)) * 20, 422, "corrupt_audio", data_dir)


def test_empty_file_is_refused(client: TestClient, data_dir: Path) -> None:
    status, body = upload(client, b"")
    assert status in (415, 422) and body["code"] in ("unsupported_media", "corrupt_audio")
    assert_nothing_left(data_dir)


def test_too_long_is_422(client: TestClient, data_dir: Path, song: bytes, set_env: SetEnv) -> None:
    set_env(max_duration_seconds=1.0)
    body = refused(client, song, 422, "too_long", data_dir)
    assert body["detail"] == "Audio is 2.5 s long; the limit is 1 s."


def test_too_long_speaks_in_hours_and_minutes(
    client: TestClient, data_dir: Path, set_env: SetEnv
) -> None:
    set_env(max_duration_seconds=30)
    body = refused(client, wav_bytes(245.0, rate=8000, channels=1), 422, "too_long", data_dir)
    assert body["detail"] == "Audio is 4 min 5 s long; the limit is 30 s."


def test_mp3_claiming_less_than_its_length_is_refused_at_once(
    client: TestClient, data_dir: Path
) -> None:
    """A 64 kbps start, then an hour at 8 kbps: the header says about 18 of the 30 minutes
    allowed; the probe counts the frames and refuses it before any job is queued."""
    body = refused(client, bitrate_lying_mp3(), 422, "too_long", data_dir, filename="x.mp3")
    assert body["detail"] == "Audio is longer than the limit of 30 min."


def test_too_large_is_413_by_content_length(
    client: TestClient, data_dir: Path, song: bytes, set_env: SetEnv
) -> None:
    set_env(max_upload_bytes=1000)
    refused(client, song, 413, "too_large", data_dir)


def test_too_large_is_413_while_streaming_without_content_length(
    client: TestClient, data_dir: Path, set_env: SetEnv
) -> None:
    limit = 200_000
    set_env(max_upload_bytes=limit)
    boundary = "isomix-test-boundary"
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        chunk = b"\0" * 65536
        for _ in range(64):  # 4 MiB, far past the limit
            sent.append(len(chunk))
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/api/projects",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "too_large"
    assert_nothing_left(data_dir)


def test_just_under_the_limit_is_accepted(
    client: TestClient, data_dir: Path, song: bytes, set_env: SetEnv
) -> None:
    set_env(max_upload_bytes=len(song))
    status, body = upload(client, song, model="demucs_unittest")
    assert status == 202, body


def test_known_model_not_installed_is_409_with_install_hint(
    client: TestClient, data_dir: Path, song: bytes
) -> None:
    body = refused(client, song, 409, "model_not_installed", data_dir, model="htdemucs_ft")
    assert "isomix models pull htdemucs_ft" in str(body["detail"])


def test_unknown_model_is_422(client: TestClient, data_dir: Path, song: bytes) -> None:
    refused(client, song, 422, "invalid_options", data_dir, model="no_such_model")


@pytest.mark.parametrize("two_stems", ["guitar", "no_vocals", "VOCALS"])
def test_bad_two_stems_is_422(
    client: TestClient, data_dir: Path, song: bytes, two_stems: str
) -> None:
    refused(
        client, song, 422, "invalid_options", data_dir, model="demucs_unittest", two_stems=two_stems
    )


@pytest.mark.parametrize("shifts", ["-1", "11", "two", "1.5"])
def test_bad_shifts_is_422(client: TestClient, data_dir: Path, song: bytes, shifts: str) -> None:
    refused(client, song, 422, "invalid_options", data_dir, model="demucs_unittest", shifts=shifts)


def test_options_after_the_file_are_checked_too(client: TestClient, data_dir: Path) -> None:
    boundary = "b0undary"
    song = wav_bytes(1.0)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        + song
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n'
            f"htdemucs_6s\r\n--{boundary}--\r\n"
        ).encode()
    )
    response = client.post(
        "/api/projects",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 409 and response.json()["code"] == "model_not_installed"
    assert_nothing_left(data_dir)


def test_missing_file_part_is_422(client: TestClient, data_dir: Path) -> None:
    response = client.post("/api/projects", data={"model": "demucs_unittest"}, files={})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_options"
    assert_nothing_left(data_dir)


def test_unterminated_multipart_body_is_422(client: TestClient, data_dir: Path) -> None:
    boundary = "cut"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    ).encode() + wav_bytes(1.0)
    response = client.post(
        "/api/projects",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 422
    assert_nothing_left(data_dir)


def test_file_names_lose_bidirectional_and_other_controls(client: TestClient) -> None:
    controls = "\u202e\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    status, body = upload(
        client,
        wav_bytes(0.5),
        filename=f"{controls}Song\u202egnp.exe\x85\u2028 (live).wav",
        model="demucs_unittest",
    )
    assert status == 202, body
    assert body["filename"] == "Songgnp.exe (live).wav"
    # Joiners are not controls: an emoji sequence keeps its zero-width joiner.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    status, body = upload(client, wav_bytes(0.6), filename=f"{family}.wav")
    assert (status, body["filename"]) == (202, f"{family}.wav")


def _multipart(boundary: str, *parts: bytes, closing: bool = True) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + (b"--" + boundary.encode() + b"--\r\n" if closing else b"")


def _file_part(content: bytes = b"RIFF", headers: bytes = b"") -> bytes:
    return (
        b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        + headers
        + b"Content-Type: audio/wav\r\n\r\n"
        + content
    )


MALFORMED_BODIES: dict[str, tuple[str, bytes]] = {
    # name: (boundary parameter as sent, body)
    "boundary of 300 characters": ("b" * 300, _multipart("b" * 300, _file_part())),
    "boundary one past RFC 2046's 70": (
        "b" * (MAX_BOUNDARY_CHARS + 1),
        _multipart("b" * (MAX_BOUNDARY_CHARS + 1), _file_part()),
    ),
    "empty boundary": ("", _multipart("", _file_part())),
    "empty quoted boundary": ('""', _multipart("", _file_part())),
    "another boundary in the body": ("xyz", _multipart("abc", _file_part())),
    "no line break after the boundary": ("xyz", b"--xyz" + _file_part()),
    "garbage before the first boundary": ("xyz", b"hello\r\n" + _multipart("xyz", _file_part())),
    "only the closing boundary": ("xyz", b"--xyz--\r\n"),
    "part without a disposition": ("xyz", _multipart("xyz", b"Content-Type: audio/wav\r\n\r\nx")),
    "header line without a colon": ("xyz", _multipart("xyz", b"no colon here\r\n\r\nx")),
    "header line of 8 KB": (
        "xyz",
        _multipart("xyz", _file_part(headers=b"X-Pad: " + b"p" * 8192 + b"\r\n")),
    ),
    "fifty part headers": (
        "xyz",
        _multipart("xyz", _file_part(headers=b"".join(b"X-%d: y\r\n" % n for n in range(50)))),
    ),
    "two files": ("xyz", _multipart("xyz", _file_part(), _file_part())),
    "cut inside the part headers": ("xyz", b'--xyz\r\nContent-Disposition: form-data; name="fi'),
    "no closing boundary": ("xyz", _multipart("xyz", _file_part(wav_bytes(0.2)), closing=False)),
    "seventeen form fields": (
        "xyz",
        _multipart(
            "xyz",
            *(b'Content-Disposition: form-data; name="f%d"\r\n\r\nv' % n for n in range(17)),
            _file_part(),
        ),
    ),
}


@pytest.mark.parametrize("case", MALFORMED_BODIES, ids=list(MALFORMED_BODIES))
def test_malformed_multipart_is_a_4xx_in_the_error_shape(
    client: TestClient, data_dir: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    boundary, body = MALFORMED_BODIES[case]
    caplog.set_level(logging.DEBUG)
    response = client.post(
        "/api/projects",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert 400 <= response.status_code < 500, response.text
    answer = response.json()
    assert set(answer) == {"detail", "code"}, answer
    assert isinstance(answer["detail"], str) and len(answer["detail"]) < 200
    assert answer["code"] == "invalid_options"
    assert_nothing_left(data_dir)
    # Refused, not crashed: no traceback and nothing at ERROR in the log.
    assert [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ] == []


@pytest.mark.parametrize("charset", ["base64", "zlib", "rot13", "utf-8\0", "no-such-charset"])
def test_a_charset_that_is_no_text_encoding_falls_back_to_utf8(
    client: TestClient, charset: str
) -> None:
    name = "Ünïcode.wav".encode()
    body = _multipart(
        "xyz",
        b'Content-Disposition: form-data; name="model"\r\n\r\ndemucs_unittest',
        b'Content-Disposition: form-data; name="file"; filename="' + name + b'"\r\n\r\n'
        + wav_bytes(0.3),
    )  # fmt: skip
    response = client.post(
        "/api/projects",
        content=body,
        headers={"Content-Type": f'multipart/form-data; charset="{charset}"; boundary=xyz'},
    )
    assert response.status_code == 202, response.text
    assert response.json()["filename"] == "Ünïcode.wav"


def test_user_file_name_never_reaches_a_path(client: TestClient, data_dir: Path) -> None:
    status, body = upload(
        client, wav_bytes(1.0), filename="../../etc/évil.mp3", model="demucs_unittest"
    )
    assert status == 202, body
    assert body["filename"] == "évil.mp3"  # data only; the stored file is named by content
    stored = files_under(data_dir / "projects")
    assert [path.name for path in stored] == ["original.wav"]
    assert stored[0].parent.name == body["id"]


def test_oversized_stream_is_cut_off_without_reading_the_rest(
    client: TestClient, data_dir: Path, set_env: SetEnv
) -> None:
    """At the ASGI level: a chunked body that never ends gets its 413 after about `limit`
    bytes were read, so a huge upload neither fills the disk nor sits in memory."""
    limit = 256 * 1024
    set_env(max_upload_bytes=limit)
    app = client.app
    boundary = "endless"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n\r\n'
    ).encode()
    chunk = b"\1" * 65536
    received = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        body = head if received == 1 else chunk
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = http_scope(
        "POST",
        "/api/projects",
        [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())],
    )
    anyio.run(app, scope, receive, send)  # type: ignore[arg-type]
    start = next(message for message in messages if message["type"] == "http.response.start")
    assert start["status"] == 413
    assert received <= limit // len(chunk) + 2
    assert_nothing_left(data_dir)
