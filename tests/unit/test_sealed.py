"""Sealed files (encryption at rest): round trips, ranges, tampering, wrong keys, rewrapping."""

from __future__ import annotations

import base64
import io
import os
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isomix import sealed
from isomix.audio.errors import AudioError
from isomix.audio.formats import detect_container
from isomix.config import Settings
from isomix.sealed import (
    HEADER_SIZE,
    TAG_BYTES,
    InvalidKeyError,
    KeyRing,
    SealedFileError,
    SealedWriter,
    open_sealed,
    rewrap,
    seal_file,
    seal_stream,
    unseal_file,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
CHUNK = 100  # small chunks: many of them in few bytes
STORED = CHUNK + TAG_BYTES
RING_A = KeyRing(KEY_A)


def seal_bytes(
    path: Path, plaintext: bytes, keyring: KeyRing = RING_A, chunk_size: int = CHUNK
) -> Path:
    with path.open("wb") as out:
        assert seal_stream(io.BytesIO(plaintext), out, keyring, chunk_size=chunk_size) == len(
            plaintext
        )
    return path


def read_all(path: Path, keyring: KeyRing = RING_A) -> bytes:
    with open_sealed(path, keyring) as reader:
        return b"".join(reader.read_range(0, reader.size))


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("size", "chunk_size"),
    [
        (0, CHUNK),
        (1, CHUNK),
        (CHUNK - 1, CHUNK),
        (CHUNK, CHUNK),
        (CHUNK + 1, CHUNK),
        (3 * CHUNK, CHUNK),
        (0, sealed.DEFAULT_CHUNK_SIZE),
        (sealed.DEFAULT_CHUNK_SIZE, sealed.DEFAULT_CHUNK_SIZE),
        (3 * 1024 * 1024 + 17, sealed.DEFAULT_CHUNK_SIZE),
    ],
)
def test_round_trip(tmp_path: Path, size: int, chunk_size: int) -> None:
    plaintext = os.urandom(size)
    source = tmp_path / "plain"
    source.write_bytes(plaintext)
    assert seal_file(source, tmp_path / "sealed", RING_A, chunk_size=chunk_size) == size
    chunks = max(1, -(-size // chunk_size))
    assert (tmp_path / "sealed").stat().st_size == HEADER_SIZE + size + chunks * TAG_BYTES
    with open_sealed(tmp_path / "sealed", RING_A) as reader:
        assert reader.size == size
        assert reader.key_id == RING_A.current_id
        assert b"".join(reader.read_range(0, size)) == plaintext
        assert reader.read() == plaintext
    assert unseal_file(tmp_path / "sealed", tmp_path / "back", RING_A) == size
    assert (tmp_path / "back").read_bytes() == plaintext


def test_a_data_key_per_file(tmp_path: Path) -> None:
    plaintext = b"the same song" * 50
    first = seal_bytes(tmp_path / "one", plaintext).read_bytes()
    second = seal_bytes(tmp_path / "two", plaintext).read_bytes()
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]
    assert read_all(tmp_path / "one") == read_all(tmp_path / "two") == plaintext


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pieces")


@settings(max_examples=60, deadline=None)
@given(
    plaintext=st.binary(max_size=5 * CHUNK),
    pieces=st.lists(st.integers(min_value=0, max_value=3 * CHUNK), max_size=12),
)
def test_writer_in_pieces_equals_the_whole(
    workdir: Path, plaintext: bytes, pieces: list[int]
) -> None:
    out = io.BytesIO()
    with SealedWriter(out, RING_A, chunk_size=CHUNK) as writer:
        position = 0
        for piece in [*pieces, len(plaintext)]:
            part = plaintext[position : position + piece]
            assert writer.write(bytearray(part)) == len(part)
            position += len(part)
    assert writer.size == len(plaintext)
    stored = out.getvalue()
    chunks = max(1, -(-len(plaintext) // CHUNK))
    assert len(stored) == HEADER_SIZE + len(plaintext) + chunks * TAG_BYTES
    path = workdir / "pieces"
    path.write_bytes(stored)
    assert read_all(path) == plaintext


def test_a_writer_left_by_an_error_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "broken"
    with path.open("wb") as out:
        writer = SealedWriter(out, RING_A, chunk_size=CHUNK)
        with pytest.raises(RuntimeError), writer:
            writer.write(os.urandom(5 * CHUNK))
            raise RuntimeError("client left")
    with pytest.raises(SealedFileError):
        open_sealed(path, RING_A)
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")


# ---------------------------------------------------------------- ranges and the file object

PLAINTEXT = os.urandom(7 * CHUNK + 37)


@pytest.fixture(scope="module")
def sealed_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seal_bytes(tmp_path_factory.mktemp("sealed") / "song", PLAINTEXT)


@pytest.fixture(scope="module")
def reader(sealed_path: Path) -> Iterator[sealed.SealedReader]:
    with open_sealed(sealed_path, RING_A) as opened:
        yield opened


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=len(PLAINTEXT) + 50),
    length=st.integers(min_value=0, max_value=len(PLAINTEXT) + 50),
)
def test_read_range_is_the_slice(reader: sealed.SealedReader, start: int, length: int) -> None:
    pieces = list(reader.read_range(start, start + length))
    assert b"".join(pieces) == PLAINTEXT[start : start + length]
    assert all(0 < len(piece) <= CHUNK for piece in pieces)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(min_value=-1, max_value=3 * CHUNK)),
        st.tuples(st.just("seek0"), st.integers(min_value=0, max_value=len(PLAINTEXT) + 20)),
        st.tuples(st.just("seek1"), st.integers(min_value=-CHUNK, max_value=2 * CHUNK)),
        st.tuples(st.just("seek2"), st.integers(min_value=-len(PLAINTEXT), max_value=10)),
        st.tuples(st.just("readinto"), st.integers(min_value=0, max_value=2 * CHUNK)),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations)
