"""Where job outputs live under the data directory, and the fsyncs that make renames durable.

Temporary names carry the id of the job that writes them (`.tmp-<job id>-<random>`), so the
cleanup can tell a live job's scratch space from a dead one's by looking at the job's lease.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import uuid
from pathlib import Path
from typing import Final

from isomix.config import get_settings

STEMS: Final = "stems"
EXPORTS: Final = "exports"
PROJECTS: Final = "projects"
TMP_PREFIX: Final = ".tmp-"
TRASH_PREFIX: Final = ".trash-"
# Fixed namespace for stem set ids derived from (project, cache key); never change it.
_STEM_SET_NAMESPACE: Final = uuid.UUID("6f1c1a52-3d0e-4d7b-9a51-5b0f2f7a4c11")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def data_dir() -> Path:
    return get_settings().data_dir


def resolve(relative: str) -> Path:
    """Join a stored relative path to the data directory, refusing anything that leaves it."""
    root = data_dir().resolve()
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"path {relative!r} is outside the data directory")
    return path


def stem_set_id_for(project_id: str, cache_key: str) -> str:
    # Deterministic per project and options: a rerun after a crash between the rename and the
    # commit finds its own finished directory and reuses it instead of writing a second one.
    return str(uuid.uuid5(_STEM_SET_NAMESPACE, f"{project_id}\n{cache_key}"))


def stem_set_relative(stem_set_id: str) -> str:
    return f"{STEMS}/{stem_set_id}"


def export_relative(export_id: str, extension: str) -> str:
    return f"{EXPORTS}/{export_id}.{extension}"


def temp_name(job_id: str, suffix: str = "") -> str:
    return f"{TMP_PREFIX}{job_id}-{secrets.token_hex(4)}{suffix}"


def job_id_of_temp(name: str) -> str | None:
    """The job id inside a scratch name (`.tmp-<uuid>-<hex>`, or the encoder's
    `.<uuid>.<ext>.<random>.tmp`), or None when the name is not a scratch name."""
    if not name.startswith(".") or name.startswith(TRASH_PREFIX):
        return None
    found = _UUID.search(name)
    return found.group(0) if found else None


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_file():
            fsync_file(child)
    fsync_dir(directory)


def remove_tree(path: Path) -> bool:
    """Delete a directory so that a kill half-way leaves only a `.trash-` name behind.

    Renaming first makes the deletion look atomic to readers: the final name disappears at
    once, and a later cleanup finishes whatever rmtree did not.
    """
    if not path.exists():
        return False
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
