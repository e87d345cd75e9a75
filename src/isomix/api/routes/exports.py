"""Exports: render the user's mix on the server from the lossless stems."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from isomix import schemas
from isomix.api import urls
from isomix.api.deps import ExportDep, ProjectDep, SessionDep, WorkerAvailable
from isomix.api.downloads import (
    content_disposition,
    download_name,
    existing_file,
    ready_stem_set,
)
from isomix.api.errors import error_responses, invalid, name_a_few, not_ready
from isomix.api.present import export_out, stem_names
from isomix.audio.export_formats import MEDIA_TYPES
from isomix.jobs import queue
from isomix.models import Export, JobStatus, utcnow

router = APIRouter(tags=["exports"])


@router.post(
    urls.PROJECT_EXPORTS,
    status_code=202,
    response_model=schemas.Export,
    responses=error_responses(400, 404, 409, 422, 503),
    dependencies=[WorkerAvailable],
)
def create_export(
    project: ProjectDep, request: schemas.ExportRequest, session: SessionDep
) -> schemas.Export:
    """Queue a mix of the project's stems (gain, pan, mute, solo per stem) as mp3, wav or flac."""
    stem_set = ready_stem_set(project)
    names = stem_names(stem_set)
    unknown = sorted(set(request.stems) - set(names))
    if unknown:
        raise invalid(
            f"Unknown stem(s) {name_a_few(unknown)}; this project has {', '.join(names)}."
        )
    now = utcnow()
    export = Export(
        project_id=project.id,
        mix=request.model_dump(mode="json"),
        format=request.format,
        bitrate=request.bitrate,
        bit_depth=request.bit_depth,
        status=JobStatus.queued,
        progress=0.0,
        queued_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(export)
    session.commit()
    queue.enqueue_export(export.id)
    return export_out(export)


@router.get(urls.EXPORT, response_model=schemas.Export, responses=error_responses(404))
def read_export(export: ExportDep) -> schemas.Export:
    return export_out(export)


@router.get(
    urls.EXPORT_DOWNLOAD,
    response_class=FileResponse,
    responses={
        200: {
            "description": "The rendered mix",
            "content": {media_type: {} for media_type in MEDIA_TYPES.values()},
        },
        **error_responses(404, 409),
    },
)
def download_export(export: ExportDep) -> FileResponse:
    """The rendered file, once the export is ready."""
    if export.status != JobStatus.ready or not export.path:
        raise not_ready(f"The export is {export.status.value}; there is no file yet.")
    path = existing_file(export.path, "Export file")
    name = download_name(export.project, "mix", export.format)
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get(export.format, "application/octet-stream"),
        headers={"Content-Disposition": content_disposition(name)},
    )
