"""The jobs themselves, as plain functions: both runners (embedded and Celery) call these.

Each job claims its row with a compare-and-set (see lease.py) so a duplicate delivery exits at
once, writes its files under temporary names, renames them into place, and only then marks
the row ready in one transaction. Run twice after a crash at any point, a job leaves exactly
one correct result.

Torch is never imported at module level here: the API process imports this module.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from isomix.audio import dsp
from isomix.audio.errors import AudioError
from isomix.audio.io import MODEL_SAMPLE_RATE, decode, encode
from isomix.config import get_settings
from isomix.jobs import lease, outputs, paths
from isomix.jobs.cleanup import CleanupReport, run_cleanup
from isomix.jobs.lease import Claim, JobAborted, JobModel, LeaseKeeper
from isomix.models import Export, JobStatus, Project, SeparationStat, StemSet
from isomix.separation.base import AudioArray, ModelNotInstalledError, SeparationOptions

__all__ = ["CleanupReport", "cache_key", "run_cleanup", "run_export", "run_separation"]

log = logging.getLogger(__name__)

StopCheck = Callable[[], bool]

# Progress bands of a separation, in percent.
_DECODED: Final = 2.0
_SEPARATED: Final = 90.0
_WRITTEN: Final = 99.0


class JobFailed(Exception):
    """A failure whose message is meant for the user."""


def cache_key(content_sha256: str, model: str, two_stems: str | None, shifts: int) -> str:
    return f"{content_sha256}:{model}:{two_stems or ''}:{shifts}"


# ---------------------------------------------------------------- the common frame


def _run_claimed(
    model: JobModel,
    job_id: str,
    *,
    worker_id: str,
    should_stop: StopCheck | None,
    work: Callable[[LeaseKeeper], None],
) -> None:
    """Run `work` for a claimed job and turn every way it can end into a row state."""
    kind = model.__tablename__
    try:
        with LeaseKeeper(model, job_id, worker_id=worker_id, should_stop=should_stop) as keeper:
            work(keeper)
    except JobAborted as abort:
        if abort.reason == "shutdown":
            lease.release(model, job_id, worker_id=worker_id)
            log.info("%s %s handed back: worker stopping", kind, job_id)
        else:
            log.info("%s %s stopped: cancelled or taken over", kind, job_id)
    except (AudioError, ModelNotInstalledError, JobFailed) as error:
        log.info("%s %s failed: %s", kind, job_id, error)
        lease.fail(model, job_id, worker_id=worker_id, reason=str(error))
    except Exception as error:
        log.exception("%s %s failed unexpectedly", kind, job_id)
        lease.fail(model, job_id, worker_id=worker_id, reason=short_reason(error))


def short_reason(error: BaseException) -> str:
    """A one-line reason for the user; the traceback goes to the log only."""
    name = type(error).__name__
    if name == "SoftTimeLimitExceeded":
        return f"The job took longer than the limit of {get_settings().job_time_limit} s."
    if isinstance(error, MemoryError):
        return "The worker ran out of memory."
    if name == "DeviceUnavailableError":
        return str(error)
    detail = str(error).splitlines()[0][:200] if str(error) else ""
    return f"Internal error ({name}{': ' + detail if detail else ''})."


# ---------------------------------------------------------------- separation


@dataclass(frozen=True)
class _ProjectJob:
    id: str
    filename: str
    source_path: str
    model: str
    two_stems: str | None
    shifts: int
    cache_key: str


def run_separation(
    project_id: str, *, worker_id: str, should_stop: StopCheck | None = None
) -> None:
    if lease.claim(Project, project_id, worker_id=worker_id) is not Claim.claimed:
        return
    log.info("separating project %s (worker %s)", project_id, worker_id)
    _run_claimed(
        Project,
        project_id,
        worker_id=worker_id,
        should_stop=should_stop,
        work=lambda keeper: _separate(project_id, worker_id, keeper),
    )


def _load_project(project_id: str) -> _ProjectJob:
    with lease.session() as db:
        project = db.get(Project, project_id)
        if project is None:
            raise JobAborted("gone")
        return _ProjectJob(
            id=project.id,
            filename=project.filename,
            source_path=project.source_path,
            model=project.model,
            two_stems=project.two_stems,
            shifts=project.shifts,
            cache_key=cache_key(
                project.content_sha256, project.model, project.two_stems, project.shifts
            ),
        )


def _separate(project_id: str, worker_id: str, keeper: LeaseKeeper) -> None:
    job = _load_project(project_id)
    if _reuse_stem_set(job, worker_id):
        return
    stem_set_id = paths.stem_set_id_for(job.id, job.cache_key)
    final = paths.resolve(paths.stem_set_relative(stem_set_id))
    layout = outputs.read_layout(final)
    stat: tuple[float, float] | None = None
    if layout is None:
        # A directory at the final name is only ever complete (it got there by rename); one
        # that does not read back is damaged: replace it.
        paths.remove_tree(final)
        layout, compute_seconds = _separate_into(job, final, keeper)
        stat = (layout.duration_seconds, compute_seconds)
    else:
        # An earlier attempt wrote it and died before its commit: reuse it, and refresh its
        # time so the orphan collector leaves it alone.
        log.info("project %s: reusing %s from an interrupted attempt", job.id, final.name)
        os.utime(final)
    chosen = _commit_separation(job, worker_id, stem_set_id, layout, stat)
    if chosen != stem_set_id:
        # Another project with the same content finished first; its stems are ours now.
        paths.remove_tree(final)


def _separate_into(
    job: _ProjectJob, final: Any, keeper: LeaseKeeper
) -> tuple[outputs.StemLayout, float]:
    from isomix.separation.engine import get_engine  # torch, only in workers

    settings = get_settings()
    engine = get_engine(job.model, device=settings.device)
    keeper.check()
    started = time.monotonic()
    mix = decode(
        paths.resolve(job.source_path),
        sample_rate=engine.sample_rate,
        max_seconds=settings.max_duration_seconds,
    )
    keeper.progress(_DECODED)
    separating = time.monotonic()

    def on_progress(fraction: float) -> None:
        eta = None
        if fraction > 0:
            elapsed = time.monotonic() - separating
            eta = elapsed / fraction * (1 - fraction) + 0.1 * elapsed
        keeper.progress(_DECODED + (_SEPARATED - _DECODED) * fraction, eta_seconds=eta)

    stems: dict[str, AudioArray] = engine.separate(
        mix, SeparationOptions(shifts=job.shifts), progress=on_progress
    )
    del mix
    if job.two_stems:
        from isomix.separation.base import two_stems

        try:
            stems = two_stems(stems, job.two_stems)
        except ValueError as error:
            raise JobFailed(f"Model {job.model} has no stem named {job.two_stems!r}.") from error
    keeper.confirm()  # cancelled while the model ran? then write nothing
    temporary = final.parent / paths.temp_name(job.id)
    try:
        layout = outputs.write_stem_set(
            temporary,
            stems,
            engine.sample_rate,
            on_file=lambda done: keeper.progress(_SEPARATED + (_WRITTEN - _SEPARATED) * done),
        )
        keeper.confirm()  # never rename into place once the job is no longer ours
        try:
            os.replace(temporary, final)
        except OSError:
            # The final name exists and is not empty: another copy of this very job renamed
            # first (possible only after a lease takeover). Its directory is complete.
            if outputs.read_layout(final) is None:
                raise
            paths.remove_tree(temporary)
        paths.fsync_dir(final.parent)
    except Exception:
        # A failed job cleans up after itself; a killed one leaves the folder to the cleanup.
        paths.remove_tree(temporary)
        raise
    return layout, time.monotonic() - started


def _reuse_stem_set(job: _ProjectJob, worker_id: str) -> bool:
    """Finish the project from an existing stem set with the same cache key, if there is one."""
    with lease.session() as db, db.begin():
        existing = db.execute(
            select(StemSet.id, StemSet.duration_seconds).where(StemSet.cache_key == job.cache_key)
        ).first()
        if existing is None:
            return False
        taken = db.execute(
            update(StemSet)
            .where(StemSet.id == existing.id)
            .values(refcount=StemSet.refcount + 1)
            .execution_options(synchronize_session=False)
        )
        if lease.rowcount(taken) != 1:  # collected meanwhile: separate again
            return False
        if not _mark_project_ready(db, job.id, worker_id, existing.id, existing.duration_seconds):
            raise JobAborted("lost")  # rolls back the refcount too
    log.info("project %s: same content as stem set %s, no separation needed", job.id, existing.id)
    return True


def _mark_project_ready(
    db: Any, project_id: str, worker_id: str, stem_set_id: str, duration: float
) -> bool:
    now = lease.utcnow()
    retention = timedelta(hours=get_settings().retention_hours)
    return lease.finish_owned(
        db,
        Project,
        project_id,
        worker_id=worker_id,
        status=JobStatus.ready,
        now=now,
        stem_set_id=stem_set_id,
        progress=100.0,
        eta_seconds=None,
        duration_seconds=duration,
        error=None,
        expires_at=func.coalesce(Project.expires_at, now + retention),
    )


def _commit_separation(
    job: _ProjectJob,
    worker_id: str,
    stem_set_id: str,
    layout: outputs.StemLayout,
    stat: tuple[float, float] | None,
) -> str:
    """One transaction: the stem set row (new, or the one that won a race), the project ready,
    the speed sample. Returns the id of the stem set the project now uses."""
    for attempt in (1, 2):
        try:
            with lease.session() as db, db.begin():
                existing = db.execute(
                    select(StemSet.id).where(StemSet.cache_key == job.cache_key)
                ).scalar_one_or_none()
                if existing is None:
                    db.add(
                        StemSet(
                            id=stem_set_id,
                            cache_key=job.cache_key,
                            directory=paths.stem_set_relative(stem_set_id),
                            stem_names={"names": list(layout.names)},
                            duration_seconds=layout.duration_seconds,
                            refcount=1,
                        )
                    )
                    db.flush()
                    chosen = stem_set_id
                else:
                    db.execute(
                        update(StemSet)
                        .where(StemSet.id == existing)
                        .values(refcount=StemSet.refcount + 1)
                        .execution_options(synchronize_session=False)
                    )
                    chosen = existing
                if not _mark_project_ready(db, job.id, worker_id, chosen, layout.duration_seconds):
                    raise JobAborted("lost")
                if stat is not None:
                    db.add(
                        SeparationStat(
                            model=job.model, audio_seconds=stat[0], compute_seconds=stat[1]
                        )
                    )
            log.info("project %s ready (stem set %s)", job.id, chosen)
            return chosen
        except IntegrityError:
            # Another job inserted the same cache key between our select and insert: the
            # second pass finds it and shares it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- export


def run_export(export_id: str, *, worker_id: str, should_stop: StopCheck | None = None) -> None:
    if lease.claim(Export, export_id, worker_id=worker_id) is not Claim.claimed:
        return
    log.info("exporting %s (worker %s)", export_id, worker_id)
    _run_claimed(
        Export,
        export_id,
        worker_id=worker_id,
        should_stop=should_stop,
        work=lambda keeper: _export(export_id, worker_id, keeper),
    )


@dataclass(frozen=True)
class _ExportJob:
    format: str
    bitrate: int | None
    bit_depth: int | None
    mix: Mapping[str, Any]
    stem_directory: str
    stem_names: tuple[str, ...]


def _load_export(export_id: str) -> _ExportJob:
    with lease.session() as db:
        export = db.get(Export, export_id)
        if export is None:
            raise JobAborted("gone")
        project = db.get(Project, export.project_id)
        stem_set = project.stem_set if project is not None else None
        if project is None or project.status != JobStatus.ready or stem_set is None:
            raise JobFailed("The project's stems are no longer available.")
        return _ExportJob(
            format=export.format,
            bitrate=export.bitrate,
            bit_depth=export.bit_depth,
            mix=export.mix,
            stem_directory=stem_set.directory,
            stem_names=tuple(stem_set.stem_names.get("names", [])),
        )


def stem_mix_settings(mix: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, dsp.StemMix]:
    """The StemMix of every stem: from the request, or 0 dB, centre, unmuted when absent."""
    requested: Mapping[str, Any] = mix.get("stems") or {}
    known = {field.name for field in fields(dsp.StemMix)}
    defaults: dict[str, Any] = {"gain_db": 0.0, "mute": False, "solo": False, "pan": 0.0}
    result = {}
    for name in names:
        given = {key: value for key, value in (requested.get(name) or {}).items() if key in known}
        result[name] = dsp.StemMix(**(defaults | given))
    return result


def _export(export_id: str, worker_id: str, keeper: LeaseKeeper) -> None:
    job = _load_export(export_id)
    directory = paths.resolve(job.stem_directory)
    stems: dict[str, AudioArray] = {}
    for index, name in enumerate(job.stem_names):
        try:
            stems[name] = decode(directory / f"{name}.flac", sample_rate=MODEL_SAMPLE_RATE)
        except FileNotFoundError as error:
            raise JobFailed("The project's stems are no longer available.") from error
        keeper.progress(70.0 * (index + 1) / len(job.stem_names))
    audio = dsp.render_mix(
        stems,
        stem_mix_settings(job.mix, job.stem_names),
        float(job.mix.get("master_gain_db") or 0.0),
    )
    del stems
    keeper.progress(80.0)
    relative = paths.export_relative(export_id, job.format)
    target = paths.resolve(relative)
    # encode() writes a temporary file beside the target, fsyncs it and renames it: a rerun
    # simply replaces the file.
    if job.format == "mp3":
        encode(
            target, audio, MODEL_SAMPLE_RATE, format="mp3", bitrate=job.bitrate or 320, clip="none"
        )
    elif job.format == "wav":
        encode(
            target,
            audio,
            MODEL_SAMPLE_RATE,
            format="wav",
            bit_depth=24 if job.bit_depth == 24 else 16,
            clip="none",
        )
    elif job.format == "flac":
        encode(
            target,
            audio,
            MODEL_SAMPLE_RATE,
            format="flac",
            bit_depth=16 if job.bit_depth == 16 else 24,
            clip="none",
        )
    else:
        raise JobFailed(f"Unknown export format {job.format!r}.")
    with lease.session() as db, db.begin():
        ready = lease.finish_owned(
            db,
            Export,
            export_id,
            worker_id=worker_id,
            status=JobStatus.ready,
            now=lease.utcnow(),
            path=relative,
            progress=100.0,
            error=None,
        )
        if not ready:
            raise JobAborted("lost")
    log.info("export %s ready", export_id)
