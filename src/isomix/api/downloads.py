"""What every file download shares: the stored file, its name for the user, the ready check."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import Request, Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse

from isomix import signing
from isomix.api.errors import ApiError, not_found, not_ready
from isomix.api.partial_audio import CHUNK_BYTES, range_response
from isomix.config import get_settings
from isomix.filenames import clean_file_name
from isomix.models import JobStatus, Project, StemSet
from isomix.objects import get_store
from isomix.objects.base import content_disposition
from isomix.sealed import SealedFileError

log = logging.getLogger(__name__)

__all__ = [
    "content_disposition",
    "download_name",
    "export_download_name",
    "ranged_response",
    "ready_stem_set",
    "stored_file_response",
    "track_name",
]


def download_name(project: Project, part: str, extension: str) -> str:
    """What a download of the project is saved as: "<track> - <part>.<ext>", the one rule
    for stems, the stems ZIP (and the names inside it) and exports."""
    return f"{track_name(project)} - {part}.{extension}"


def export_download_name(project: Project, extension: str, filename: object = None) -> str:
    """An export's download: the name the user gave it (made safe: `filenames`) with the
    extension, else the one rule's "<track> - mix.<ext>"."""
    chosen = clean_file_name(filename) if isinstance(filename, str) else ""
    return f"{chosen}.{extension}" if chosen else download_name(project, "mix", extension)


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


def stored_file_response(
    key: str,
    *,
    filename: str,
    media_type: str,
    what: str,
    request: Request,
    cache: bool = True,
) -> Response:
    """A stored file as the answer to a download, Range requests included, whatever the store:

    - a plain data directory: the file itself (sendfile);
    - a sealed one: the chunks a range needs, decrypted as they are sent;
    - S3: a 307 to a presigned URL of the bucket (or the CDN before it), valid no longer than
      the signed link that reached this route (ISOMIX_SIGNED_URL_TTL at most), so the bytes
      never pass through the API.
    """
    try:
        return _stored_file_response(key, filename, media_type, what, request, cache)
    except SealedFileError as error:
        # A wrong key or a damaged file: an error, never noise passed off as audio.
        log.error("%s: %s", key, error)
        raise ApiError(
            500,
            "stored_file_unreadable",
            "A stored file could not be read with the server's encryption keys.",
        ) from None


def _stored_file_response(
    key: str, filename: str, media_type: str, what: str, request: Request, cache: bool
) -> Response:
    store = get_store()
    headers = {"Content-Disposition": content_disposition(filename)}
    if not cache:
        headers["Cache-Control"] = "no-store"
    path = store.local_path(key)
    if path is not None:
        return FileResponse(path, media_type=media_type, headers=headers)
    if store.kind == "s3":
        if not store.exists(key):
            raise not_found(what)
        url = store.presigned_url(
            key, filename=filename, media_type=media_type, expires_in=_link_lifetime(request)
        )
        assert url is not None
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    size = store.size(key)
    if size is None:
        raise not_found(what)
    return ranged_response(store.open(key), size, request.headers.get("range"), media_type, headers)


def _link_lifetime(request: Request) -> int:
    """Seconds a presigned URL may live: what the signed link has left, else the TTL."""
    ttl = get_settings().signed_url_ttl
    raw = request.query_params.get(signing.EXPIRES_PARAM, "")
    if raw.isdigit() and len(raw) <= 12:
        return max(1, min(ttl, int(raw) - int(time.time())))
    return ttl


def ranged_response(
    source: BinaryIO,
    total: int,
    range_header: str | None,
    media_type: str,
    headers: dict[str, str],
) -> StreamingResponse:
    """`source` (a seekable stream of `total` bytes), whole or the range asked for; the
    response closes it."""
    return range_response(
        total,
        range_header,
        headers,
        media_type=media_type,
        body=lambda start, stop: _read_span(source, start, stop),
        close=source.close,
        refusal=f"The range starts past the {total} bytes of the file.",
    )


def _read_span(source: BinaryIO, start: int, stop: int) -> Iterator[bytes]:
    try:
        source.seek(start)
        left = stop - start
        while left > 0:
            chunk = source.read(min(CHUNK_BYTES, left))
            if not chunk:
                raise OSError("the stored file is shorter than its size")
            left -= len(chunk)
            yield chunk
    finally:
        source.close()
