"""File layout under the data directory: streamed uploads, safe joins, deletion.

Paths stored in the database are relative to settings.data_dir; `resolve` turns them into
real paths and refuses anything that would leave the data directory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

from isomix.config import get_settings

UPLOAD_TEMP_NAME = "original.upload"


class UploadTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"The file is larger than the limit of {format_bytes(limit)}.")


def format_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def data_root() -> Path:
    return get_settings().data_dir.resolve()


def resolve(rel: str | Path) -> Path:
    """The real path of a data-relative path; ValueError if it points outside the data dir."""
    root = data_root()
    path = (root / rel).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"path {str(rel)!r} is outside the data directory")
    return path


def project_rel_dir(project_id: str) -> str:
    return f"projects/{project_id}"


def stem_rel_path(stem_set_directory: str, stem: str, extension: str) -> str:
    return f"{stem_set_directory}/{stem}.{extension}"


class UploadWriter:
    """Writes an upload to projects/<id>/original.upload, counting bytes and hashing as it goes.

    Nothing but the file's bytes passes through memory, one chunk at a time; past `limit` bytes
    it raises UploadTooLargeError. Call `discard()` on every failure path.
    """

    def __init__(self, project_id: str, limit: int) -> None:
        self.project_id = project_id
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self.directory = resolve(project_rel_dir(project_id))
        self.directory.mkdir(parents=True, exist_ok=False)
        self.path = self.directory / UPLOAD_TEMP_NAME
        self._file: BinaryIO | None = self.path.open("wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise UploadTooLargeError(self.limit)
        self._hash.update(chunk)
        assert self._file is not None, "write after close"
        self._file.write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def finalize(self, extension: str) -> str:
        """Rename to original.<extension> (detected from content, never from the user's name)."""
        if not extension.isascii() or not extension.isalnum():
            raise ValueError(f"bad extension {extension!r}")
        self.close()
        final = self.directory / f"original.{extension.lower()}"
        self.path.rename(final)
        self.path = final
        _fsync_directory(self.directory)
        return final.relative_to(data_root()).as_posix()

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self.directory, ignore_errors=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def delete_tree(rel: str) -> None:
    """Remove a data-relative directory and everything in it; missing is fine.

    Renamed to a `.trash-` name first, so the real name vanishes at once and a kill half-way
    leaves only trash that the cleanup sweeps.
    """
    path = resolve(rel)
    trash = path.parent / f".trash-{path.name}-{secrets.token_hex(4)}"
    try:
        os.replace(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def delete_file(rel: str) -> None:
    resolve(rel).unlink(missing_ok=True)


def delete_project_files(project_id: str) -> None:
    delete_tree(project_rel_dir(project_id))
