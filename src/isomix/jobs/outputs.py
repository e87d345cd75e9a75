"""The files a finished separation leaves: masters, browser previews and waveform peaks.

stems/<stem_set_id>/<name>.flac   24-bit FLAC, the lossless master
                    <name>.mp3    192 kbps MP3, what the browser mixer plays
                    peaks.json    exactly the body of GET /api/projects/{id}/peaks
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from isomix.audio import dsp
from isomix.audio.io import encode
from isomix.jobs import paths
from isomix.separation.base import AudioArray

PEAK_BUCKETS: Final = 2000
PREVIEW_BITRATE: Final = 192
# LAME -q 7 encodes a preview about 3x faster than demucs' -q 2 (measured here); at 192 kbps
# the difference does not matter for listening in the mixer, and the MP3 previews were the
# largest cost of a job after the separation itself (masters stay lossless FLAC).
PREVIEW_MP3_QUALITY: Final = 7
PEAKS_FILE: Final = "peaks.json"


@dataclass(frozen=True)
class StemLayout:
    names: tuple[str, ...]
    duration_seconds: float


def write_stem_set(
    directory: Path,
    stems: Mapping[str, AudioArray],
    sample_rate: int,
    *,
    on_file: Callable[[float], None] | None = None,
) -> StemLayout:
    """Write every file of a stem set into `directory` (a temporary one) and fsync them.

    `on_file` is told the fraction of files written so far, so the job can report progress
    and notice a cancellation between two encodes.
    """
    directory.mkdir(parents=True, exist_ok=False)
    names = tuple(stems)
    samples = next(iter(stems.values())).shape[-1]
    duration = samples / sample_rate
    # The encoders release the GIL: encode the files side by side (the MP3 previews cost
    # more than the lossless masters), and report each one as it completes.
    files: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        files.append((f"{name}.flac", {"format": "flac", "bit_depth": 24}))
        files.append(
            (
                f"{name}.mp3",
                {"format": "mp3", "bitrate": PREVIEW_BITRATE, "mp3_quality": PREVIEW_MP3_QUALITY},
            )
        )
    workers = max(1, min(len(files), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") as pool:
        futures = [
            # Stems are written as they are (only clamped to full scale): the masters must
            # still add up to the mixture, so no per-stem rescaling.
            pool.submit(
                encode,
                directory / file,
                stems[file.rsplit(".", 1)[0]],
                sample_rate,
                clip="none",
                **options,
            )
            for file, options in files
        ]
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                future.result()
                if on_file is not None:
                    on_file(done / len(futures))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    peaks = {
        "duration_seconds": duration,
        "buckets": PEAK_BUCKETS,
        "stems": {name: dsp.compute_peaks(stems[name], PEAK_BUCKETS) for name in names},
    }
    write_json(directory / PEAKS_FILE, peaks)
    paths.fsync_tree(directory)
    return StemLayout(names=names, duration_seconds=duration)


def read_layout(directory: Path) -> StemLayout | None:
    """The layout of a finished stem set directory, or None if it is not a complete one."""
    try:
        peaks = json.loads((directory / PEAKS_FILE).read_text())
        names = tuple(peaks["stems"])
        duration = float(peaks["duration_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for name in names:
        if not (directory / f"{name}.flac").is_file() or not (directory / f"{name}.mp3").is_file():
            return None
    return StemLayout(names=names, duration_seconds=duration)


def write_json(path: Path, value: Any) -> None:
    temporary = path.with_name(path.name + ".part")
    with temporary.open("w") as file:
        json.dump(value, file, separators=(",", ":"))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
