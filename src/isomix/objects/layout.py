"""Reading a finished stem set back from the store: which stems it has, and whether it is
complete (its peaks, and a master and a preview of every stem)."""

from __future__ import annotations

import json

from isomix import storage
from isomix.objects.base import ObjectStore


def read_stem_layout(store: ObjectStore, directory: str) -> storage.StemLayout | None:
    """The stems of the finished stem set under `directory`, or None when it is not a
    complete one."""
    try:
        peaks = json.loads(store.read_bytes(storage.peaks_file(directory)))
        names = tuple(str(name) for name in peaks["stems"])
        duration = float(peaks["duration_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    present = {item.key for item in store.listing(directory.rstrip("/") + "/")}
    for name in names:
        if storage.stem_file(directory, name, "master") not in present:
            return None
        previews = (
            storage.stem_file(directory, name, "preview"),
            storage.quick_preview_file(directory, name),
        )
        if not any(preview in present for preview in previews):
            return None
    return storage.StemLayout(names=names, duration_seconds=duration)


def stored_bytes(store: ObjectStore, directory: str) -> int:
    """What every object under `directory` takes in the store."""
    return sum(item.size for item in store.listing(directory.rstrip("/") + "/"))
