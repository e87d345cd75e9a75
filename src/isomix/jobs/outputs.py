"""The files a finished separation leaves: masters, browser previews and waveform peaks.

Where they go and what they are called is storage.py's; how they are encoded is decided here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Final

from isomix import storage
from isomix.audio import dsp
from isomix.audio.io import encode
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
    # The encoders release the GIL: encode the files side by side (the MP3 previews cost
    # more than the lossless masters), and report each one as it completes.
    files: list[tuple[str, storage.StemVariant, dict[str, Any]]] = []
    for name in names:
        files.append((name, "master", {"format": "flac", "bit_depth": MASTER_BIT_DEPTH}))
        files.append(
            (
                name,
                "preview",
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
                directory / storage.stem_file_name(name, variant),
                stems[name],
                sample_rate,
                clip="none",
                **options,
            )
            for name, variant, options in files
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
