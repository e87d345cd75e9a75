"""What every file download shares: the stored file, its name for the user, the ready check."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import quote

from isomix import storage
from isomix.api.errors import not_found, not_ready
from isomix.models import JobStatus, Project, StemSet


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / RFC 5987)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in ascii_name)
    fallback = ascii_name or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_name(project: Project, part: str, extension: str) -> str:
    """What a download of the project is saved as: "<track> - <part>.<ext>", the one rule
    for stems, the stems ZIP (and the names inside it) and exports."""
    return f"{track_name(project)} - {part}.{extension}"


def track_name(project: Project) -> str:
    """The user's file name without its extension, as display data.

    Downloads are named "<track> - <part>.<ext>". The UI shows an export's name before it is
    downloaded with the same rule (frontend/src/lib/downloadName.ts); both sides are tested
    against frontend/src/lib/downloadName.cases.json (tests/api/test_download_names.py).
    """
    stem, dot, extension = project.filename.rpartition(".")
    return (
        stem if dot and stem and extension.isalnum() and len(extension) <= 5 else project.filename
    )


def ready_stem_set(project: Project) -> StemSet:
    if project.status != JobStatus.ready or project.stem_set is None:
        raise not_ready(f"The project is {project.status.value}; its stems are not ready.")
    return project.stem_set


def existing_file(relative: str, what: str) -> Path:
    """The real path of a stored file the row says exists; 404 if the disk disagrees."""
    path = storage.resolve(relative)
    if not path.is_file():
        raise not_found(what)
    return path
