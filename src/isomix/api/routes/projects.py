"""Projects: upload, list, read, follow (SSE), cancel, retry, delete."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from isomix import logs, plans, schemas, stemsets, storage
from isomix.accounts import usage
from isomix.api import events, urls
from isomix.api.auditing import record_action
from isomix.api.auth import CurrentUser, Principal
from isomix.api.deps import (
    LinkedProject,
    ProjectDep,
    SessionDep,
    SettingsDep,
    WorkerAvailable,
)
from isomix.api.errors import ApiError, error_responses
from isomix.api.events import make_update
from isomix.api.limits import rate_limited, refusal
from isomix.api.options import SeparationChoice, choose
from isomix.api.present import QueueSnapshot, project_out
from isomix.api.upload import ReceivedUpload, check_content_length, receive_upload
from isomix.audio import io as audio_io
from isomix.audio.errors import AudioError, AudioTooLongError, UnsupportedAudioError
from isomix.config import Settings
from isomix.db import get_sessionmaker, rowcount
from isomix.jobs import lease, queue
from isomix.jobs.events import publish_project_changed
from isomix.metrics import metrics_of
from isomix.models import Export, JobStatus, Project, new_id, utcnow
from isomix.objects import deletions
from isomix.objects.uploads import discard_upload, store_upload
from isomix.ratelimit import get_rate_limits

logger = logging.getLogger(__name__)
router = APIRouter(tags=["projects"])

# SSE: how often the broadcaster reads the followed rows (embedded mode; one query for all
# streams), and how often an idle stream sends a comment to stay open.
EVENTS_POLL_SECONDS = 0.1
EVENTS_KEEPALIVE_SECONDS = 15.0
# SQLite integers are 64-bit; a larger offset would be a server error instead of a 422.
MAX_OFFSET = 2**31

# A project in one of these states answers an upload of the same file with the same options.
REUSABLE_STATUSES = (JobStatus.queued, JobStatus.processing, JobStatus.ready)

UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": schemas.UploadForm.model_json_schema()}},
    },
    "responses": {
        "200": {
            "description": "The same file with the same options is already in the library "
            "(queued, processing or ready): that project, with `existing: true`. The upload "
            "was discarded; no new project was created.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Project"}}},
        }
    },
}


def _audio_error(error: AudioError, plan: plans.Plan) -> ApiError:
    if isinstance(error, UnsupportedAudioError):
        return ApiError(415, "unsupported_media", str(error))
    if isinstance(error, AudioTooLongError):
        return refusal(422, "max_duration_minutes", plan, plan.max_duration_minutes, str(error))
    return ApiError(422, "corrupt_audio", str(error))


def _choose_for(
    fields: dict[str, str], principal: Principal, settings: Settings
) -> SeparationChoice:
    """The options, checked against the server (installed models) and the plan."""
    choice = choose(
        model=fields.get("model"),
        two_stems=fields.get("two_stems"),
        shifts=fields.get("shifts"),
        settings=settings,
    )
    plan = principal.plan
    if not plan.allows_model(choice.model):
        raise refusal(
            403,
            "models",
            plan,
            choice.model,
            f"The {plan.title} plan does not include the model '{choice.model}'; it has "
            f"{', '.join(plan.models)}.",
        )
    if choice.shifts > plan.max_shifts:
        raise refusal(
            403,
            "max_shifts",
            plan,
            choice.shifts,
            f"The {plan.title} plan allows at most {plan.max_shifts} shift(s); "
            f"{choice.shifts} were asked for.",
        )
    return choice


def _early_check(fields: dict[str, str], principal: Principal, settings: Settings) -> None:
    """Options that arrived before the file are refused before the file is stored."""
    if "model" in fields or "shifts" in fields:
        _choose_for(fields, principal, settings)


def _too_large(error: ApiError, plan: plans.Plan) -> ApiError:
    if error.code != "too_large":
        return error
    return refusal(413, "max_upload_mb", plan, plan.max_upload_mb, error.detail)


def _reserve_upload(principal: Principal, settings: Settings) -> datetime | None:
    """Rate limit, then one of today's uploads; when it was taken (to give it back), or
    None when the plan has no daily limit."""
    if not settings.accounts:
        return None
    wait = get_rate_limits(settings).hit("upload", principal.user_id)
    if wait is not None:
        raise rate_limited("upload", wait, "Too many uploads in a short time.")
    plan = principal.plan
    if plan.uploads_per_day is None:
        return None
    now = utcnow()
    with get_sessionmaker()() as session:
        if usage.reserve_upload(session, principal.user_id, plan.uploads_per_day, now=now):
            return now
    raise refusal(
        429,
        "uploads_per_day",
        plan,
        plan.uploads_per_day,
        f"The {plan.title} plan allows {plan.uploads_per_day} "
        f"upload{'' if plan.uploads_per_day == 1 else 's'} a day (UTC); today's are used.",
        resets_at=usage.next_reset(now),
    )


def _give_back(principal: Principal, reserved_at: datetime | None) -> None:
    if reserved_at is None:
        return
    with get_sessionmaker()() as session:
        usage.give_back(session, principal.user_id, reserved_at)


@dataclass(frozen=True)
class _Stored:
    project_id: str
    queued: bool  # waits for a separation
    existing: bool  # an existing project answers; nothing was inserted


def _reuse_existing(
    session: Session, sha256: str, choice: SeparationChoice, owner_id: str, plan: plans.Plan
) -> str | None:
    """The newest live project of the same owner, content and options, its retention
    restarted as a new upload's would be; None if there is none. Committed."""
    now = utcnow()
    live = (
        Project.owner_id == owner_id,
        Project.content_sha256 == sha256,
        Project.model == choice.model,
        Project.two_stems == choice.two_stems,
        Project.shifts == choice.shifts,
        Project.status.in_(REUSABLE_STATUSES),
        or_(Project.expires_at.is_(None), Project.expires_at > now),
    )
    found = session.scalar(
        select(Project.id).where(*live).order_by(Project.created_at.desc(), Project.id).limit(1)
    )
    if found is None:
        return None
    kept = session.execute(
        update(Project)
        .where(Project.id == found, *live)
        .values(expires_at=now + timedelta(hours=plan.retention_hours))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return found if rowcount(kept) == 1 else None


def _insert_project(
    *,
    project_id: str,
    upload: ReceivedUpload,
    source_path: str,
    info: audio_io.AudioInfo,
    choice: SeparationChoice,
    principal: Principal,
    settings: Settings,
) -> _Stored:
    """Create the row, unless a live project of the same file and options exists: then that
    one answers. The new row is `ready` at once when a stem set with the same key exists.

    Two identical uploads at the same moment can still both insert (there is no unique
    index); each gets a working project, as before this check.
    """
    plan = principal.plan
    now = utcnow()
    project = Project(
        owner_id=principal.user_id,
        priority=plan.priority,
        job_slots=plan.concurrent_jobs,
        request_id=logs.current_request_id(),  # the worker's lines carry it too
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
        expires_at=now + timedelta(hours=plan.retention_hours),
    )
    key = stemsets.project_cache_key(project, settings)
    with get_sessionmaker()() as session:
        existing = _reuse_existing(session, upload.writer.sha256, choice, principal.user_id, plan)
        if existing is not None:
            return _Stored(project_id=existing, queued=False, existing=True)
        claimed = stemsets.claim_existing(session, key)
        if claimed is not None:
            project.stem_set_id = claimed.id
            project.status = JobStatus.ready
            project.progress = 100.0
            project.started_at = now
            project.finished_at = now
        session.add(project)
        session.commit()
        return _Stored(
            project_id=project_id, queued=project.status == JobStatus.queued, existing=False
        )


def _read_project(project_id: str, settings: Settings, lossless: bool) -> schemas.Project:
    with get_sessionmaker()() as session:
        project = session.get(Project, project_id)
        if project is None:  # deleted in the meantime
            raise ApiError(404, "not_found", "Project not found.")
        return project_out(project, session=session, settings=settings, lossless=lossless)


@router.post(
    urls.PROJECTS,
    status_code=202,
    response_model=schemas.Project,
    openapi_extra=UPLOAD_OPENAPI,
    responses=error_responses(409, 413, 415, 422, 503),
    dependencies=[WorkerAvailable],
)
async def create_project(
    request: Request, settings: SettingsDep, principal: CurrentUser
) -> schemas.Project:
    """Upload a song (multipart: file, and optional model, two_stems, shifts) to separate.

    202 with the new project. 200 with the existing project and `existing: true` when the
    same file (same content) with the same options is already in your library, queued,
    processing or ready: the upload is discarded and no second project is made (and it does
    not count against the daily limit).
    """
    metrics = metrics_of(request)
    plan = principal.plan
    limit = plan.max_upload_bytes
    try:
        reserved_at = await run_in_threadpool(_reserve_upload, principal, settings)
    except ApiError as error:
        metrics.upload_refused(error.code)
        raise
    try:
        check_content_length(request, limit)
        project_id = new_id()
        upload = await receive_upload(
            request,
            project_id=project_id,
            limit=limit,
            on_file_start=lambda fields: _early_check(fields, principal, settings),
        )
    except ApiError as error:
        await run_in_threadpool(_give_back, principal, reserved_at)
        error = _too_large(error, plan)
        metrics.upload_refused(error.code)
        raise error from None
    except BaseException:
        await run_in_threadpool(_give_back, principal, reserved_at)
        raise
    metrics.upload_bytes.inc(upload.writer.size)
    try:
        choice = await run_in_threadpool(_choose_for, upload.fields, principal, settings)
        try:
            info = await run_in_threadpool(
                audio_io.probe, upload.writer.path, max_seconds=plan.max_duration_seconds
            )
        except AudioError as error:
            raise _audio_error(error, plan) from None
        source_path = await run_in_threadpool(upload.writer.finalize, info.extension)
        await run_in_threadpool(store_upload, upload.writer, source_path)
        stored = await run_in_threadpool(
            lambda: _insert_project(
                project_id=project_id,
                upload=upload,
                source_path=source_path,
                info=info,
                choice=choice,
                principal=principal,
                settings=settings,
            )
        )
    except BaseException as error:
        await run_in_threadpool(discard_upload, upload.writer)
        await run_in_threadpool(_give_back, principal, reserved_at)
        if isinstance(error, ApiError):
            metrics.upload_refused(error.code)
        raise
    metrics.upload_accepted()
    lossless = plan.lossless_stems
    if stored.existing:
        # Nothing new was committed: the upload's files are nobody's, and no upload was used.
        await run_in_threadpool(discard_upload, upload.writer)
        await run_in_threadpool(_give_back, principal, reserved_at)
        body = await run_in_threadpool(_read_project, stored.project_id, settings, lossless)
        answer = JSONResponse(
            body.model_copy(update={"existing": True}).model_dump(mode="json"), status_code=200
        )
        # FastAPI sends a returned Response as it is: 200 instead of the route's 202. (With the
        # signature annotated `-> schemas.Project | JSONResponse`, this cast can go.)
        return cast(schemas.Project, answer)
    # Committed: from here on the files belong to the project, whatever happens.
    await run_in_threadpool(
        lambda: record_action(
            request,
            "upload",
            principal,
            object_type="project",
            object_id=project_id,
            detail={"filename": upload.filename, "bytes": upload.writer.size},
        )
    )
    if stored.queued:
        await run_in_threadpool(queue.enqueue_separation, project_id, plan.priority)
        metrics.upload_queued(request)
    return await run_in_threadpool(_read_project, project_id, settings, lossless)


@router.get(urls.PROJECTS, response_model=schemas.ProjectList)
def list_projects(
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> schemas.ProjectList:
    """Your projects, newest first."""
    mine = Project.owner_id == principal.user_id
    total = session.scalar(select(func.count()).select_from(Project).where(mine)) or 0
    rows = session.scalars(
        select(Project)
        .where(mine)
        .order_by(Project.created_at.desc(), Project.id)
        .limit(limit)
        .offset(offset)
    ).all()
    snapshot = QueueSnapshot.load(
        session, [row.id for row in rows if row.status == JobStatus.queued]
    )
    lossless = principal.plan.lossless_stems
    return schemas.ProjectList(
        items=[
            project_out(row, session=session, settings=settings, queue=snapshot, lossless=lossless)
            for row in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(urls.PROJECT, response_model=schemas.Project, responses=error_responses(404))
def read_project(
    project: ProjectDep, session: SessionDep, settings: SettingsDep, principal: CurrentUser
) -> schemas.Project:
    return project_out(
        project, session=session, settings=settings, lossless=principal.plan.lossless_stems
    )


def _lossless(session: Session, owner_id: str, settings: Settings) -> bool:
    """Whether the owner's plan includes the masters (for the links an event carries)."""
    from isomix.accounts import users
    from isomix.models import User

    owner = session.get(User, owner_id)
    return owner is not None and users.plan_of(session, owner, settings).plan.lossless_stems


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
def project_events(
    linked: LinkedProject, request: Request, session: SessionDep, settings: SettingsDep
) -> StreamingResponse:
    """Follow a project: the current state first, then every change; ends when it is done.

    With accounts, by the signed `events_url` of the project's body (EventSource sends no
    Authorization header) or with the owner's bearer token."""
    # Loaded and authorised by the same dependency as every link route; the stream then
    # listens to the process's one broadcaster (api/events.py), so this session is given
    # back before the stream starts instead of being held for as long as the client listens.
    project: Project = linked.object
    lossless = _lossless(session, project.owner_id, settings)
    first = make_update(project_out(project, session=session, settings=settings, lossless=lossless))
    project_id = project.id
    session.close()

    async def stream() -> AsyncIterator[str]:
        yield f"event: project\ndata: {first.body}\n\n"
        if first.terminal:
            return
        # Subscribed after the first read: the broadcaster reloads a new listener's project
        # whatever its updated_at says, so a change in between still arrives.
        broadcaster = events.broadcaster_for(poll_seconds=EVENTS_POLL_SECONDS, settings=settings)
        listener = broadcaster.subscribe(project_id, lossless)
        last_sent = first.body
        try:
            while True:
                if not await listener.wait(EVENTS_KEEPALIVE_SECONDS):
                    yield ": keep-alive\n\n"
                    continue
                update = listener.take()
                if update is not None and update.body != last_sent:
                    yield f"event: project\ndata: {update.body}\n\n"
                    last_sent = update.body
                if listener.gone or (update is not None and update.terminal):
                    return
        finally:
            broadcaster.unsubscribe(listener)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    urls.PROJECT_CANCEL, response_model=schemas.Project, responses=error_responses(404, 409)
)
def cancel_project(
    project: ProjectDep, session: SessionDep, settings: SettingsDep, principal: CurrentUser
) -> schemas.Project:
    """Stop a queued or running separation; the worker notices at its next progress update.
    A separation cancelled before it started gives its upload back to today's count."""
    lossless = principal.plan.lossless_stems
    if project.status == JobStatus.cancelled:
        return project_out(project, session=session, settings=settings, lossless=lossless)
    never_started = project.status == JobStatus.queued and project.started_at is None
    cancelled = session.execute(
        update(Project)
        .where(
            Project.id == project.id,
            Project.status.in_([JobStatus.queued, JobStatus.processing]),
        )
        .values(status=JobStatus.cancelled, eta_seconds=None, finished_at=utcnow())
    )
    if rowcount(cancelled) == 1:
        lease.count_ended(session, Project, JobStatus.cancelled)
    session.commit()
    publish_project_changed(project.id)
    session.refresh(project)
    if rowcount(cancelled) != 1:
        raise ApiError(
            409, "conflict", f"The project is {project.status.value} and cannot be cancelled."
        )
    if never_started and settings.accounts and principal.plan.uploads_per_day is not None:
        usage.give_back(session, principal.user_id, project.created_at)
    return project_out(project, session=session, settings=settings, lossless=lossless)


@router.post(
    urls.PROJECT_RETRY,
    status_code=202,
    response_model=schemas.Project,
    responses=error_responses(404, 409, 503),
    dependencies=[WorkerAvailable],
)
def retry_project(
    project: ProjectDep, session: SessionDep, settings: SettingsDep, principal: CurrentUser
) -> schemas.Project:
    """Queue a failed or cancelled separation again, with a fresh attempt count.

    A project cancelled before it started gave its upload back: queued again, it takes one
    of today's uploads again (429 when none is left; it stays cancelled)."""
    reserved_at = None
    if project.status == JobStatus.cancelled and project.started_at is None:
        reserved_at = _reserve_upload(principal, settings)
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
    publish_project_changed(project.id)
    session.refresh(project)
    if rowcount(retried) != 1:
        _give_back(principal, reserved_at)
        raise ApiError(
            409, "conflict", f"The project is {project.status.value}; only failed or "
            "cancelled projects can be retried."
        )  # fmt: skip
    queue.enqueue_separation(project.id, project.priority)
    return project_out(
        project, session=session, settings=settings, lossless=principal.plan.lossless_stems
    )


@router.delete(urls.PROJECT, status_code=204, responses=error_responses(404))
def delete_project(
    project: ProjectDep,
    session: SessionDep,
    request: Request,
    settings: SettingsDep,
    principal: CurrentUser,
) -> Response:
    """Delete a project, its upload and its exports; its stems go when no project uses them."""
    project_id = project.id
    filename = project.filename
    # Deleted before it started, like a cancelled one, it gives its upload back.
    never_started = project.status == JobStatus.queued and project.started_at is None
    created_at = project.created_at
    session.expunge(project)
    # The row is deleted with a compare-and-set on its stem set: a worker that finishes the
    # job between the load and the delete gives it one, which must be released with it.
    for _attempt in range(5):
        row = session.execute(select(Project.stem_set_id).where(Project.id == project_id)).first()
        if row is None:  # deleted meanwhile
            raise ApiError(404, "not_found", "Project not found.")
        stem_set_id = row.stem_set_id
        exports = session.execute(
            select(Export.id, Export.format).where(Export.project_id == project_id)
        ).all()
        same_stems = (
            Project.stem_set_id.is_(None)
            if stem_set_id is None
            else Project.stem_set_id == stem_set_id
        )
        deleted = session.execute(
            delete(Project)
            .where(Project.id == project_id, same_stems)
            .execution_options(synchronize_session=False)
        )
        if rowcount(deleted) == 1:
            stemsets.release(session, stem_set_id)
            # The files go after the commit; recorded with it, so that a crash or a store
            # that refuses leaves a deletion to retry, never a forgotten file.
            deletions.schedule(
                session,
                storage.project_files_key(project_id),
                *(storage.export_file(export.id, export.format) for export in exports),
            )
            record_action(
                request,
                "delete",
                principal,
                object_type="project",
                object_id=project_id,
                detail={"filename": filename},
                session=session,
            )
            session.commit()
            publish_project_changed(project_id)  # its streams end
            break
        session.rollback()
    else:
        raise ApiError(409, "conflict", "The project changed while it was deleted; try again.")
    if never_started and settings.accounts and principal.plan.uploads_per_day is not None:
        usage.give_back(session, principal.user_id, created_at)
    # Files after the commit: never a row pointing at missing files.
    deletions.run_due()
    if stem_set_id is not None:
        stemsets.collect(stem_set_id)
    return Response(status_code=204)
