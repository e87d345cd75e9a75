"""What IsoMix asks of the place its files live (`ObjectStore`), whichever it is.

Keys are the data-relative paths of storage.py's layout ("stems/<id>/vocals.flac"); a key
ending in "/" names everything under it. Work happens on local files: a job reads its input
through `local_copy`, writes into `staging` and hands the result over with `put_file` or
`put_tree`, and only then marks its row ready. The API reads through `open_range` and
`read_bytes`, or hands the client a `presigned_url` when the store can serve it directly.
"""

from __future__ import annotations

import abc
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import quote

StoreKind = Literal["file", "sealed", "s3"]


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """`attachment` (or `inline`) with an ASCII fallback and the exact UTF-8 name (RFC 6266 /
    RFC 5987): what the API sends, and what a presigned URL asks the store to send."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in ascii_name)
    fallback = ascii_name or "download"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int  # bytes as stored (sealed files: with their header and tags)
    modified: datetime


class ObjectStore(abc.ABC):
    kind: StoreKind

    @abc.abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The plaintext file of `key` on this machine, when there is one to read directly."""

    @abc.abstractmethod
    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A readable local file with `key`'s bytes for the block (a scratch copy unless the
        store is a plain folder); FileNotFoundError when the key does not exist."""

    @abc.abstractmethod
    def staging(self, parent: str, job_id: str) -> AbstractContextManager[Path]:
        """An empty local folder to write a result in before `put_tree`/`put_file`; whatever
        is left in it when the block ends is removed."""

    @abc.abstractmethod
    def put_file(self, source: Path, key: str, *, media_type: str | None = None) -> int:
        """Store `source` (which is consumed) as `key`, durably; the bytes stored."""

    def put_bytes(self, data: bytes, key: str, *, media_type: str | None = None) -> int:
        """Store `data` as `key`, durably (through a scratch file)."""
        from isomix.objects.scratch import scratch_dir

        with scratch_dir("put") as directory:
            path = directory / "object"
            path.write_bytes(data)
            return self.put_file(path, key, media_type=media_type)

    @abc.abstractmethod
    def put_tree(self, source: Path, prefix: str) -> int:
        """Store every file of the folder `source` (consumed) under `prefix` ("stems/<id>");
        the bytes stored. Only a complete tree is ever visible under a folder store's name."""

    @abc.abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The whole object (small ones: peaks, manifests); FileNotFoundError if missing."""

    @abc.abstractmethod
    def size(self, key: str) -> int | None:
        """The plaintext size of `key`, or None when it does not exist."""

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable (for folder stores, seekable) stream of `key`'s plaintext."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`, or everything under it when it ends with "/"; missing is fine, any
        other failure raises (the caller keeps the deletion to retry)."""

    @abc.abstractmethod
    def listing(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under `prefix` ("" for all)."""

    def presigned_url(
        self, key: str, *, filename: str, media_type: str, expires_in: int, inline: bool = False
    ) -> str | None:
        """A URL the client downloads `key` from directly (Range included), or None when the
        API has to send the bytes itself."""
        return None

    def touch(self, prefix: str) -> None:  # noqa: B027 (a no-op where ages come from writes)
        """Mark `prefix` as recently used, so the orphan sweep leaves it alone."""
