"""Every file IsoMix keeps under the data directory: where it lives, how it is written, how it goes.

    projects/<project id>/original.<ext>     the upload (original.upload while it streams in)
                          partial/<worker>/  a running separation's final parts so far:
                                             <stem>.pcm and parts.json (jobs/progressive.py)
    stems/<stem set id>/<stem>.flac          24-bit FLAC, the lossless master
                        <stem>.mp3           the MP3 preview the browser mixer plays
                        <stem>.wav           16-bit WAV the mixer plays until the MP3 is
                                             written (jobs/previews.py), then removed
                        peaks.json           the body of GET /api/projects/{id}/peaks
    exports/<export id>.<ext>                a rendered mix
    models/<name>/                           installed model weights (separation.store)

The database stores paths relative to the data directory. They are also the keys of the
store (objects/: the data directory itself, sealed or not, or an S3 bucket under a prefix);
`resolve` turns them into real paths and refuses anything that would leave the data
directory. Files are written under a temporary name, fsynced and renamed into place, so a
reader (or a crash) only ever sees complete files. Temporary
names carry the id of the job that writes them (`.tmp-<job id>-<random>`), so the collector can
tell a live job's scratch space from a dead one's by the job's lease; deletions rename to a
`.trash-` name first, so a kill half-way leaves only trash that the collector sweeps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

from isomix.config import get_settings

PROJECTS: Final = "projects"
STEMS: Final = "stems"
EXPORTS: Final = "exports"
MODELS: Final = "models"
TMP_PREFIX: Final = ".tmp-"
TRASH_PREFIX: Final = ".trash-"
UPLOAD_TEMP_NAME: Final = "original.upload"
PARTIAL: Final = "partial"
PEAKS_FILE: Final = "peaks.json"
# What each variant of a stem is stored as: the extension is part of the layout.
StemVariant = Literal["master", "preview"]
STEM_EXTENSIONS: Final[dict[StemVariant, str]] = {"master": "flac", "preview": "mp3"}
# A finished separation is ready with its masters and a quick preview of each stem; the
# MP3 preview replaces the quick one when the worker has nothing else to do.
QUICK_PREVIEW_EXTENSION: Final = "wav"

_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# ---------------------------------------------------------------- the layout


def data_root() -> Path:
    return get_settings().data_dir.resolve()


def resolve(relative: str | Path) -> Path:
    """The real path of a data-relative path; ValueError if it points outside the data dir."""
    root = data_root()
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"path {str(relative)!r} is outside the data directory")
    return path


def models_dir() -> Path:
    return get_settings().data_dir / MODELS


SECRET_KEY_FILE: Final = ".secret_key"


def secret_key_file() -> Path:
    """Where the server keeps its signing key when ISOMIX_SECRET_KEY is not set."""
    return get_settings().data_dir / SECRET_KEY_FILE


def create_exclusively(path: Path, content: bytes) -> bytes:
    """Write `path` once, with mode 0600, unless it exists; the content it ends up with.

    Processes starting together all read the same bytes: each writes a private temporary
    file and links it to the final name, which only the first link creates.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
            fsync_dir(path.parent)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path.read_bytes()


def create_layout() -> None:
    """The top-level folders, so that a server's first request finds them."""
    root = get_settings().data_dir
    for name in (PROJECTS, STEMS, EXPORTS, MODELS):
        (root / name).mkdir(parents=True, exist_ok=True)


def project_dir(project_id: str) -> str:
    return f"{PROJECTS}/{project_id}"


def partial_root(project_id: str) -> str:
    """Where running separations of a project publish their parts (progressive output)."""
    return f"{project_dir(project_id)}/{PARTIAL}"


def partial_dir(project_id: str, worker_id: str) -> str:
    """The parts published by the worker holding the job's lease: one folder per lease
    owner, so a worker that lost the lease never writes into, or removes, the new owner's."""
    return f"{partial_root(project_id)}/{partial_name(worker_id)}"


def partial_name(worker_id: str) -> str:
    """The name of a worker's folder under `partial_root` (a worker id is not a file name)."""
    return hashlib.sha256(worker_id.encode()).hexdigest()[:16]


def stem_set_dir(stem_set_id: str) -> str:
    return f"{STEMS}/{stem_set_id}"


def stem_file(stem_set_directory: str, stem: str, variant: StemVariant = "master") -> str:
    return f"{stem_set_directory}/{stem_file_name(stem, variant)}"


def stem_file_name(stem: str, variant: StemVariant) -> str:
    return f"{stem}.{STEM_EXTENSIONS[variant]}"


def quick_preview_file_name(stem: str) -> str:
    return f"{stem}.{QUICK_PREVIEW_EXTENSION}"


def quick_preview_file(stem_set_directory: str, stem: str) -> str:
    return f"{stem_set_directory}/{quick_preview_file_name(stem)}"


def peaks_file(stem_set_directory: str) -> str:
    return f"{stem_set_directory}/{PEAKS_FILE}"