def test_file_object_behaves_like_bytesio(sealed_path: Path, steps: list[tuple[str, int]]) -> None:
    expected = io.BytesIO(PLAINTEXT)
    with open_sealed(sealed_path, RING_A) as actual:
        assert actual.readable() and actual.seekable() and not actual.writable()
        for operation, value in steps:
            if operation == "read":
                assert actual.read(value) == expected.read(value)
            elif operation == "readinto":
                mine, theirs = bytearray(value), bytearray(value)
                assert actual.readinto(mine) == expected.readinto(theirs)
                assert mine == theirs
            else:
                whence = int(operation[-1])
                if expected.tell() + value < 0 and whence == 1:
                    continue
                assert actual.seek(value, whence) == expected.seek(value, whence)
            assert actual.tell() == expected.tell()
    assert actual.closed
    with pytest.raises(ValueError, match="closed"):
        actual.read(1)


def test_a_reader_has_no_file_descriptor_to_bypass_it(reader: sealed.SealedReader) -> None:
    with pytest.raises(io.UnsupportedOperation):
        reader.fileno()


def test_pyav_decodes_a_sealed_wav(tmp_path: Path) -> None:
    import av

    plain = tmp_path / "tone.wav"
    with wave.open(str(plain), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(os.urandom(4 * 44100))
    seal_file(plain, tmp_path / "tone.sealed", RING_A)
    with (
        open_sealed(tmp_path / "tone.sealed", RING_A) as source,
        av.open(source, format="wav") as container,
    ):
        frames = sum(frame.samples for frame in container.decode(audio=0))
    assert frames == 44100


# ---------------------------------------------------------------- the magic


AUDIO_STARTS = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"ID3", b"OggS", b"FORM", b"\x1a\x45\xdf\xa3")


@pytest.mark.parametrize("plaintext", [b"", b"RIFF\0\0\0\0WAVEfmt ", b"fLaC" + bytes(300)])
def test_a_sealed_file_never_looks_like_audio(tmp_path: Path, plaintext: bytes) -> None:
    path = seal_bytes(tmp_path / "file", plaintext)
    head = path.read_bytes()[:12]
    assert head.startswith(sealed.MAGIC)
    assert not head.startswith(AUDIO_STARTS)
    assert head[0] != 0xFF  # MPEG audio frame sync (0xFFFB, 0xFFF3, ...)
    assert head[4:8] != b"ftyp"
    with pytest.raises(AudioError):
        detect_container(path)
    assert sealed.is_sealed(path)
    assert sealed.sealed_key_id(path) == RING_A.current_id


