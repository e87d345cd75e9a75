"""Database rows -> API bodies: stem colours, queue positions, ETAs, URLs."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from isomix import schemas, stemsets
from isomix.api import urls
from isomix.api.present_analysis import analysis_out
from isomix.config import Settings
from isomix.jobs.progressive import read_parts
from isomix.models import Export, JobStatus, Mix, Project, StemSet, as_utc
from isomix.speed import expected_rtf

STEM_COLORS = {
    "vocals": "#e4572e",
    "drums": "#4c9f70",
    "bass": "#3f7cac",
    "other": "#f2a541",
    "guitar": "#9b5de5",
    "piano": "#f15bb5",
}
# Unknown names get one of these, chosen by a stable hash of the name.
FALLBACK_COLORS = ("#00bbf9", "#00f5d4", "#fee440", "#8d99ae", "#c08497", "#70a288")
NO_STEM_COLOR = "#8d99ae"


def stem_color(name: str) -> str:
    if name in STEM_COLORS:
        return STEM_COLORS[name]
    if name.startswith("no_"):
        return NO_STEM_COLOR
    digest = hashlib.sha256(name.encode()).digest()
    return FALLBACK_COLORS[digest[0] % len(FALLBACK_COLORS)]


def stem_names(stem_set: StemSet) -> list[str]:
    return list(stemsets.names_of(stem_set.stem_names))


@dataclass
class QueueSnapshot:
    """Positions and ETAs of queued projects, computed once per request.

    One worker runs one job at a time (the embedded default), so a queued project waits for
    what is processing now plus every project queued before it. The database numbers the
    queue and sums the work ahead (window functions over the status index): a request reads
    back only the projects it shows, not every queued row.
    """

    positions: dict[str, int] = field(default_factory=dict)
    etas: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, ids: Collection[str] | None = None) -> QueueSnapshot:
        """The queue as it stands; `ids`: only these projects (None: every queued one)."""
        snapshot = cls()
        if ids is not None and not ids:
            return snapshot
        queued = Project.status == JobStatus.queued
        models = session.scalars(select(Project.model).where(queued).distinct()).all()
        if not models:
            return snapshot
        rtf = {model: expected_rtf(session, model) for model in models}
        ahead = 0.0
        processing = session.execute(
            select(
                Project.model,
                Project.duration_seconds,
                Project.shifts,
                Project.progress,
                Project.eta_seconds,
            ).where(Project.status == JobStatus.processing)
        ).all()
        for row in processing:
            if row.eta_seconds is not None:
                ahead += row.eta_seconds
            else:
                rate = rtf.get(row.model) or expected_rtf(session, row.model)
                work = (row.duration_seconds or 0.0) * rate * max(1, row.shifts)
                ahead += work * (1 - row.progress / 100)
        # Seconds of compute per queued project: duration x real-time factor x shifts.
        seconds = (
            func.coalesce(Project.duration_seconds, 0.0)
            * case(rtf, value=Project.model, else_=0.0)
            * case((Project.shifts > 1, Project.shifts), else_=1)
        )
        order = (Project.queued_at, Project.id)
        numbered = (
            select(
                Project.id,
                func.row_number().over(order_by=order).label("position"),
                func.sum(seconds).over(order_by=order).label("through"),
            )
            .where(queued)
            .subquery()
        )
        query = select(numbered.c.id, numbered.c.position, numbered.c.through)
        if ids is not None:
            query = query.where(numbered.c.id.in_(list(ids)))
        for ranked in session.execute(query):
            snapshot.positions[ranked.id] = int(ranked.position)
            snapshot.etas[ranked.id] = ahead + float(ranked.through)
        return snapshot


def project_out(
    project: Project,
    *,
    session: Session,
    settings: Settings,
    queue: QueueSnapshot | None = None,
    lossless: bool = True,
) -> schemas.Project:
    """The one body of a project. `queue`: a snapshot shared by a list; None loads one when
    the project waits in the queue (only a queued project has a position). `lossless`: the
    owner's plan includes the FLAC masters (else no links to them)."""
    if queue is None:
        queued = project.status == JobStatus.queued
        queue = QueueSnapshot.load(session, [project.id]) if queued else QueueSnapshot()
    created_at = as_utc(project.created_at)
    expires_at = (
        as_utc(project.expires_at)
        if project.expires_at is not None
        else created_at + timedelta(hours=settings.retention_hours)
    )
    stems: list[schemas.StemOut] = []
    ready = project.status == JobStatus.ready and project.stem_set is not None
    if ready and project.stem_set is not None:
        stems = [
            schemas.StemOut(
                name=name,
                color=stem_color(name),
                url=urls.stem(project.id, name, settings) if lossless else None,
                preview_url=urls.stem(project.id, name, settings, preview=True),
            )
            for name in stem_names(project.stem_set)
        ]
    ready_seconds = _ready_seconds(project)
    if project.status == JobStatus.processing and ready_seconds and project.lease_owner:
        # Progressive separation: every stem's final part so far, as WAV at the preview link.
        parts = read_parts(project.id, project.lease_owner)
        stems = [
            schemas.StemOut(
                name=name,
                color=stem_color(name),
                url=None,
                preview_url=urls.stem(project.id, name, settings, preview=True),
            )
            for name in (parts.names if parts is not None else ())
        ]
    if project.status == JobStatus.queued:
        eta = queue.etas.get(project.id)
    elif project.status == JobStatus.processing:
        eta = project.eta_seconds
    else:
        eta = None
    return schemas.Project(
        id=project.id,
        filename=project.filename,
        status=project.status.value,
        progress=100.0 if project.status == JobStatus.ready else project.progress,
        eta_seconds=eta,
        stage=project.stage if project.status == JobStatus.processing else None,
        queue_position=queue.positions.get(project.id),
        model=project.model,
        two_stems=project.two_stems,
        shifts=project.shifts,
        duration_seconds=project.duration_seconds,
        error=project.error,
        ready_seconds=ready_seconds,
        stems=stems,
        events_url=urls.project_events(project.id, settings),
        peaks_url=urls.peaks(project.id, settings) if ready else None,
        stems_zip_url=urls.stems_zip(project.id, settings) if ready and lossless else None,
        created_at=created_at,
        updated_at=as_utc(project.updated_at),
        expires_at=expires_at,
        analysis=analysis_out(project) if ready else None,
    )