def export_file(export_id: str, extension: str) -> str:
    return f"{EXPORTS}/{export_id}.{extension}"


def folder_key(directory: str) -> str:
    """The key that names everything under a data-relative folder (objects.ObjectStore)."""
    return directory.rstrip("/") + "/"


def project_files_key(project_id: str) -> str:
    """Everything a project keeps (its upload, a running separation's parts)."""
    return folder_key(project_dir(project_id))


def export_files(export_id: str) -> list[Path]:
    """Whatever is on disk for an export, whatever its format."""
    return sorted(resolve(EXPORTS).glob(f"{export_id}.*"))


def entries(relative: str) -> list[Path]:
    """The children of a top-level folder (projects, stems, exports); none if it is missing."""
    try:
        return sorted(resolve(relative).iterdir())
    except FileNotFoundError:
        return []


@dataclass(frozen=True)
class StemLayout:
    names: tuple[str, ...]
    duration_seconds: float


# ---------------------------------------------------------------- scratch names


def temp_name(job_id: str, suffix: str = "") -> str:
    return f"{TMP_PREFIX}{job_id}-{secrets.token_hex(4)}{suffix}"


def job_id_of_temp(name: str) -> str | None:
    """The job id inside a scratch name (`.tmp-<uuid>-<hex>`, or the atomic writer's
    `.<uuid>.<ext>.<random>.tmp`), or None when the name is not a scratch name."""
    if not name.startswith(".") or name.startswith(TRASH_PREFIX):
        return None
    found = _UUID.search(name)
    return found.group(0) if found else None


# ---------------------------------------------------------------- durable writes


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new name in `path` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


def fsync_tree(directory: Path) -> None:
    """fsync every file directly in `directory`, then the directory itself."""
    for child in directory.iterdir():
        if child.is_file():
            fsync_file(child)
    fsync_dir(directory)


@contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A file to write `path` through: a temporary name beside it, fsynced and renamed into
    place when the block ends without an error; removed when it raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w+b") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_json(path: Path, value: Any) -> None:
    with atomic_output(path) as file:
        file.write(json.dumps(value, separators=(",", ":")).encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def move_into_place(temporary: Path, final: Path) -> bool:
    """Rename a finished temporary directory to its final name; False when the final name is
    already taken (by a complete copy: only complete directories are ever renamed there)."""
    try:
        os.replace(temporary, final)
    except OSError:
        if not final.is_dir():
            raise
        remove_tree(temporary)
        return False
    fsync_dir(final.parent)
    return True


# ---------------------------------------------------------------- deletion


def remove_tree(path: Path) -> bool:
    """Delete a directory so that a kill half-way leaves only a `.trash-` name behind.

    Renaming first makes the deletion look atomic to readers: the final name disappears at
    once, and a later cleanup finishes whatever rmtree did not.
    """
    trash = path.parent / f"{TRASH_PREFIX}{path.name}-{secrets.token_hex(4)}"
    try:
        os.replace(path, trash)
    except FileNotFoundError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def remove_file(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def remove(path: Path) -> bool:
    """A file or a directory, whichever it is; False when it was already gone."""
    return remove_tree(path) if path.is_dir() else remove_file(path)


# ---------------------------------------------------------------- uploads


class UploadTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"The file is larger than the limit of {format_bytes(limit)}.")


def format_bytes(size: float) -> str:
    """A size as every message and listing writes it (CLI, API, and the UI's formatBytes):
    decimal units, MB = 10^6 bytes, one decimal but no ".0" ("107.7 MB", "200 MB"), two
    decimals for GB."""
    for unit in ("B", "KB", "MB"):
        if round(size, 1) < 1000:
            text = f"{size:.0f}" if unit == "B" else f"{size:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        size /= 1000
    return f"{size:.2f} GB"


class UploadWriter:
    """Writes an upload to projects/<id>/original.upload, counting bytes and hashing as it goes.

    Nothing but the file's bytes passes through memory, one chunk at a time; past `limit` bytes
    it raises UploadTooLargeError. Call `discard()` on every failure path. With `directory`,
    the file is written there instead (local scratch space, when the store is not a plain
    data directory) and the caller puts it in the store.
    """

    def __init__(self, project_id: str, limit: int, directory: Path | None = None) -> None:
        self.project_id = project_id
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self.in_data_dir = directory is None
        self.directory = resolve(project_dir(project_id)) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=not self.in_data_dir)
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
        """Rename to original.<extension> (detected from content, never from the user's name);
        the upload's key."""
        if not extension.isascii() or not extension.isalnum():
            raise ValueError(f"bad extension {extension!r}")
        self.close()
        name = f"original.{extension.lower()}"
        final = self.directory / name
        self.path.rename(final)
        self.path = final
        fsync_dir(self.directory)
        return f"{project_dir(self.project_id)}/{name}"

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self.directory, ignore_errors=True)
