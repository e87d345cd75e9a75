"""Progressive output of a running separation: the final part of every stem so far.

The worker writes each newly final part of every stem (after two_stems folding) as 16-bit
PCM, converted as the MP3 previews are, into `storage.partial_dir(project, worker)`, and only
then writes `ready_seconds` on the row with an owned UPDATE, so the row never announces what
is not stored and only the lease holder announces. With a plain data directory the parts are
appended to `<stem>.pcm` (the API reads the same files); with any other store (a bucket the
API reads from another machine, a sealed directory) each part is its own object,
`<stem>/<first frame>.pcm`. The API serves them as WAV (api/partial_audio.py) up to what the
row announces. The folder goes when the job ends, however it ends; the collector removes
those of dead jobs.

Torch-free: the API reads the layout with `read_parts`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np
from sqlalchemy.exc import OperationalError

from isomix import storage
from isomix.audio.writers import clipped_slices, to_int
from isomix.jobs import lease
from isomix.jobs.lease import JobAborted, LeaseKeeper
from isomix.objects import get_store
from isomix.separation.base import AudioArray

log = logging.getLogger(__name__)

MANIFEST: Final = "parts.json"
CHANNELS: Final = 2
SAMPLE_BYTES: Final = 2  # 16-bit little-endian, interleaved
FRAME_BYTES: Final = CHANNELS * SAMPLE_BYTES
# Parts arrive once per model segment, about 5.9 s of audio each for htdemucs: every one is
# announced at once (two segments that run side by side end together, and the second one
# must not wait for the next). Small parts (short segments, fast devices) are announced
# together, at most once per interval.
PUBLISH_INTERVAL_SECONDS: Final = 1.0
PUBLISH_AUDIO_SECONDS: Final = 4.0


def pcm_file_name(stem: str) -> str:
    return f"{stem}.pcm"


@dataclass(frozen=True)
class Parts:
    """The published layout of a running job's parts (not how much of them is final: the
    row's `ready_seconds` says that)."""

    directory: str  # the parts folder's key
    names: tuple[str, ...]
    sample_rate: int

    def pcm_path(self, stem: str) -> Path:
        """A stem's appended PCM file (plain data directory only)."""
        return storage.resolve(self.directory) / pcm_file_name(stem)

    def segments(self, stem: str) -> list[Segment]:
        """A stem's part objects (any other store), contiguous from the start."""
        found: list[Segment] = []
        for item in get_store().listing(f"{self.directory}/{stem}/"):
            first = item.key.rpartition("/")[2].removesuffix(".pcm")
            if first.isdigit():
                found.append(Segment(item.key, int(first), item.size // FRAME_BYTES))
        contiguous: list[Segment] = []
        for segment in sorted(found, key=lambda part: part.start):
            if segment.start != sum(part.frames for part in contiguous):
                break
            contiguous.append(segment)
        return contiguous


@dataclass(frozen=True)
class Segment:
    key: str
    start: int  # first frame
    frames: int


def stores_parts_as_objects() -> bool:
    """Parts as one object each (any store but a plain data directory)."""
    return get_store().kind != "file"


def segment_key(directory: str, stem: str, start: int) -> str:
    return f"{directory}/{stem}/{start:012d}.pcm"


def read_parts(project_id: str, worker_id: str) -> Parts | None:
    """The parts folder of the job `worker_id` runs, or None when there is none (yet).

    A folder's manifest is written once, before anything is announced, and never changes,
    so what was read is remembered (every body of a processing project asks)."""
    directory = storage.partial_dir(project_id, worker_id)
    known = _known_parts.get(directory)
    if known is not None:
        return known
    try:
        manifest = json.loads(get_store().read_bytes(f"{directory}/{MANIFEST}"))
        names = tuple(str(name) for name in manifest["names"])
        sample_rate = int(manifest["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    parts = Parts(directory=directory, names=names, sample_rate=sample_rate)
    with _known_lock:
        if len(_known_parts) >= _KNOWN_AT_MOST:
            _known_parts.clear()
        _known_parts[directory] = parts
    return parts


_KNOWN_AT_MOST: Final = 256
_known_parts: dict[str, Parts] = {}
_known_lock = threading.Lock()


def remove_parts(project_id: str, worker_id: str) -> None:
    """Remove this worker's parts of the project (the job ended, or starts again)."""
    get_store().delete(storage.folder_key(storage.partial_dir(project_id, worker_id)))


class PartWriter:
    """Appends the final parts of a job's stems and announces them on its row.

    `add` is called in order from the start of the song (the engine's `on_part`); the files
    are opened once, so a worker whose folder was removed (it lost the lease) writes only
    into the removed folder.
    """

    def __init__(
        self,
        keeper: LeaseKeeper,
        sample_rate: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keeper = keeper
        self.sample_rate = sample_rate
        self.frames = 0  # written to every file
        self.published = 0  # announced on the row
        self._clock = clock
        self._last_publish = -float("inf")
        self._files: dict[str, BinaryIO] = {}
        self._names: tuple[str, ...] = ()
        self.key = storage.partial_dir(keeper.job_id, keeper.worker_id)
        self.directory = storage.resolve(self.key)
        self.as_objects = stores_parts_as_objects()

    def add(self, start: int, stems: Mapping[str, AudioArray]) -> None:
        """Samples `start` .. `start + n` of every stem (float32 (2, n)), final."""
        if start != self.frames:
            raise ValueError(f"part at {start} does not follow {self.frames}")
        lengths = {audio.shape[-1] for audio in stems.values()}
        if len(lengths) != 1:
            raise ValueError("the stems of a part differ in length")
        if not self._names:
            self._open(tuple(stems))
        elif set(stems) != set(self._names):
            raise ValueError("a part names other stems than the first one")
        if self.as_objects:
            store = get_store()
            for name, audio in stems.items():
                store.put_bytes(_pcm16(audio), segment_key(self.key, name, start))
        else:
            for name, audio in stems.items():
                self._files[name].write(_pcm16(audio))
            for file in self._files.values():
                file.flush()  # in the page cache, where the API's reads see it
        self.frames += lengths.pop()
        now = self._clock()
        unannounced = (self.frames - self.published) / self.sample_rate
        if (
            now - self._last_publish >= PUBLISH_INTERVAL_SECONDS
            or unannounced >= PUBLISH_AUDIO_SECONDS
        ):
            self._last_publish = now
            self.publish()

    def publish(self) -> None:
        """Announce every frame written so far as `ready_seconds` on the row."""
        self.keeper.check()
        if self.frames <= self.published:
            return
        seconds = self.frames / self.sample_rate
        try:
            ours = lease.renew(
                self.keeper.model,
                self.keeper.job_id,
                worker_id=self.keeper.worker_id,
                ready_seconds=seconds,
            )
        except OperationalError:
            # A busy database: the next part announces this one too.
            log.warning("ready_seconds of %s not written; next part", self.keeper.job_id)
            return
        if not ours:
            raise JobAborted("lost")
        self.published = self.frames

    def close(self) -> None:
        for file in self._files.values():
            file.close()
        self._files.clear()

    def remove(self) -> None:
        self.close()
        get_store().delete(storage.folder_key(self.key))

    def _open(self, names: tuple[str, ...]) -> None:
        self._names = names
        manifest = {"names": list(names), "sample_rate": self.sample_rate, "channels": CHANNELS}
        # Whatever an earlier attempt of this worker left goes first.
        if self.as_objects:
            store = get_store()
            store.delete(storage.folder_key(self.key))
            store.put_bytes(json.dumps(manifest).encode(), f"{self.key}/{MANIFEST}")
            return
        storage.remove_tree(self.directory)
        self.directory.mkdir(parents=True)
        storage.write_json(self.directory / MANIFEST, manifest)
        for name in names:
            self._files[name] = (self.directory / pcm_file_name(name)).open("xb")


def _pcm16(audio: AudioArray) -> bytes:
    """Interleaved 16-bit little-endian PCM, clipped and converted as the MP3 previews are
    (outputs.write_stem_set: clip "none", then demucs' 16-bit conversion)."""
    if audio.ndim != 2 or audio.shape[0] != CHANNELS:
        raise ValueError(f"parts are stereo (2, n), got {audio.shape}")
    pieces = [to_int(piece, 16) for piece in clipped_slices(audio, "none")]
    pcm = np.concatenate(pieces, axis=1) if pieces else np.zeros((CHANNELS, 0), np.int16)
    return np.ascontiguousarray(pcm.T, dtype="<i2").tobytes()