def test_a_plain_file_is_not_sealed(tmp_path: Path) -> None:
    path = tmp_path / "plain.wav"
    path.write_bytes(b"RIFF" + bytes(100))
    assert not sealed.is_sealed(path)
    assert sealed.sealed_key_id(path) is None
    with pytest.raises(SealedFileError, match="not a sealed file"):
        open_sealed(path, RING_A)
    (tmp_path / "empty").write_bytes(b"")
    assert not sealed.is_sealed(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        open_sealed(tmp_path / "missing", RING_A)


# ---------------------------------------------------------------- wrong keys and tampering


def test_a_wrong_key_is_an_error(tmp_path: Path) -> None:
    path = seal_bytes(tmp_path / "song", PLAINTEXT)
    with pytest.raises(SealedFileError, match="sealed with key"):
        open_sealed(path, KeyRing(KEY_B))
    # The wrong key under the right key's id: the wrapped key does not authenticate.
    forged = bytearray(path.read_bytes())
    forged[16:24] = bytes.fromhex(KeyRing(KEY_B).current_id)
    path.write_bytes(forged)
    with pytest.raises(SealedFileError, match="does not open it"):
        open_sealed(path, KeyRing(KEY_B))


def tampered(path: Path, edit: bytes) -> Path:
    path.write_bytes(edit)
    return path


def chunks_of(stored: bytes) -> list[bytes]:
    body = stored[HEADER_SIZE:]
    return [body[offset : offset + STORED] for offset in range(0, len(body), STORED)]


def flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_a_flipped_byte_in_a_chunk_is_an_error(tmp_path: Path) -> None:
    original = seal_bytes(tmp_path / "song", PLAINTEXT).read_bytes()
    path = tampered(tmp_path / "song", flip(original, HEADER_SIZE + 2 * STORED + 7))
    with open_sealed(path, RING_A) as reader:
        assert b"".join(reader.read_range(0, 2 * CHUNK)) == PLAINTEXT[: 2 * CHUNK]
        with pytest.raises(SealedFileError, match="chunk 2 does not authenticate"):
            b"".join(reader.read_range(0, reader.size))
        reader.seek(2 * CHUNK + 5)
        with pytest.raises(SealedFileError):
            reader.read(1)
    with pytest.raises(SealedFileError):
        unseal_file(path, tmp_path / "out", RING_A)


def test_a_flipped_tag_of_the_last_chunk_fails_at_open(tmp_path: Path) -> None:
    original = seal_bytes(tmp_path / "song", PLAINTEXT).read_bytes()
    with pytest.raises(SealedFileError):
        open_sealed(tampered(tmp_path / "song", flip(original, len(original) - 1)), RING_A)


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (40, "does not open it"),  # the wrapped data key
        (30, "does not open it"),  # its nonce
        (14, "does not open it"),  # the chunk size, bound to the wrapped key
        (20, "sealed with key"),  # the key id
        (9, "format"),  # the version
        (0, "not a sealed file"),  # the magic
    ],
)
def test_a_flipped_byte_in_the_header_is_an_error(
    tmp_path: Path, position: int, message: str
) -> None:
    original = seal_bytes(tmp_path / "song", PLAINTEXT).read_bytes()
    with pytest.raises(SealedFileError, match=message):
        open_sealed(tampered(tmp_path / "song", flip(original, position)), RING_A)


def reassembled(original: bytes, chunks: list[bytes]) -> bytes:
    return original[:HEADER_SIZE] + b"".join(chunks)


def test_swapped_chunks_are_an_error(tmp_path: Path) -> None:
    original = seal_bytes(tmp_path / "song", PLAINTEXT).read_bytes()
    chunks = chunks_of(original)
    chunks[1], chunks[2] = chunks[2], chunks[1]
    path = tampered(tmp_path / "song", reassembled(original, chunks))
    with open_sealed(path, RING_A) as reader, pytest.raises(SealedFileError, match="chunk 1"):
        reader.read()


@pytest.mark.parametrize("plaintext", [PLAINTEXT, os.urandom(4 * CHUNK)])
def test_dropping_the_last_chunk_is_an_error(tmp_path: Path, plaintext: bytes) -> None:
    original = seal_bytes(tmp_path / "song", plaintext).read_bytes()
    chunks = chunks_of(original)
    with pytest.raises(SealedFileError):
        open_sealed(tampered(tmp_path / "song", reassembled(original, chunks[:-1])), RING_A)
    with pytest.raises(SealedFileError, match="cut short"):
        open_sealed(tampered(tmp_path / "song", original[:HEADER_SIZE]), RING_A)
    with pytest.raises(SealedFileError):
        open_sealed(tampered(tmp_path / "song", original[:-3]), RING_A)
    with pytest.raises(SealedFileError, match="cut short"):
        open_sealed(tampered(tmp_path / "song", original[: HEADER_SIZE - 1]), RING_A)


def test_appending_is_an_error(tmp_path: Path) -> None:
    original = seal_bytes(tmp_path / "song", PLAINTEXT).read_bytes()
    chunks = chunks_of(original)
    for extended in (
        reassembled(original, [*chunks, chunks[-1]]),
        reassembled(original, [*chunks, chunks[0]]),
        original + bytes(TAG_BYTES),
        original + b"x",
    ):
        with pytest.raises(SealedFileError):
            open_sealed(tampered(tmp_path / "song", extended), RING_A)


def test_an_empty_file_cannot_lose_its_only_chunk(tmp_path: Path) -> None:
    original = seal_bytes(tmp_path / "empty", b"").read_bytes()
    assert len(original) == HEADER_SIZE + TAG_BYTES
    with pytest.raises(SealedFileError, match="cut short"):
        open_sealed(tampered(tmp_path / "empty", original[:HEADER_SIZE]), RING_A)


