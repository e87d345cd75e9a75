"""The files a finished separation leaves: masters, browser previews and waveform peaks.

Where they go and what they are called is storage.py's; how they are encoded is decided here.

A job writes the lossless masters, a quick preview of each stem (16-bit WAV: the samples the
MP3 is made from, written at disk speed) and the peaks, and the project is ready. The MP3
previews come later (`write_mp3_preview`, run by jobs/previews.py when the worker has no
separation to run): LAME encodes about 60 s of stereo per CPU-second here, so four MP3s cost
a fifth of the separation's own CPU time, and a user waiting for a queue of songs would wait
for every earlier song's MP3s as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import scipy.io.wavfile

from isomix import storage
from isomix.audio import dsp
from isomix.audio.io import encode
from isomix.audio.writers import write_with_pyav
from isomix.separation.base import AudioArray

PEAK_BUCKETS: Final = 2000
MASTER_BIT_DEPTH: Final = 24
PREVIEW_BITRATE: Final = 192
# LAME -q 7 encodes a preview about 3x faster than demucs' -q 2 (measured here); at 192 kbps
# the difference does not matter for listening in the mixer, and the MP3 previews were the
# largest cost of a job after the separation itself (masters stay lossless FLAC).
PREVIEW_MP3_QUALITY: Final = 7


def write_stem_set(
    directory: Path,
    stems: Mapping[str, AudioArray],
    sample_rate: int,
    *,
    on_file: Callable[[float], None] | None = None,
) -> storage.StemLayout:
    """Write every file of a stem set into `directory` (a temporary one) and fsync them.

    `on_file` is told the fraction of files written so far, so the job can report progress
    and notice a cancellation between two encodes.
    """
    directory.mkdir(parents=True, exist_ok=False)
    names = tuple(stems)
    samples = next(iter(stems.values())).shape[-1]
    duration = samples / sample_rate
    # The encoders release the GIL: encode the files side by side, and report each one as
    # it completes.
    files: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        master = {"format": "flac", "bit_depth": MASTER_BIT_DEPTH}
        files.append((storage.stem_file_name(name, "master"), {**master, "audio": stems[name]}))
        quick = {"format": "wav", "bit_depth": 16, "audio": stems[name]}
        files.append((storage.quick_preview_file_name(name), quick))
    workers = max(1, min(len(files), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") as pool:
        futures = [
            # Stems are written as they are (only clamped to full scale): the masters must
            # still add up to the mixture, so no per-stem rescaling.
            pool.submit(
                encode, directory / file_name, sample_rate=sample_rate, clip="none", **options
            )
            for file_name, options in files
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
    storage.write_json(directory / storage.PEAKS_FILE, peaks)
    storage.fsync_tree(directory)
    return storage.StemLayout(names=names, duration_seconds=duration)


def write_mp3_preview(quick: Path, target: Path) -> None:
    """Encode a stem's MP3 preview at `target` from its quick preview `quick` (16-bit WAV):
    the same 16-bit samples as when it was encoded straight from the separation (clip
    "none", demucs' conversion). FileNotFoundError when there is no quick preview."""
    sample_rate, frames = scipy.io.wavfile.read(quick, mmap=True)
    if frames.ndim == 1:
        frames = frames[:, None]
    with storage.atomic_output(target) as file:
        write_with_pyav(
            file,
            "mp3",
            "libmp3lame",
            _planar_slices(frames),
            int(sample_rate),
            channels=frames.shape[1],
            bits=16,
            options={"b": f"{PREVIEW_BITRATE}k", "compression_level": str(PREVIEW_MP3_QUALITY)},
        )
    del frames  # the mapping, before the file can go


def _planar_slices(
    frames: npt.NDArray[np.int16], step: int = 1 << 16
) -> Iterator[npt.NDArray[np.int16]]:
    """(samples, channels) interleaved frames as (channels, samples) slices."""
    for start in range(0, frames.shape[0], step):
        yield np.ascontiguousarray(frames[start : start + step].T)
