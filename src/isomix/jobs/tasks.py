"""The jobs themselves, as plain functions: both runners (embedded and Celery) call these.

Each job claims its row with a compare-and-set (see lease.py) so a duplicate delivery exits at
once, writes its files under temporary names, renames them into place, and only then marks
the row ready in one transaction. Run twice after a crash at any point, a job leaves exactly
one correct result.

Torch is never imported at module level here: the API process imports this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from isomix import speed, stemsets, storage
from isomix.audio import dsp, export_formats, render
from isomix.audio.errors import AudioError
from isomix.audio.io import MODEL_SAMPLE_RATE, decode, encode
from isomix.config import get_settings
from isomix.jobs import lease, outputs, progressive
from isomix.jobs.analysing import analyse_stem_set
from isomix.jobs.lease import Claim, JobAborted, JobModel, LeaseKeeper
from isomix.models import Export, JobStatus, Project, SeparationStat, utcnow
from isomix.objects import get_store
from isomix.objects.layout import read_stem_layout, stored_bytes
from isomix.separation.base import AudioArray, ModelNotInstalledError, SeparationOptions

__all__ = ["run_export", "run_separation", "stem_mix_settings"]

log = logging.getLogger(__name__)

StopCheck = Callable[[], bool]

# Progress bands of a separation, in percent.
_DECODED: Final = 2.0
_SEPARATED: Final = 90.0
_WRITTEN: Final = 99.0
# Time to write one stem (FLAC master, quick WAV preview, peaks) per second of audio, for
# the ETA before the files are written: on the 2-core development machine about 0.12 s of CPU
# for a minute of one stem, so 4 stems of 60 s take about 0.3 s with both cores; doubled for
# a busy machine. The MP3 previews come after the project is ready (jobs/previews.py).
WRITE_SECONDS_PER_STEM_SECOND: Final = 0.005


class JobFailed(Exception):
    """A failure whose message is meant for the user."""


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
    source_path: str
    model: str
    two_stems: str | None
    shifts: int
    cache_key: str


def run_separation(
    project_id: str, *, worker_id: str, should_stop: StopCheck | None = None
) -> Claim:
    """Claim and run; what the claim said (`owner_busy`: send it again later)."""
    claimed = lease.claim(Project, project_id, worker_id=worker_id)
    if claimed is not Claim.claimed:
        return claimed
    log.info("separating project %s (worker %s)", project_id, worker_id)
    try:
        _run_claimed(
            Project,
            project_id,
            worker_id=worker_id,
            should_stop=should_stop,
            work=lambda keeper: _separate(project_id, worker_id, keeper),
        )
    finally:
        # However the job ended (the row no longer announces parts), its parts go.
        progressive.remove_parts(project_id, worker_id)
    return claimed


def _load_project(project_id: str) -> _ProjectJob:
    with lease.session() as db:
        project = db.get(Project, project_id)
        if project is None:
            raise JobAborted("gone")
        return _ProjectJob(
            id=project.id,
            source_path=project.source_path,
            model=project.model,
            two_stems=project.two_stems,
            shifts=project.shifts,
            cache_key=stemsets.project_cache_key(project, get_settings()),
        )


def _separate(project_id: str, worker_id: str, keeper: LeaseKeeper) -> None:
    job = _load_project(project_id)
    if _reuse_stem_set(job, worker_id):
        return
    store = get_store()
    stem_set_id = stemsets.new_stem_set_id(job.id, job.cache_key)
    final = storage.stem_set_dir(stem_set_id)
    layout = read_stem_layout(store, final)
    stat: tuple[float, float] | None = None
    stored: int | None = None
    separated: _Separated | None = None
    if layout is None:
        # A stem set at the final name is only ever complete (it got there by rename, or
        # every object was written before the row): one that does not read back is
        # damaged or half-uploaded by a killed worker: replace it.
        store.delete(storage.folder_key(final))
        separated = _separate_into(job, final, keeper)
        layout, stored = separated.layout, separated.stored
        stat = (layout.duration_seconds, separated.compute_seconds)
    else:
        # An earlier attempt wrote it and died before its commit: reuse it, and refresh its
        # time so the orphan collector leaves it alone.
        log.info("project %s: reusing %s from an interrupted attempt", job.id, final)
        store.touch(final)
        stored = stored_bytes(store, final)
    chosen = _commit_separation(job, worker_id, stem_set_id, layout, stat, stored)
    if chosen.directory != final:
        # Another project with the same content finished first; its stems are ours now.
        store.delete(storage.folder_key(final))
    # Ready: the row no longer announces parts, so they go now rather than after the analysis.
    progressive.remove_parts(job.id, worker_id)
    if separated is not None:
        # Tempo, beats and key from the stems still in memory, once the project is ready.
        analyse_stem_set(chosen.id, separated.stems, separated.sample_rate)


@dataclass(frozen=True)
class _Separated:
    layout: storage.StemLayout
    compute_seconds: float
    stored: int
    stems: dict[str, AudioArray]  # kept for the analysis after the commit
    sample_rate: int


def _separate_into(job: _ProjectJob, final: str, keeper: LeaseKeeper) -> _Separated:
    from isomix.separation.engine import get_engine  # torch, only in workers

    settings = get_settings()
    store = get_store()
    keeper.stage("loading_model")
    engine = get_engine(job.model, device=settings.device)
    keeper.stage("decoding")
    started = time.monotonic()
    with store.local_copy(job.source_path) as source:
        mix = decode(
            source, sample_rate=engine.sample_rate, max_seconds=settings.max_duration_seconds
        )
    audio_seconds = mix.shape[-1] / engine.sample_rate
    stem_count = 2 if job.two_stems else len(engine.sources)
    write_estimate = WRITE_SECONDS_PER_STEM_SECOND * audio_seconds * stem_count
    # Until the first segment is done: what this model took here before (speed.py).
    keeper.progress(
        _DECODED,
        stage="separating",
        eta_seconds=_expected_seconds(job, audio_seconds) - (time.monotonic() - started),
    )
    separating = time.monotonic()
    # Progressive output: each final part of every stem stored, then announced on the row.
    progressive_on = settings.progressive
    parts = progressive.PartWriter(keeper, engine.sample_rate) if progressive_on else None

    def on_part(start: int, part: dict[str, AudioArray]) -> None:
        assert parts is not None
        parts.add(start, _fold_two_stems(part, job))

    def on_progress(fraction: float) -> None:
        # The engine reports each finished segment (every shift and model of a bag counted):
        # the time per segment so far times the segments left, plus the writing to come.
        eta = None
        if fraction > 0:
            elapsed = time.monotonic() - separating
            eta = elapsed / fraction * (1 - fraction) + write_estimate
        keeper.progress(_DECODED + (_SEPARATED - _DECODED) * fraction, eta_seconds=eta)

    try:
        stems: dict[str, AudioArray] = engine.separate(
            mix,
            SeparationOptions(shifts=job.shifts),
            progress=on_progress,
            on_part=on_part if parts is not None else None,
        )
        if parts is not None:
            parts.publish()  # the last part, if it came right after the one before
    finally:
        if parts is not None:
            parts.close()
    del mix
    stems = _fold_two_stems(stems, job)
    keeper.confirm()  # cancelled while the model ran? then write nothing
    keeper.progress(_SEPARATED, stage="writing", eta_seconds=write_estimate)
    # Staging: a `.tmp-<job id>-` folder beside the final one (plain data directory: one
    # rename) or local scratch (sealed, S3), always removed when the block ends.
    with store.staging(storage.STEMS, job.id) as staging:
        temporary = staging / "set"
        layout = outputs.write_stem_set(
            temporary,
            stems,
            engine.sample_rate,
            on_file=lambda done: keeper.progress(_SEPARATED + (_WRITTEN - _SEPARATED) * done),
        )
        keeper.confirm()  # never put in place once the job is no longer ours
        # A plain folder: False inside when another copy of this very job renamed first
        # (only after a lease takeover); its folder is complete and ours is removed.
        stored = store.put_tree(temporary, final)
    return _Separated(layout, time.monotonic() - started, stored, stems, engine.sample_rate)


def _fold_two_stems(stems: dict[str, AudioArray], job: _ProjectJob) -> dict[str, AudioArray]:
    if not job.two_stems:
        return stems
    from isomix.separation.base import two_stems

    try:
        return two_stems(stems, job.two_stems)
    except ValueError as error:
        raise JobFailed(f"Model {job.model} has no stem named {job.two_stems!r}.") from error


def _expected_seconds(job: _ProjectJob, audio_seconds: float) -> float:
    """The whole job's time, from this model's measured speed here (or the assumed one)."""
    with lease.session() as db:
        rtf = speed.expected_rtf(db, job.model)
    return audio_seconds * rtf * max(1, job.shifts)


def _reuse_stem_set(job: _ProjectJob, worker_id: str) -> bool:
    """Finish the project from an existing stem set with the same cache key, if there is one."""
    with lease.session() as db, db.begin():
        claimed = stemsets.claim_existing(db, job.cache_key)
        if claimed is None:
            return False
        if not _mark_project_ready(db, job.id, worker_id, claimed.id, claimed.duration_seconds):
            raise JobAborted("lost")  # rolls back the claim too
    log.info("project %s: same content as stem set %s, no separation needed", job.id, claimed.id)
    return True


def _mark_project_ready(
    db: Session, project_id: str, worker_id: str, stem_set_id: str, duration: float
) -> bool:
    now = utcnow()
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
    layout: storage.StemLayout,
    stat: tuple[float, float] | None,
    stored: int | None = None,
) -> stemsets.Registered:
    """One transaction: the stem set claimed (new, or the one that won a race), the project
    ready, the speed sample. Returns the stem set the project now uses."""
    for attempt in (1, 2):
        try:
            with lease.session() as db, db.begin():
                chosen = stemsets.claim_new(
                    db,
                    stem_set_id=stem_set_id,
                    key=job.cache_key,
                    names=layout.names,
                    duration_seconds=layout.duration_seconds,
                    stored_bytes=stored,
                )
                if not _mark_project_ready(
                    db, job.id, worker_id, chosen.id, layout.duration_seconds
                ):
                    raise JobAborted("lost")
                if stat is not None:
                    db.add(
                        SeparationStat(
                            model=job.model, audio_seconds=stat[0], compute_seconds=stat[1]
                        )
                    )
            log.info("project %s ready (stem set %s)", job.id, chosen.id)
            return chosen
        except IntegrityError:
            # Another job inserted the same cache key between our select and insert: the
            # second pass finds it and shares it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- export


def run_export(export_id: str, *, worker_id: str, should_stop: StopCheck | None = None) -> Claim:
    """Claim and run; what the claim said."""
    claimed = lease.claim(Export, export_id, worker_id=worker_id)
    if claimed is not Claim.claimed:
        return claimed
    log.info("exporting %s (worker %s)", export_id, worker_id)
    _run_claimed(
        Export,
        export_id,
        worker_id=worker_id,
        should_stop=should_stop,
        work=lambda keeper: _export(export_id, worker_id, keeper),
    )
    return claimed


@dataclass(frozen=True)
class _ExportJob:
    encoding: export_formats.ExportEncoding
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
        try:
            encoding = export_formats.from_stored(export.format, export.bitrate, export.bit_depth)
        except ValueError as error:
            raise JobFailed(str(error)) from None
        return _ExportJob(
            encoding=encoding,
            mix=export.mix,
            stem_directory=stem_set.directory,
            stem_names=stemsets.names_of(stem_set.stem_names),
        )


def stem_mix_settings(mix: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, dsp.StemMix]:
    """The StemMix of every stem: from the request, or neutral (0 dB, centre, unmuted)."""
    requested: Mapping[str, Any] = mix.get("stems") or {}
    known = {field.name for field in fields(dsp.StemMix)}
    return {
        name: replace(
            dsp.NEUTRAL_MIX,
            **{key: value for key, value in (requested.get(name) or {}).items() if key in known},
        )
        for name in names
    }


def _read_stems(
    job: _ExportJob, names: tuple[str, ...], options: render.RenderOptions, keeper: LeaseKeeper
) -> dict[str, AudioArray]:
    """The masters of `names`, each cut to the export's range."""
    store = get_store()
    stems: dict[str, AudioArray] = {}
    for index, name in enumerate(names):
        try:
            with store.local_copy(storage.stem_file(job.stem_directory, name, "master")) as master:
                audio = decode(master, sample_rate=MODEL_SAMPLE_RATE)
        except FileNotFoundError as error:
            raise JobFailed("The project's stems are no longer available.") from error
        # A range is copied out, so the rest of the stem is freed; the whole song is not.
        stems[name] = np.ascontiguousarray(
            audio[:, options.window(audio.shape[1], MODEL_SAMPLE_RATE)]
        )
        keeper.progress(60.0 * (index + 1) / len(names))
    return stems


