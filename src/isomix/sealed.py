"""Sealed files: encryption at rest of the data directory (ISOMIX_ENCRYPTION_KEY).

Envelope encryption: every file has its own random 32-byte data key, stored in the file's
header wrapped (AES-GCM) with the master key; the body is the plaintext in fixed-size chunks,
each sealed with AES-GCM under the data key, so a Range request decrypts only the chunks it
covers. Rotating the master key rewrites only the header (`rewrap`), never the audio.

Layout (big-endian), version 1:

    header, HEADER_SIZE (84) bytes, rewritten in place by `rewrap`:
      0  magic "ISMXSEAL"            8   never the start of an audio file
      8  format version (1)          2
     10  reserved (0)                2
     12  chunk size                  4   plaintext bytes per chunk
     16  key id of the master key    8   `key_id`: names the key, reveals nothing of it
     24  nonce of the wrapped key   12   random
     36  wrapped data key           48   AES-GCM(master, data key), associated data: bytes 0-23
    body: chunks 0..n-1, each AES-GCM(data key) of `chunk size` plaintext bytes (the last one
    1..chunk size bytes; an empty file is one empty chunk) followed by its 16-byte tag.
      nonce: the chunk index (a data key seals one file, once: no nonce is ever reused)
      associated data: the index and whether it is the last chunk, so that chunks moved,
      dropped from the end or appended fail to authenticate.

The plaintext size follows from the file size. `open_sealed` authenticates the last chunk, so
a truncated or extended file fails to open and the size it reports is the written one. What
a sealed file does not carry is its name: swapping two whole sealed files is not detected here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

    from isomix.config import Settings

MAGIC: Final = b"ISMXSEAL"
VERSION: Final = 1
KEY_BYTES: Final = 32
TAG_BYTES: Final = 16
KEY_ID_BYTES: Final = 8
DEFAULT_CHUNK_SIZE: Final = 64 * 1024
MAX_CHUNK_SIZE: Final = 16 * 1024 * 1024

_PREFIX: Final = struct.Struct(">8sHHI8s")  # magic, version, reserved, chunk size, key id
_NONCE_BYTES: Final = 12
_WRAPPED_BYTES: Final = KEY_BYTES + TAG_BYTES
HEADER_SIZE: Final = _PREFIX.size + _NONCE_BYTES + _WRAPPED_BYTES
_CHUNK_AAD: Final = struct.Struct(">QB")  # chunk index, last chunk
# Plaintext bytes handled per file read or write when many chunks are wanted.
_BATCH_BYTES: Final = 1024 * 1024

KEY_VARIABLE: Final = "ISOMIX_ENCRYPTION_KEY"
PREVIOUS_KEYS_VARIABLE: Final = "ISOMIX_PREVIOUS_ENCRYPTION_KEYS"


class SealedFileError(Exception):
    """A file that cannot be opened: not sealed, sealed with a key not configured, the wrong
    key, or damaged (a chunk or the header does not authenticate, the file was cut short)."""


class InvalidKeyError(ValueError):
    """A configured master key that is not 32 bytes in base64. The message names the
    variable, never the value."""


# ---------------------------------------------------------------- keys


def generate_key() -> str:
    """A new master key: 32 random bytes in base64, for ISOMIX_ENCRYPTION_KEY."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """The id a sealed file records for its master key: 8 bytes of a hash, in hex."""
    return hashlib.sha256(b"isomix sealed key id\0" + key).digest()[:KEY_ID_BYTES].hex()


def parse_key(text: str, variable: str = KEY_VARIABLE) -> bytes:
    """A master key from its base64 form (standard or URL-safe alphabet)."""
    cleaned = "".join(text.split()).replace("-", "+").replace("_", "/")
    how = "`isomix keys generate` prints one"
    try:
        key = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKeyError(
            f"{variable} is not base64: a key is {KEY_BYTES} random bytes in base64 ({how})"
        ) from None
    if len(key) != KEY_BYTES:
        raise InvalidKeyError(
            f"{variable} holds {len(key)} bytes: a key is {KEY_BYTES} random bytes in base64 "
            f"({how})"
        )
    return key


class KeyRing:
    """The master keys of this installation: the current one seals and rewraps, the previous
    ones still open files that `isomix keys rotate` has not rewrapped yet. Never prints a key."""

    __slots__ = ("_ciphers", "current_id", "previous_ids")

    def __init__(self, current: bytes, previous: Iterable[bytes] = ()) -> None:
        for key in (current, *previous):
            if len(key) != KEY_BYTES:
                raise InvalidKeyError(f"a master key is {KEY_BYTES} bytes, not {len(key)}")
        self.current_id = key_id(current)
        self._ciphers = {self.current_id: AESGCM(current)}
        previous_ids: list[str] = []
        for key in previous:
            identifier = key_id(key)
            if identifier not in self._ciphers:
                self._ciphers[identifier] = AESGCM(key)
                previous_ids.append(identifier)
        self.previous_ids: tuple[str, ...] = tuple(previous_ids)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing | None:
        """The ring the settings configure; None when ISOMIX_ENCRYPTION_KEY is unset."""
        if not settings.encryption_key:
            return None
        current = parse_key(settings.encryption_key, KEY_VARIABLE)
        previous = [
            parse_key(text, f"{PREVIOUS_KEYS_VARIABLE} (key {number})")
            for number, text in enumerate((settings.previous_encryption_keys or "").split(","), 1)
            if text.strip()
        ]
        return cls(current, previous)

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.current_id, *self.previous_ids)

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._ciphers

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current_id}, previous={list(self.previous_ids)})"

    def _cipher(self, identifier: str) -> AESGCM | None:
        return self._ciphers.get(identifier)


# ---------------------------------------------------------------- the header


class _Header:
    __slots__ = ("chunk_size", "key_id", "nonce", "prefix", "wrapped")

    def __init__(self, raw: bytes, path: object) -> None:
        if len(raw) < len(MAGIC) or raw[: len(MAGIC)] != MAGIC:
            raise SealedFileError(f"{path}: not a sealed file")
        if len(raw) < HEADER_SIZE:
            raise SealedFileError(f"{path}: the sealed file is cut short in its header")
        _magic, version, _reserved, chunk_size, raw_id = _PREFIX.unpack_from(raw)
        if version != VERSION:
            raise SealedFileError(f"{path}: sealed file format {version} is not known here")
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise SealedFileError(f"{path}: the sealed file's header is damaged")
        self.prefix = raw[: _PREFIX.size]
        self.chunk_size: int = chunk_size
        self.key_id: str = raw_id.hex()
        self.nonce = raw[_PREFIX.size : _PREFIX.size + _NONCE_BYTES]
        self.wrapped = raw[_PREFIX.size + _NONCE_BYTES : HEADER_SIZE]

    def data_key(self, keyring: KeyRing, path: object) -> bytes:
        cipher = keyring._cipher(self.key_id)
        if cipher is None:
            raise SealedFileError(
                f"{path}: sealed with key {self.key_id}, which is neither {KEY_VARIABLE} "
                f"nor one of {PREVIOUS_KEYS_VARIABLE}"
            )
        try:
            return cipher.decrypt(self.nonce, self.wrapped, self.prefix)
        except InvalidTag:
            raise SealedFileError(
                f"{path}: key {self.key_id} does not open it: the header is damaged"
            ) from None


def _header(data_key: bytes, chunk_size: int, keyring: KeyRing) -> bytes:
    cipher = keyring._cipher(keyring.current_id)
    assert cipher is not None
    prefix = _PREFIX.pack(MAGIC, VERSION, 0, chunk_size, bytes.fromhex(keyring.current_id))
    nonce = os.urandom(_NONCE_BYTES)
    return prefix + nonce + cipher.encrypt(nonce, data_key, prefix)


def _chunk_nonce(index: int) -> bytes:
    return index.to_bytes(_NONCE_BYTES, "big")


def _chunk_aad(index: int, last: bool) -> bytes:
    return _CHUNK_AAD.pack(index, last)


def _check_chunk_size(chunk_size: int) -> None:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be 1..{MAX_CHUNK_SIZE}, not {chunk_size}")


def is_sealed(path: Path) -> bool:
    """Whether the file starts as a sealed file does (its magic; nothing is checked)."""
    with path.open("rb") as file:
        return file.read(len(MAGIC)) == MAGIC


def sealed_key_id(path: Path) -> str | None:
    """The id of the master key a sealed file's data key is wrapped with; None for a file
    that is not sealed."""
    with path.open("rb") as file:
        raw = file.read(HEADER_SIZE)
    if not raw.startswith(MAGIC):
        return None
    return _Header(raw, path).key_id


# ---------------------------------------------------------------- writing


class SealedWriter:
    """Seals what is written to it into `out`, chunk by chunk, for streams whose size is not
    known in advance. `close` (or leaving the `with` block normally) writes the last chunk;
    without it the file does not open. `out` is left open and not fsynced."""

    def __init__(
        self, out: BinaryIO, keyring: KeyRing, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> None:
        _check_chunk_size(chunk_size)
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        self._out = out
        self._cipher = AESGCM(data_key)
        self._chunk_size = chunk_size
        self._pending = bytearray()  # at most one chunk, held until more follows or close
        self._index = 0
        self._size = 0
        self._closed = False
        out.write(_header(data_key, chunk_size, keyring))

    @property
    def size(self) -> int:
        """Plaintext bytes written so far."""
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, data: Buffer) -> int:
        if self._closed:
            raise ValueError("write to a closed SealedWriter")
        view = memoryview(data).cast("B")
        written = len(view)
        if not written:
            return 0
        chunk = self._chunk_size
        if self._pending:
            room = chunk - len(self._pending)
            if written <= room:
                self._pending += view
                self._size += written
                return written
            self._pending += view[:room]
            view = view[room:]
            self._seal(self._pending, last=False)  # more follows: not the last chunk
            self._pending = bytearray()
        while len(view) > chunk:
            self._seal(view[:chunk], last=False)
            view = view[chunk:]
        self._pending += view
        self._size += written
        return written

    def close(self) -> None:
        """Write the last chunk (once)."""
        if self._closed:
            return
        self._closed = True
        self._seal(self._pending, last=True)
        self._pending = bytearray()

    def abort(self) -> None:
        """Stop without the last chunk: what was written will not open."""
        self._closed = True
        self._pending = bytearray()

    def _seal(self, plaintext: bytes | bytearray | memoryview, *, last: bool) -> None:
        index = self._index
        self._out.write(
            self._cipher.encrypt(_chunk_nonce(index), plaintext, _chunk_aad(index, last))
        )
        self._index = index + 1

    def __enter__(self) -> SealedWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def seal_stream(
    source: BinaryIO, out: BinaryIO, keyring: KeyRing, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> int:
    """Seal everything `source` still holds into `out`; the plaintext bytes sealed."""
    block = max(chunk_size, _BATCH_BYTES // chunk_size * chunk_size)
    with SealedWriter(out, keyring, chunk_size=chunk_size) as writer:
        while data := source.read(block):
            writer.write(data)
    return writer.size


def seal_file(
    source: Path, destination: Path, keyring: KeyRing, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> int:
    """Seal `source` into `destination` (created or replaced, then fsynced; renaming it into
    place is the caller's); the plaintext bytes sealed."""
    with source.open("rb") as data, destination.open("wb") as out:
        size = seal_stream(data, out, keyring, chunk_size=chunk_size)
        out.flush()
        os.fsync(out.fileno())
    return size


# ---------------------------------------------------------------- reading


class SealedReader(io.BufferedIOBase):
    """A sealed file opened for reading: `size` plaintext bytes, `read_range` for the chunks a
    range covers, and a read-only, seekable file object (for PyAV or a streamed response).
    Reads use pread, so `read_range` may run beside the file position."""

    def __init__(self, path: Path, keyring: KeyRing) -> None:
        super().__init__()
        self._fd = -1  # close() may run (from __del__) even if os.open fails
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._open(path, keyring)
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise
        self._position = 0

    def _open(self, path: Path, keyring: KeyRing) -> None:
        self._path = path
        header = _Header(os.pread(self._fd, HEADER_SIZE, 0), path)
        try:
            data_key = header.data_key(keyring, path)
        except SealedFileError:
            # `rewrap` may be rewriting this header right now: read it once more.
            header = _Header(os.pread(self._fd, HEADER_SIZE, 0), path)
            data_key = header.data_key(keyring, path)
        self._cipher = AESGCM(data_key)
        self.key_id = header.key_id
        self.chunk_size = chunk = header.chunk_size
        self._end = os.fstat(self._fd).st_size
        body = self._end - HEADER_SIZE
        stored = chunk + TAG_BYTES
        self._chunks = count = max(1, -(-body // stored))
        last = body - (count - 1) * stored
        if last < TAG_BYTES or (count > 1 and last == TAG_BYTES):
            raise SealedFileError(f"{path}: the sealed file is cut short")
        self._size = (count - 1) * chunk + last - TAG_BYTES
        # Authenticating the last chunk proves the size: nothing was cut off or appended.
        self._cached = (count - 1, self._decrypt(count - 1, self._pread_chunks(count - 1, 1)))

    @property
    def size(self) -> int:
        """Plaintext bytes."""
        return self._size

    @property
    def path(self) -> Path:
        return self._path

    # ------------------------------------------------------------ chunks

    def _pread_chunks(self, first: int, count: int) -> bytes:
        offset = HEADER_SIZE + first * (self.chunk_size + TAG_BYTES)
        wanted = min(count * (self.chunk_size + TAG_BYTES), self._end - offset)
        data = os.pread(self._fd, wanted, offset)
        if len(data) != wanted:
            raise SealedFileError(f"{self._path}: the sealed file was cut short while open")
        return data

    def _decrypt(self, index: int, stored: bytes | memoryview) -> bytes:
        try:
            return self._cipher.decrypt(
                _chunk_nonce(index), stored, _chunk_aad(index, index == self._chunks - 1)
            )
        except InvalidTag:
            raise SealedFileError(
                f"{self._path}: chunk {index} does not authenticate: the file is damaged "
                "or was tampered with"
            ) from None

    def _chunk(self, index: int) -> bytes:
        if self._cached[0] != index:
            self._cached = (index, self._decrypt(index, self._pread_chunks(index, 1)))
        return self._cached[1]

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        """The plaintext bytes start..end-1 (end clamped to the size), in pieces of at most one
        chunk, reading and decrypting only the chunks they lie in."""
        self._check_open()
        if start < 0 or end < start:
            raise ValueError(f"bad range {start}..{end}")
        end = min(end, self._size)
        if start >= end:
            return
        chunk = self.chunk_size
        stored = chunk + TAG_BYTES
        first, last = start // chunk, (end - 1) // chunk
        batch = max(1, _BATCH_BYTES // chunk)
        for group in range(first, last + 1, batch):
            count = min(batch, last + 1 - group)
            if count == 1 and self._cached[0] == group:
                pieces: Sequence[tuple[int, bytes]] = [(group, self._cached[1])]
            else:
                data = memoryview(self._pread_chunks(group, count))
                pieces = [
                    (index, self._decrypt(index, data[(index - group) * stored :][:stored]))
                    for index in range(group, group + count)
                ]
            for index, plaintext in pieces:
                base = index * chunk
                low, high = max(start - base, 0), min(end - base, len(plaintext))
                yield plaintext if (low, high) == (0, len(plaintext)) else plaintext[low:high]

    # ------------------------------------------------------------ file object

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        start = self._position
        end = self._size if size is None or size < 0 else min(start + size, self._size)
        if start >= end:
            return b""
        self._position = end
        index = start // self.chunk_size
        if (end - 1) // self.chunk_size == index:  # within one chunk: keep it for the next read
            base = index * self.chunk_size
            return self._chunk(index)[start - base : end - base]
        return b"".join(self.read_range(start, end))

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed SealedReader")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


def open_sealed(path: Path, keyring: KeyRing) -> SealedReader:
    """Open a sealed file; SealedFileError if it is not one, no key of the ring opens it, or
    it is damaged (its last chunk is checked here, every other one as it is read)."""
    return SealedReader(path, keyring)


def unseal_file(source: Path, destination: Path, keyring: KeyRing) -> int:
    """Write the plaintext of sealed `source` to `destination` (created or replaced, then
    fsynced); the plaintext bytes."""
    with open_sealed(source, keyring) as reader, destination.open("wb") as out:
        for piece in reader.read_range(0, reader.size):
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
        return reader.size


# ---------------------------------------------------------------- rotation


def rewrap(path: Path, keyring: KeyRing, *, dry_run: bool = False) -> bool:
    """Wrap the file's data key with the current master key, rewriting the header in place
    (the chunks stay as they are); False when it already is. With `dry_run`, only check that
    a key of the ring opens it and say whether it would be rewrapped. SealedFileError for a
    file that is not sealed or that no key of the ring opens."""
    fd = os.open(path, (os.O_RDONLY if dry_run else os.O_RDWR) | os.O_CLOEXEC)
    try:
        header = _Header(os.pread(fd, HEADER_SIZE, 0), path)
        if header.key_id == keyring.current_id:
            return False
        data_key = header.data_key(keyring, path)
        if dry_run:
            return True
        replacement = _header(data_key, header.chunk_size, keyring)
        assert len(replacement) == HEADER_SIZE
        if os.pwrite(fd, replacement, 0) != HEADER_SIZE:
            raise OSError(f"{path}: short write of the sealed header")
        os.fsync(fd)
        return True
    finally:
        os.close(fd)