# ---------------------------------------------------------------- rotation


def test_rewrap_rewrites_only_the_header(tmp_path: Path) -> None:
    path = seal_bytes(tmp_path / "song", PLAINTEXT)
    before = path.read_bytes()
    rotated = KeyRing(KEY_B, [KEY_A])
    assert rewrap(path, rotated, dry_run=True) is True
    assert path.read_bytes() == before
    assert rewrap(path, rotated) is True
    after = path.read_bytes()
    assert len(after) == len(before)
    assert after[HEADER_SIZE:] == before[HEADER_SIZE:]  # the audio chunks, byte for byte
    assert after[:HEADER_SIZE] != before[:HEADER_SIZE]
    assert sealed.sealed_key_id(path) == rotated.current_id
    assert read_all(path, KeyRing(KEY_B)) == PLAINTEXT  # the old key is no longer needed
    with pytest.raises(SealedFileError):
        open_sealed(path, RING_A)
    assert rewrap(path, rotated) is False
    assert rewrap(path, KeyRing(KEY_B)) is False
    assert path.read_bytes() == after


def test_rewrap_of_a_file_no_key_opens_changes_nothing(tmp_path: Path) -> None:
    path = seal_bytes(tmp_path / "song", PLAINTEXT)
    before = path.read_bytes()
    unrelated = KeyRing(KEY_B, [bytes(32)])
    for dry_run in (True, False):
        with pytest.raises(SealedFileError, match="sealed with key"):
            rewrap(path, unrelated, dry_run=dry_run)
    assert path.read_bytes() == before
    with pytest.raises(SealedFileError, match="not a sealed file"):
        rewrap(tampered(tmp_path / "plain", b"RIFF" + bytes(200)), unrelated)


# ---------------------------------------------------------------- keys


def settings_with(**values: str | None) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_keyring_from_settings() -> None:
    assert KeyRing.from_settings(settings_with(encryption_key=None)) is None
    assert KeyRing.from_settings(settings_with(encryption_key="")) is None
    current, old = sealed.generate_key(), sealed.generate_key()
    assert len(base64.b64decode(current)) == 32 and current != old
    ring = KeyRing.from_settings(
        settings_with(encryption_key=current, previous_encryption_keys=f" {old} ,, {current}")
    )
    assert ring is not None
    assert ring.current_id == sealed.key_id(base64.b64decode(current))
    assert ring.previous_ids == (sealed.key_id(base64.b64decode(old)),)
    assert ring.ids == (ring.current_id, *ring.previous_ids)
    assert current not in repr(ring) and old not in repr(ring)
    urlsafe = base64.urlsafe_b64encode(KEY_A).decode()
    assert sealed.parse_key(urlsafe) == KEY_A


@pytest.mark.parametrize(
    ("values", "variable", "why"),
    [
        ({"encryption_key": "not base64!"}, "ISOMIX_ENCRYPTION_KEY", "not base64"),
        (
            {"encryption_key": base64.b64encode(b"short-secret-key").decode()},
            "ISOMIX_ENCRYPTION_KEY",
            "holds 16 bytes",
        ),
        (
            {
                "encryption_key": base64.b64encode(KEY_A).decode(),
                "previous_encryption_keys": f"{base64.b64encode(KEY_B).decode()},c2VjcmV0",
            },
            r"ISOMIX_PREVIOUS_ENCRYPTION_KEYS \(key 2\)",
            "holds 6 bytes",
        ),
    ],
)
def test_a_malformed_key_names_its_variable_not_its_value(
    values: dict[str, str], variable: str, why: str
) -> None:
    with pytest.raises(InvalidKeyError, match=f"{variable}.*{why}") as raised:
        KeyRing.from_settings(settings_with(**values))
    message = str(raised.value)
    for value in values.values():
        for secret in value.split(","):
            assert secret not in message
    assert "isomix keys generate" in message


def test_readers_open_while_rotate_rewrites_the_header(tmp_path: Path) -> None:
    path = seal_bytes(tmp_path / "song", PLAINTEXT)
    rings = (KeyRing(KEY_B, [KEY_A]), KeyRing(KEY_A, [KEY_B]))
    stop = threading.Event()

    def rotate() -> None:
        turn = 0
        while not stop.is_set():
            rewrap(path, rings[turn % 2])
            turn += 1

    rotator = threading.Thread(target=rotate)
    rotator.start()
    try:
        for _ in range(200):
            assert read_all(path, rings[0]) == PLAINTEXT
    finally:
        stop.set()
        rotator.join()