def _ready_seconds(project: Project) -> float | None:
    """Final seconds from the start in every stem: the row's while processing, all once
    ready."""
    if project.status == JobStatus.processing:
        return project.ready_seconds
    if project.status == JobStatus.ready and project.stem_set is not None:
        return project.duration_seconds
    return None


def export_out(export: Export, settings: Settings) -> schemas.Export:
    status = export.status.value
    error = export.error
    if status in ("cancelled", "expired"):
        # Exports have no such states in the API; for the UI both mean "no file, try again".
        error = error or f"Export {status}."
        status = "failed"
    ready = export.status == JobStatus.ready
    return schemas.Export(
        id=export.id,
        project_id=export.project_id,
        status=status,  # type: ignore[arg-type]
        progress=100.0 if ready else export.progress,
        format=export.format,  # type: ignore[arg-type]
        bitrate=export.bitrate,
        bit_depth=export.bit_depth,
        error=error,
        download_url=urls.export_download(export.id, settings) if ready else None,
        created_at=as_utc(export.created_at),
    )


def mix_out(mix: Mix) -> schemas.Mix:
    return schemas.Mix(
        id=mix.id,
        name=mix.name,
        settings=schemas.MixSettings.model_validate(mix.settings, strict=False),
        created_at=as_utc(mix.created_at),
        updated_at=as_utc(mix.updated_at),
        opened_at=as_utc(mix.opened_at) if mix.opened_at is not None else None,
    )
