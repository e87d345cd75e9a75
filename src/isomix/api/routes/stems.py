"""Separated stems of a ready project: single files (Range-capable), a zip of all, peaks."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterator
from typing import Annotated, BinaryIO, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy.orm import object_session

from isomix import schemas, storage
from isomix.api import partial_audio, urls
from isomix.api.deps import Linked, LinkedProject
from isomix.api.downloads import (
    content_disposition,
    download_name,
    ready_stem_set,
    stored_file_response,
)
from isomix.api.errors import error_responses, not_found
from isomix.api.limits import refusal
from isomix.api.present import stem_names
from isomix.jobs.progressive import (
    FRAME_BYTES,
    Parts,
    Segment,
    read_parts,
    stores_parts_as_objects,
)
from isomix.models import JobStatus, Project
from isomix.objects import get_store

router = APIRouter(tags=["stems"])

ZIP_CHUNK_BYTES = 256 * 1024
MEDIA_TYPES: dict[storage.StemVariant, str] = {"master": "audio/flac", "preview": "audio/mpeg"}


def _require_lossless(linked: Linked, what: str) -> None:
    """The masters are for plans with lossless downloads. A signed link was only handed out
    to such a plan (present.project_out), so it passes."""
    principal = linked.principal
    if principal is not None and not principal.plan.lossless_stems:
        plan = principal.plan
        raise refusal(
            403,
            "export_formats",
            plan,
            "flac",
            f"{what} are lossless FLAC masters, which the {plan.title} plan does not include; "
            f"it has the MP3 previews (up to {plan.max_mp3_kbps} kbps).",
        )


@router.get(
    urls.STEM,
    response_class=FileResponse,
    responses={
        200: {
            "description": "Audio file",
            "content": {"audio/flac": {}, "audio/mpeg": {}, "audio/wav": {}},
        },
        206: {"description": "Partial content (Range request)"},
        416: {"description": "Range not satisfiable"},
        **error_responses(404, 409),
    },
)
def download_stem(
    linked: LinkedProject,
    stem: str,
    request: Request,
    variant: Annotated[Literal["master", "preview"], Query()] = "master",
) -> Response:
    """One stem: the lossless FLAC master (plans with lossless downloads), or the MP3
    preview the mixer plays. With accounts, by the signed link in the project's body or
    with the owner's bearer token.

    While the project is processing and has a final part (`ready_seconds`), the preview is
    that part as 16-bit WAV, never cached; Range requests fetch only what is new. Once ready,
    the preview is the same 16-bit WAV of the whole stem until the worker has encoded the MP3
    (it does that when it has no separation to run)."""
    project: Project = linked.object
    if variant == "preview" and project.status == JobStatus.processing:
        partial = _partial_preview(project, stem, request.headers.get("range"))
        if partial is not None:
            return partial
    if variant == "master":
        _require_lossless(linked, "Stem downloads")
    stem_set = ready_stem_set(project)
    if stem not in stem_names(stem_set):
        raise not_found(f"Stem '{stem}'")
    if variant == "preview":
        quick = _quick_preview(project, stem_set.directory, stem, request)
        if quick is not None:
            return quick
    extension = storage.STEM_EXTENSIONS[variant]
    return stored_file_response(
        storage.stem_file(stem_set.directory, stem, variant),
        filename=download_name(project, stem, extension),
        media_type=MEDIA_TYPES[variant],
        what="Stem file",
        request=request,
    )


def _quick_preview(
    project: Project, directory: str, stem: str, request: Request
) -> Response | None:
    """A ready stem's quick preview (16-bit WAV, never cached) while its MP3 is not written
    yet (jobs/previews.py); None once the MP3 is there."""
    store = get_store()
    if store.exists(storage.stem_file(directory, stem, "preview")):
        return None
    name = download_name(project, stem, storage.QUICK_PREVIEW_EXTENSION)
    if store.local_path(storage.quick_preview_file(directory, stem)) is None:
        # Sealed or in a bucket: the stored WAV as it is (a presigned URL, or decrypted).
        if not store.exists(storage.quick_preview_file(directory, stem)):
            return None  # the MP3 went in place a moment ago
        return stored_file_response(
            storage.quick_preview_file(directory, stem),
            filename=name,
            media_type=partial_audio.MEDIA_TYPE,
            what="Stem file",
            request=request,
            cache=False,
        )
    range_header = request.headers.get("range")
    try:
        wav = storage.resolve(storage.quick_preview_file(directory, stem)).open("rb")
    except FileNotFoundError:
        return None  # the MP3 went in place a moment ago
    try:
        frames, sample_rate, channels = partial_audio.read_wav_header(wav)
    except ValueError:
        wav.close()
        raise
    return partial_audio.wav_response(
        wav,
        frames=frames,
        sample_rate=sample_rate,
        channels=channels,
        range_header=range_header,
        headers={"Content-Disposition": content_disposition(name)},
        data_offset=partial_audio.HEADER_BYTES,
    )


def _partial_preview(project: Project, stem: str, range_header: str | None) -> Response | None:
    """The final part so far of a processing project's stem; None when it has none (or the
    job ended meanwhile: the row is read again and the stem answered for its new state)."""
    owner, ready_seconds = project.lease_owner, project.ready_seconds
    if owner is None or not ready_seconds:
        return None
    parts = read_parts(project.id, owner)
    if parts is not None and stem not in parts.names:
        raise not_found(f"Stem '{stem}'")
    if parts is not None and stores_parts_as_objects():
        return _stored_partial_preview(project, parts, stem, ready_seconds, range_header)
    try:
        if parts is None:
            raise FileNotFoundError(stem)
        pcm = parts.pcm_path(stem).open("rb")
    except FileNotFoundError:
        _reload(project)
        return None
    # What the row announces, which every stem's file holds (written before announced).
    on_disk = os.fstat(pcm.fileno()).st_size // FRAME_BYTES
    frames = min(round(ready_seconds * parts.sample_rate), on_disk)
    name = download_name(project, stem, "wav")
    return partial_audio.wav_response(
        pcm,
        frames=frames,
        sample_rate=parts.sample_rate,
        range_header=range_header,
        headers={"Content-Disposition": content_disposition(name)},
    )


def _reload(project: Project) -> None:
    session = object_session(project)
    if session is not None:
        session.refresh(project)


def _stored_partial_preview(
    project: Project, parts: Parts, stem: str, ready_seconds: float, range_header: str | None
) -> Response | None:
    """The same, from the part objects of a store the worker writes on another machine."""
    segments = parts.segments(stem)
    if not segments:
        _reload(project)
        return None
    stored = sum(segment.frames for segment in segments)
    frames = min(round(ready_seconds * parts.sample_rate), stored)
    reader = _SegmentReader(segments)
    return partial_audio.wav_response_from(
        reader.read_at,
        frames=frames,
        sample_rate=parts.sample_rate,
        range_header=range_header,
        headers={"Content-Disposition": content_disposition(download_name(project, stem, "wav"))},
    )


class _SegmentReader:
    """PCM bytes across a stem's part objects, one object fetched at a time."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self._cached: tuple[str, bytes] | None = None

    def read_at(self, position: int, length: int) -> bytes:
        for segment in self.segments:
            first = segment.start * FRAME_BYTES
            last = first + segment.frames * FRAME_BYTES
            if first <= position < last:
                if self._cached is None or self._cached[0] != segment.key:
                    self._cached = (segment.key, get_store().read_bytes(segment.key))
                data = self._cached[1]
                return data[position - first : position - first + length]
        return b""


