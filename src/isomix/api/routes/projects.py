"""Projects: upload, list, read, follow (SSE), cancel, retry, delete."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from isomix import schemas, storage
from isomix.api import jobs, urls
from isomix.api.deps import ProjectDep, SessionDep, SettingsDep
from isomix.api.errors import ApiError, error_responses
from isomix.api.options import SeparationChoice, choose
from isomix.api.present import QueueSnapshot, project_out
from isomix.api.upload import ReceivedUpload, check_content_length, receive_upload
from isomix.audio import io as audio_io
from isomix.audio.errors import AudioError, AudioTooLongError, UnsupportedAudioError
from isomix.config import Settings
from isomix.db import get_sessionmaker
from isomix.metrics import metrics_of
from isomix.models import (
    TERMINAL_STATUSES,
    Export,
    JobStatus,
    Project,
    StemSet,
    new_id,
    stem_cache_key,
    utcnow,
)

logger = logging.getLogger(__name__)
router = APIRouter(tags=["projects"])

# SSE: how often the row is read, and how often an idle stream sends a comment to stay open.
EVENTS_POLL_SECONDS = 0.4
EVENTS_KEEPALIVE_SECONDS = 15.0
# SQLite integers are 64-bit; a larger offset would be a server error instead of a 422.
MAX_OFFSET = 2**31

UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": schemas.UploadForm.model_json_schema()}},
    }
}


def _audio_error(error: AudioError) -> ApiError:
    if isinstance(error, UnsupportedAudioError):
        return ApiError(415, "unsupported_media", str(error))
    if isinstance(error, AudioTooLongError):
        return ApiError(422, "too_long", str(error))
    return ApiError(422, "corrupt_audio", str(error))


def _early_check(fields: dict[str, str], settings: Settings) -> None:
    """Options that arrived before the file are refused before the file is stored."""
    if "model" in fields:
        choose(
            model=fields.get("model"),
            two_stems=fields.get("two_stems"),
            shifts=fields.get("shifts"),
            settings=settings,
        )


def _insert_project(
    *,
    project_id: str,
    upload: ReceivedUpload,
    source_path: str,
    info: audio_io.AudioInfo,
    choice: SeparationChoice,
    settings: Settings,
) -> bool:
    """Create the row; `ready` at once when a stem set with the same key exists (dedup).
    Returns whether it waits for a separation."""
    key = stem_cache_key(upload.writer.sha256, choice.model, choice.two_stems, choice.shifts)
    now = utcnow()
    project = Project(
        id=project_id,
        filename=upload.filename,
        source_path=source_path,
        content_sha256=upload.writer.sha256,
        size_bytes=upload.writer.size,
        container=info.container,
        duration_seconds=info.duration_seconds,
        model=choice.model,
        two_stems=choice.two_stems,
        shifts=choice.shifts,
        status=JobStatus.queued,
        progress=0.0,
        queued_at=now,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(hours=settings.retention_hours),
    )
    with get_sessionmaker()() as session:
        stem_set = session.scalar(select(StemSet).where(StemSet.cache_key == key))
        if stem_set is not None and storage.resolve(stem_set.directory).is_dir():
            # Compare-and-increment: GC may delete a stem set whose refcount fell to 0.
            claimed = session.execute(
                update(StemSet)
                .where(StemSet.id == stem_set.id, StemSet.refcount > 0)
                .values(refcount=StemSet.refcount + 1)
            )
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                project.stem_set_id = stem_set.id
                project.status = JobStatus.ready
                project.progress = 100.0
                project.started_at = now
                project.finished_at = now
        session.add(project)
        session.commit()
        return project.status == JobStatus.queued


def _read_project(project_id: str, settings: Settings) -> schemas.Project:
    with get_sessionmaker()() as session:
        project = session.get(Project, project_id)
        if project is None:  # deleted in the meantime
            raise ApiError(404, "not_found", "Project not found.")
        return project_out(project, queue=_queue_for(project, session), settings=settings)


@router.post(
    urls.PROJECTS,
    status_code=202,
    response_model=schemas.Project,
    openapi_extra=UPLOAD_OPENAPI,
    responses=error_responses(409, 413, 415, 422),
)
async def create_project(request: Request, settings: SettingsDep) -> schemas.Project:
    """Upload a song (multipart: file, and optional model, two_stems, shifts) to separate."""
    metrics = metrics_of(request)
    limit = settings.max_upload_bytes
    try:
        check_content_length(request, limit)
        project_id = new_id()
        upload = await receive_upload(
            request,
            project_id=project_id,
            limit=limit,
            on_file_start=lambda fields: _early_check(fields, settings),
        )
    except ApiError as error:
        metrics.upload_refused(error.code)
        raise
    metrics.upload_bytes.inc(upload.writer.size)
    try:
        fields = upload.fields
        choice = await run_in_threadpool(
            choose,
            model=fields.get("model"),
            two_stems=fields.get("two_stems"),
            shifts=fields.get("shifts"),
            settings=settings,
        )
        try:
            info = await run_in_threadpool(
                audio_io.probe, upload.writer.path, max_seconds=settings.max_duration_seconds
            )
        except AudioError as error:
            raise _audio_error(error) from None
        source_path = await run_in_threadpool(upload.writer.finalize, info.extension)
        queued = await run_in_threadpool(
            lambda: _insert_project(
                project_id=project_id,
                upload=upload,
                source_path=source_path,
                info=info,
                choice=choice,
                settings=settings,
            )
        )
    except BaseException as error:
        upload.writer.discard()
        if isinstance(error, ApiError):
            metrics.upload_refused(error.code)
        raise
    # Committed: from here on the files belong to the project, whatever happens.
    metrics.upload_accepted()
    if queued:
        await run_in_threadpool(jobs.enqueue_separation, project_id)
    return await run_in_threadpool(_read_project, project_id, settings)


@router.get(urls.PROJECTS, response_model=schemas.ProjectList)
def list_projects(
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> schemas.ProjectList:
    """Projects, newest first."""
    total = session.scalar(select(func.count()).select_from(Project)) or 0
    rows = session.scalars(
        select(Project).order_by(Project.created_at.desc(), Project.id).limit(limit).offset(offset)
    ).all()
    queue = QueueSnapshot.load(session)
    return schemas.ProjectList(
        items=[project_out(row, queue=queue, settings=settings) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(urls.PROJECT, response_model=schemas.Project, responses=error_responses(404))
def read_project(
    project: ProjectDep, session: SessionDep, settings: SettingsDep
) -> schemas.Project:
    return project_out(project, queue=_queue_for(project, session), settings=settings)


def _queue_for(project: Project, session: Session) -> QueueSnapshot:
    # Only a queued project has a position; skip the queries for the others.
    if project.status == JobStatus.queued:
        return QueueSnapshot.load(session)
    return QueueSnapshot()


def _read_event(project_id: str, settings: Settings) -> tuple[str, bool] | None:
    """The project as JSON and whether it is terminal; None once it is gone."""
    with get_sessionmaker()() as session:
        project = session.get(Project, project_id)
        if project is None:
            return None
        body = project_out(project, queue=_queue_for(project, session), settings=settings)
        return body.model_dump_json(), project.status in TERMINAL_STATUSES


@router.get(
    urls.PROJECT_EVENTS,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `event: project`, `data: <Project JSON>`",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(404),
    },
)
async def project_events(
    project_id: str, request: Request, settings: SettingsDep
) -> StreamingResponse:
    """Follow a project: the current state first, then every change; ends when it is done."""
    first = await run_in_threadpool(_read_event, project_id, settings)
    if first is None:
        raise ApiError(404, "not_found", "Project not found.")

    async def stream() -> AsyncIterator[str]:
        event: tuple[str, bool] | None = first
        last_sent = ""
        idle = 0.0
        while event is not None:
            body, terminal = event
            if body != last_sent:
                yield f"event: project\ndata: {body}\n\n"
                last_sent = body
                idle = 0.0
            if terminal:
                return
            if idle >= EVENTS_KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                idle = 0.0
            await anyio.sleep(EVENTS_POLL_SECONDS)
            idle += EVENTS_POLL_SECONDS
            if await request.is_disconnected():
                return
            event = await run_in_threadpool(_read_event, project_id, settings)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    urls.PROJECT_CANCEL, response_model=schemas.Project, responses=error_responses(404, 409)
)
def cancel_project(
    project: ProjectDep, session: SessionDep, settings: SettingsDep
) -> schemas.Project:
    """Stop a queued or running separation; the worker notices at its next progress update."""
    if project.status == JobStatus.cancelled:
        return _present(project, session, settings)
    cancelled = session.execute(
        update(Project)
        .where(
            Project.id == project.id,
            Project.status.in_([JobStatus.queued, JobStatus.processing]),
        )
        .values(status=JobStatus.cancelled, eta_seconds=None, finished_at=utcnow())
    )
    session.commit()
    session.refresh(project)
    if cancelled.rowcount != 1:  # type: ignore[attr-defined]
        raise ApiError(
            409, "conflict", f"The project is {project.status.value} and cannot be cancelled."
        )
    return _present(project, session, settings)


def _present(project: Project, session: Session, settings: Settings) -> schemas.Project:
    return project_out(project, queue=_queue_for(project, session), settings=settings)


@router.post(
    urls.PROJECT_RETRY,
    status_code=202,
    response_model=schemas.Project,
    responses=error_responses(404, 409),
)
def retry_project(
    project: ProjectDep, session: SessionDep, settings: SettingsDep
) -> schemas.Project:
    """Queue a failed or cancelled separation again, with a fresh attempt count."""
    retried = session.execute(
        update(Project)
        .where(
            Project.id == project.id,
            Project.status.in_([JobStatus.failed, JobStatus.cancelled]),
        )
        .values(
            status=JobStatus.queued,
            attempts=0,
            error=None,
            progress=0.0,
            eta_seconds=None,
            lease_owner=None,
            lease_expires_at=None,
            queued_at=utcnow(),
            started_at=None,
            finished_at=None,
        )
    )
    session.commit()
    session.refresh(project)
    if retried.rowcount != 1:  # type: ignore[attr-defined]
        raise ApiError(
            409, "conflict", f"The project is {project.status.value}; only failed or "
            "cancelled projects can be retried."
        )  # fmt: skip
    jobs.enqueue_separation(project.id)
    return _present(project, session, settings)


@router.delete(urls.PROJECT, status_code=204, responses=error_responses(404))
def delete_project(project: ProjectDep, session: SessionDep) -> Response:
    """Delete a project, its upload and its exports; its stems go when no project uses them."""
    export_paths = [
        path for path in session.scalars(select(Export.path).where(Export.project_id == project.id))
    ]
    stem_set_dir: str | None = None
    if project.stem_set_id is not None:
        session.execute(
            update(StemSet)
            .where(StemSet.id == project.stem_set_id)
            .values(refcount=StemSet.refcount - 1)
        )
        stem_set = session.get(StemSet, project.stem_set_id, populate_existing=True)
        if stem_set is not None and stem_set.refcount <= 0:
            session.delete(stem_set)
            stem_set_dir = stem_set.directory
    project_id = project.id
    session.delete(project)
    session.commit()
    # Files after the commit: a crash in between leaves orphan files for GC, never a row
    # pointing at missing files.
    storage.delete_project_files(project_id)
    for path in export_paths:
        if path:
            storage.delete_file(path)
    if stem_set_dir is not None:
        storage.delete_tree(stem_set_dir)
    return Response(status_code=204)
