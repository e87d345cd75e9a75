"""A worker's and an upload's local scratch space, outside the data directory.

With a sealed data directory or an S3 store, plaintext audio exists only here, for as long as
a job or an upload needs it: every folder is removed when its block ends, and folders of
processes that died (named after their pid) are removed by the next process that starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from isomix.config import get_settings


def scratch_root() -> Path:
    configured = get_settings().scratch_dir
    root = configured if configured is not None else Path(tempfile.gettempdir()) / "isomix-scratch"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


@contextmanager
def scratch_dir(label: str = "job") -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{label}-", dir=scratch_root()))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def remove_dead_scratch() -> int:
    """Remove the scratch folders of processes that are gone; how many went."""
    removed = 0
    for entry in scratch_root().iterdir():
        pid_text = entry.name.split("-", 1)[0]
        if not pid_text.isdigit() or process_exists(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed += 1
    return removed


def process_exists(pid: int) -> bool:
    """Whether a process with this id is running on this machine (signal 0: no signal sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