class _ZipSink:
    """A write-only file for zipfile whose bytes are drained by the response generator."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.buffer.extend(data)
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def zip_stream(files: list[tuple[str, str]]) -> Iterator[bytes]:
    """ZIP_STORED (audio does not compress) of stored files (name in the zip, key) written as
    it is sent: no temp file, little memory.

    Every file is opened before the first byte goes out: the collector may delete an expired
    project's stems meanwhile, and an open file outlives its name (and an S3 response its
    object), so a download that has started always finishes."""
    store = get_store()
    now = time.time()
    opened: list[tuple[str, BinaryIO, float]] = []
    try:
        for name, key in files:
            path = store.local_path(key)
            if path is not None:
                opened.append((name, path.open("rb"), path.stat().st_mtime))
            else:
                opened.append((name, store.open(key), now))
    except FileNotFoundError:
        for _, source, _ in opened:
            source.close()
        raise not_found("Stem file") from None
    return _zip_chunks(opened)


def _zip_chunks(opened: list[tuple[str, BinaryIO, float]]) -> Iterator[bytes]:
    sink = _ZipSink()
    try:
        with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
            for name, source, mtime in opened:
                info = zipfile.ZipInfo(name, date_time=time.localtime(mtime)[:6])
                with archive.open(info, mode="w", force_zip64=True) as entry:
                    while chunk := source.read(ZIP_CHUNK_BYTES):
                        entry.write(chunk)
                        yield sink.drain()
                yield sink.drain()
        yield sink.drain()
    finally:
        for _, source, _ in opened:
            source.close()


@router.get(
    urls.STEMS_ZIP,
    response_class=StreamingResponse,
    responses={
        200: {"description": "All FLAC masters", "content": {"application/zip": {}}},
        **error_responses(401, 403, 404, 409),
    },
)
def download_stems_zip(linked: LinkedProject) -> StreamingResponse:
    """Every stem's FLAC master in one zip (plans with lossless downloads)."""
    project: Project = linked.object
    _require_lossless(linked, "The stems in a ZIP")
    stem_set = ready_stem_set(project)
    files = [
        (
            download_name(project, name, storage.STEM_EXTENSIONS["master"]),
            storage.stem_file(stem_set.directory, name, "master"),
        )
        for name in stem_names(stem_set)
    ]
    # Inside the zip the names are data too: keep them free of path separators.
    files = [(name.replace("/", "_").replace("\\", "_"), path) for name, path in files]
    return StreamingResponse(
        zip_stream(files),
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition(download_name(project, "stems", "zip"))
        },
    )


@router.get(urls.PEAKS, response_model=schemas.Peaks, responses=error_responses(401, 403, 404, 409))
def read_peaks(linked: LinkedProject) -> schemas.Peaks:
    """Waveform overview of every stem: max |sample| per bucket over both channels, 0..1."""
    stem_set = ready_stem_set(linked.object)
    try:
        peaks = get_store().read_bytes(storage.peaks_file(stem_set.directory))
    except FileNotFoundError:
        raise not_found("Peaks file") from None
    return schemas.Peaks.model_validate_json(peaks)
