"""The work behind `isomix separate`: one model, many files, decode/separate/encode overlapped.

Imported only when the command runs (it pulls in numpy, PyAV and, through the engine, torch).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from isomix.audio.io import AudioError, decode, encode
from isomix.separation import store
from isomix.separation.base import (
    AudioArray,
    Engine,
    ModelNotInstalledError,
    SeparationOptions,
    two_stems,
)


@dataclass(frozen=True)
class Job:
    files: list[Path]
    model: str
    two_stems: str | None = None
    shifts: int = 1
    overlap: float = 0.25
    segment: float | None = None
    device: str = "cpu"
    precision: str = "auto"
    format: Literal["wav", "flac", "mp3"] = "wav"
    bitrate: int = 320
    bit_depth: Literal[16, 24] = 16
    float32: bool = False
    clip_mode: Literal["rescale", "clamp", "none"] = "rescale"
    out: Path = Path("separated")
    jobs: int = 0


class JobError(Exception):
    """Stops the whole run before any file is processed (model, device, options)."""


@dataclass
class _Track:
    path: Path
    audio_seconds: float = 0.0
    error: str | None = None
    writes: list[Future[None]] = field(default_factory=list)
    reported: bool = False

    @property
    def name(self) -> str:
        return self.path.name.rsplit(".", 1)[0] if "." in self.path.name else self.path.name


def _say(message: str, *, error: bool = False) -> None:
    tqdm.write(message, file=sys.stderr if error else sys.stdout)


def _describe_failure(error: BaseException) -> str:
    if isinstance(error, AudioError):
        return str(error)
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not an audio file"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    if isinstance(error, MemoryError):
        return "out of memory (try a shorter --segment or a smaller model)"
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _check_stem(job: Job, sources: tuple[str, ...]) -> None:
    if job.two_stems is not None and sources and job.two_stems not in sources:
        raise JobError(
            f"--two-stems {job.two_stems}: model '{job.model}' has no stem '{job.two_stems}' "
            f"(its stems: {', '.join(sources)})"
        )


def _load_engine(job: Job) -> Engine:
    from isomix.separation.engine import DeviceUnavailableError, get_engine

    try:
        engine = get_engine(job.model, device=job.device, precision=job.precision)
    except (ModelNotInstalledError, DeviceUnavailableError, store.ModelStoreError) as error:
        raise JobError(str(error)) from error
    except Exception as error:  # device missing, damaged weights, ...
        raise JobError(f"could not load model '{job.model}': {_describe_failure(error)}") from error
    _check_stem(job, engine.sources)
    max_segment = getattr(engine, "max_segment", None)
    if job.segment is not None and callable(max_segment) and job.segment > max_segment():
        raise JobError(
            f"--segment {job.segment:g}: model '{job.model}' accepts at most "
            f"{max_segment():g} s segments"
        )
    if job.jobs > 0 and job.model != "classic":
        import torch

        torch.set_num_threads(job.jobs)
    return engine


def _preflight(job: Job) -> int:
    """The model's sample rate, from what is installed, without loading torch."""
    try:
        installed = store.require_installed(job.model)
    except ModelNotInstalledError as error:  # the reason, damaged manifests included
        raise JobError(str(error)) from None
    _check_stem(job, installed.sources)
    return installed.sample_rate


_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"


class _ProgressBar:
    def __init__(self, track: _Track) -> None:
        self._bar = tqdm(
            total=round(track.audio_seconds, 1),
            desc=track.name,
            unit="s",
            bar_format=_BAR_FORMAT,
            mininterval=0.25,
            dynamic_ncols=True,
        )

    def __call__(self, fraction: float) -> None:
        target = round(min(max(fraction, 0.0), 1.0) * float(self._bar.total), 1)
        if target > self._bar.n:
            self._bar.update(target - self._bar.n)

    def close(self, *, finished: bool) -> None:
        if finished:
            self(1.0)
        self._bar.close()