def _export(export_id: str, worker_id: str, keeper: LeaseKeeper) -> None:
    job = _load_export(export_id)
    options = render.RenderOptions.from_mix(job.mix)
    names = options.stems_of(job.stem_names)
    stems = _read_stems(job, names, options, keeper)
    mix = dsp.render_mix(
        stems,
        stem_mix_settings(job.mix, names),
        float(job.mix.get("master_gain_db") or 0.0),
        clip=False,
    )
    del stems
    keeper.progress(70.0)
    audio = render.finish(mix, MODEL_SAMPLE_RATE, options)
    del mix
    keeper.progress(90.0)
    relative = storage.export_file(export_id, job.encoding.format)
    store = get_store()
    # Encoded in the staging folder, then put in place: a rerun simply replaces the file.
    with store.staging(storage.EXPORTS, export_id) as staging:
        rendered = staging / Path(relative).name
        encode(
            rendered,
            audio,
            MODEL_SAMPLE_RATE,
            clip="none",
            **export_formats.encode_options(job.encoding),
        )
        keeper.confirm()
        stored = store.put_file(rendered, relative)
    with lease.session() as db, db.begin():
        ready = lease.finish_owned(
            db,
            Export,
            export_id,
            worker_id=worker_id,
            status=JobStatus.ready,
            now=utcnow(),
            path=relative,
            stored_bytes=stored,
            progress=100.0,
            error=None,
        )
        if not ready:
            raise JobAborted("lost")
    log.info("export %s ready", export_id)
