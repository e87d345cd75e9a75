"""Exports: render the user's mix on the server from the lossless stems."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from isomix import logs, schemas
from isomix.api import urls
from isomix.api.auditing import record_action
from isomix.api.auth import CurrentUser, Principal
from isomix.api.deps import (
    ExportDep,
    LinkedExport,
    ProjectDep,
    SessionDep,
    SettingsDep,
    WorkerAvailable,
)
from isomix.api.downloads import (
    export_download_name,
    ready_stem_set,
    stored_file_response,
)
from isomix.api.errors import error_responses, invalid, name_a_few, not_ready
from isomix.api.limits import rate_limited, refusal
from isomix.api.present import export_out, stem_names
from isomix.audio.errors import format_duration
from isomix.audio.export_formats import MEDIA_TYPES
from isomix.config import Settings
from isomix.jobs import queue
from isomix.models import Export, JobStatus, utcnow
from isomix.ratelimit import get_rate_limits

router = APIRouter(tags=["exports"])


def _check_plan(body: schemas.ExportRequest, principal: Principal, settings: Settings) -> None:
    plan = principal.plan
    if not plan.allows_format(body.format):
        raise refusal(
            403,
            "export_formats",
            plan,
            body.format,
            f"The {plan.title} plan exports {', '.join(f.upper() for f in plan.export_formats)}; "
            f"not {body.format.upper()}.",
        )
    if body.format == "mp3" and (body.bitrate or 0) > plan.max_mp3_kbps:
        raise refusal(
            403,
            "max_mp3_kbps",
            plan,
            body.bitrate,
            f"The {plan.title} plan exports MP3 up to {plan.max_mp3_kbps} kbps; "
            f"{body.bitrate} kbps was asked for.",
        )
    if settings.accounts:
        wait = get_rate_limits(settings).hit("export", principal.user_id)
        if wait is not None:
            raise rate_limited("export", wait, "Too many exports in a short time.")


# A range's end may pass the stems' length by this much (the mixer's buffers are decoded
# previews, a few milliseconds longer or shorter); the render stops at the last sample.
RANGE_END_SLACK_SECONDS: Final = 0.1


def _check_range(body: schemas.ExportRequest, duration: float) -> None:
    length = f"the song is {format_duration(duration)} long"
    if body.start_seconds is not None and body.start_seconds >= duration:
        raise invalid(f"start_seconds {body.start_seconds:g} is past the end: {length}.")
    if body.end_seconds is not None and body.end_seconds > duration + RANGE_END_SLACK_SECONDS:
        raise invalid(f"end_seconds {body.end_seconds:g} is past the end: {length}.")


@router.post(
    urls.PROJECT_EXPORTS,
    status_code=202,
    response_model=schemas.Export,
    responses=error_responses(400, 401, 403, 404, 409, 422, 429, 503),
    dependencies=[WorkerAvailable],
)
def create_export(
    project: ProjectDep,
    request: schemas.ExportRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentUser,
    http: Request,
) -> schemas.Export:
    """Queue a mix of the project's stems (gain, pan, mute, solo per stem) as mp3, wav or flac
    (what the plan includes), optionally at another tempo or pitch, of a range, of some stems,
    normalised to a loudness, under a file name of the user's."""
    _check_plan(request, principal, settings)
    stem_set = ready_stem_set(project)
    names = stem_names(stem_set)
    unknown = sorted((set(request.stems) | set(request.include_stems or ())) - set(names))
    if unknown:
        raise invalid(
            f"Unknown stem(s) {name_a_few(unknown)}; this project has {', '.join(names)}."
        )
    _check_range(request, stem_set.duration_seconds)
    now = utcnow()
    export = Export(
        project_id=project.id,
        mix=request.model_dump(mode="json"),
        format=request.format,
        bitrate=request.bitrate,
        bit_depth=request.bit_depth,
        request_id=logs.current_request_id(),  # the worker's lines carry it too
        status=JobStatus.queued,
        progress=0.0,
        queued_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(export)
    session.flush()
    record_action(
        http,
        "export",
        principal,
        object_type="export",
        object_id=export.id,
        detail={"project_id": project.id, "format": request.format},
        session=session,
    )
    session.commit()
    queue.enqueue_export(export.id)
    return export_out(export, settings)


@router.get(urls.EXPORT, response_model=schemas.Export, responses=error_responses(401, 404))
def read_export(export: ExportDep, settings: SettingsDep) -> schemas.Export:
    return export_out(export, settings)


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
def download_export(linked: LinkedExport, request: Request) -> Response:
    """The rendered file, once the export is ready. With accounts, by the signed
    `download_url` or with the owner's bearer token."""
    export: Export = linked.object
    if export.status != JobStatus.ready or not export.path:
        raise not_ready(f"The export is {export.status.value}; there is no file yet.")
    return stored_file_response(
        export.path,
        filename=export_download_name(export.project, export.format, export.mix.get("filename")),
        media_type=MEDIA_TYPES.get(export.format, "application/octet-stream"),
        what="Export file",
        request=request,
    )