def run_job(job: Job) -> int:
    started = time.perf_counter()
    tracks = [_Track(path) for path in job.files]
    try:
        sample_rate = _preflight(job)
    except JobError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _warn_same_names(tracks)
    out_dir = job.out / job.model.replace("/", "_")
    options = SeparationOptions(shifts=job.shifts, overlap=job.overlap, segment=job.segment)
    decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isomix-decode")
    encoder = ThreadPoolExecutor(
        max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="isomix-encode"
    )
    try:
        # The first file decodes while torch and the model load.
        decoded: Future[list[AudioArray]] = decoder.submit(
            _decode_handoff, tracks[0].path, sample_rate
        )
        try:
            engine = _load_engine(job)
        except JobError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if engine.sample_rate != sample_rate:  # a hand-placed model without a manifest
            sample_rate = engine.sample_rate
            decoded = decoder.submit(_decode_handoff, tracks[0].path, sample_rate)
        arithmetic = getattr(engine, "precision", None)  # the classic engine has none
        model = f"{job.model} ({arithmetic})" if arithmetic else job.model
        print(f"Separating {len(tracks)} file(s) with {model}; stems go to {out_dir}")
        notice = getattr(engine, "notice", None)
        if notice:  # the classic fallback says what it is, every time
            print(f"note: {notice}", file=sys.stderr)
        for index, track in enumerate(tracks):
            current = decoded
            if index + 1 < len(tracks):
                decoded = decoder.submit(_decode_handoff, tracks[index + 1].path, sample_rate)
            _separate_one(job, engine, options, track, current, out_dir, encoder)
            _report_finished(tracks[: index + 1], out_dir, wait=False)
        _report_finished(tracks, out_dir, wait=True)
    finally:
        decoder.shutdown(wait=False, cancel_futures=True)
        encoder.shutdown(wait=True, cancel_futures=True)
    return _summary(tracks, time.perf_counter() - started)


def _decode_handoff(path: Path, sample_rate: int) -> list[AudioArray]:
    # A one-item list the consumer pops: a Future keeps its result alive as long as the
    # Future itself, which would pin a 20-minute mixture (423 MB) through every encode.
    return [decode(path, sample_rate=sample_rate)]


def _separate_one(
    job: Job,
    engine: Engine,
    options: SeparationOptions,
    track: _Track,
    decoded: Future[list[AudioArray]],
    out_dir: Path,
    encoder: ThreadPoolExecutor,
) -> None:
    try:
        mix = decoded.result().pop()
    except Exception as error:
        track.error = _describe_failure(error)
        return
    track.audio_seconds = mix.shape[-1] / engine.sample_rate
    bar = _ProgressBar(track)
    try:
        stems = engine.separate(mix, options, bar)
    except Exception as error:
        bar.close(finished=False)
        track.error = f"separation failed: {_describe_failure(error)}"
        return
    bar.close(finished=True)
    del mix
    if job.two_stems is not None:
        stems = two_stems(stems, job.two_stems)
    track_dir = out_dir / track.name
    try:
        track_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        track.error = f"cannot create {track_dir}: {_describe_failure(error)}"
        return
    for stem, audio in stems.items():
        track.writes.append(
            encoder.submit(_writer(job, track_dir, stem, audio, engine.sample_rate))
        )


def _writer(
    job: Job, track_dir: Path, stem: str, audio: AudioArray, sample_rate: int
) -> Callable[[], None]:
    def write() -> None:
        encode(
            track_dir / f"{stem}.{job.format}",
            audio,
            sample_rate,
            format=job.format,
            bit_depth=job.bit_depth,
            float32=job.float32,
            bitrate=job.bitrate,
            clip=job.clip_mode,
        )

    return write


def _report_finished(tracks: list[_Track], out_dir: Path, *, wait: bool) -> None:
    for track in tracks:
        if track.reported:
            continue
        if track.error is None:
            if not wait and not all(write.done() for write in track.writes):
                continue
            for write in track.writes:
                try:
                    write.result()
                except Exception as error:
                    track.error = f"writing stems failed: {_describe_failure(error)}"
                    break
        track.reported = True
        if track.error is not None:
            _say(f"error: {track.path}: {track.error}", error=True)
        else:
            _say(f"{track.path} -> {out_dir / track.name}")


def _warn_same_names(tracks: list[_Track]) -> None:
    seen: dict[str, Path] = {}
    for track in tracks:
        if track.name in seen and seen[track.name] != track.path:
            _say(
                f"warning: {seen[track.name]} and {track.path} both write to "
                f"folder '{track.name}'; the later one wins",
                error=True,
            )
        seen[track.name] = track.path


def _summary(tracks: list[_Track], seconds: float) -> int:
    ok = [track for track in tracks if track.error is None]
    failed = len(tracks) - len(ok)
    line = f"Done: {len(ok)} file(s) separated, {failed} failed, in {seconds:.1f} s"
    audio = sum(track.audio_seconds for track in ok)
    if audio > 0 and seconds > 0:
        # Real-time factor: processing time per second of audio (below 1 is faster than real
        # time); the whole run counts, model loading included.
        line += f" for {audio:.1f} s of audio (real-time factor {seconds / audio:.3f})"
    print(line)
    return 0 if failed == 0 else 1
