"""The data directory as the store: plain files (the default, zero-copy), or sealed ones.

Plain: a job stages its result inside the data directory (a `.tmp-<job id>-` name, swept by
the collector once the job's lease is gone) and renames it into place, exactly as before
object storage existed. Sealed (ISOMIX_ENCRYPTION_KEY): a job stages in scratch space outside
the data directory, and every file is sealed (sealed.py) on its way in, so nothing under the
data directory is readable audio.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from isomix import storage
from isomix.objects.base import ObjectStore, StoredObject
from isomix.objects.scratch import scratch_dir

if TYPE_CHECKING:
    from isomix import sealed

COPY_CHUNK = 1 << 20


def _sealed() -> Any:
    """sealed.py, imported only by a store that seals (the cryptography import is not free)."""
    from isomix import sealed

    return sealed


class FileStore(ObjectStore):
    def __init__(self, keyring: sealed.KeyRing | None = None) -> None:
        self.keyring = keyring
        self.kind = "sealed" if keyring is not None else "file"

    # ------------------------------------------------------------ reading

    def local_path(self, key: str) -> Path | None:
        if self.keyring is not None:
            return None
        path = storage.resolve(key)
        return path if path.is_file() else None

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = storage.resolve(key)
        if self.keyring is None:
            if not path.is_file():
                raise FileNotFoundError(key)
            yield path
            return
        with scratch_dir("read") as directory:
            copy = directory / path.name
            _sealed().unseal_file(path, copy, self.keyring)
            yield copy

    def read_bytes(self, key: str) -> bytes:
        path = storage.resolve(key)
        if self.keyring is None:
            return path.read_bytes()
        reader = _sealed().open_sealed(path, self.keyring)
        try:
            return b"".join(reader.read_range(0, reader.size))
        finally:
            reader.close()

    def size(self, key: str) -> int | None:
        path = storage.resolve(key)
        try:
            if self.keyring is None:
                return path.stat().st_size if path.is_file() else None
            if not path.is_file():
                return None
            reader = _sealed().open_sealed(path, self.keyring)
            reader.close()
            return int(reader.size)
        except FileNotFoundError:
            return None

    def open(self, key: str) -> BinaryIO:
        path = storage.resolve(key)
        if self.keyring is None:
            return path.open("rb")
        return cast(BinaryIO, _sealed().open_sealed(path, self.keyring))

    def listing(self, prefix: str) -> Iterator[StoredObject]:
        root = storage.data_root()
        start = storage.resolve(prefix.rstrip("/")) if prefix else root
        if start.is_file():
            candidates: Iterator[Path] = iter([start])
        elif start.is_dir():
            candidates = (path for path in sorted(start.rglob("*")) if path.is_file())
        else:
            return
        for path in candidates:
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                yield StoredObject(
                    key=path.relative_to(root).as_posix(),
                    size=stat.st_size,
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                )

    # ------------------------------------------------------------ writing

    @contextmanager
    def staging(self, parent: str, job_id: str) -> Iterator[Path]:
        if self.keyring is not None:
            with scratch_dir("stage") as directory:
                yield directory
            return
        directory = storage.resolve(parent) / storage.temp_name(job_id)
        directory.mkdir(parents=True)
        try:
            yield directory
        except Exception:
            # A failed job cleans up after itself; a killed one leaves the folder to the
            # collector (its name carries the job id, whose lease tells it is dead).
            storage.remove_tree(directory)
            raise
        storage.remove_tree(directory)  # what put_tree or put_file did not take

    def put_file(self, source: Path, key: str, *, media_type: str | None = None) -> int:
        final = storage.resolve(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        if self.keyring is None:
            size = source.stat().st_size
            try:
                os.replace(source, final)
            except OSError:  # another filesystem: copy through a temporary name
                with storage.atomic_output(final) as out, source.open("rb") as data:
                    shutil.copyfileobj(data, out, COPY_CHUNK)
                source.unlink()
            storage.fsync_dir(final.parent)
            return size
        temporary = final.parent / f".{final.name}.{os.getpid()}.sealing.tmp"
        try:
            _sealed().seal_file(source, temporary, self.keyring)
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        storage.fsync_dir(final.parent)
        source.unlink(missing_ok=True)
        return final.stat().st_size

    def put_tree(self, source: Path, prefix: str) -> int:
        final = storage.resolve(prefix)
        final.parent.mkdir(parents=True, exist_ok=True)
        if self.keyring is None:
            storage.fsync_tree(source)
            size = sum(path.stat().st_size for path in source.iterdir() if path.is_file())
            storage.move_into_place(source, final)
            return size
        # Sealed copies in a temporary folder beside the final one, renamed in as a whole.
        # A fresh id in the scratch name: no lease holds it, so the collector sweeps a folder
        # that a kill left here once it is old.
        temporary = final.parent / storage.temp_name(str(uuid.uuid4()))
        temporary.mkdir()
        try:
            for path in sorted(source.iterdir()):
                if path.is_file():
                    _sealed().seal_file(path, temporary / path.name, self.keyring)
            storage.fsync_tree(temporary)
            size = sum(path.stat().st_size for path in temporary.iterdir())
            storage.move_into_place(temporary, final)
        finally:
            storage.remove_tree(temporary)
        shutil.rmtree(source, ignore_errors=True)
        return size

    def delete(self, key: str) -> None:
        path = storage.resolve(key.rstrip("/"))
        storage.remove(path)

    def touch(self, prefix: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(storage.resolve(prefix.rstrip("/")))
