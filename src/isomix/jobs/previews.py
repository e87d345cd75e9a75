"""The MP3 previews of finished stem sets, encoded when the worker has no separation to run.

A project is ready once its masters, quick previews (16-bit WAV) and peaks are written
(outputs.write_stem_set); the mixer and the preview links play the quick previews meanwhile.
Encoding the MP3s is deferred because it is a fifth of a separation's CPU time and nobody waits
for it: with a queue of songs, each song is ready as soon as it is separated, and the MP3s
follow when the queue is empty (embedded worker) or behind the separations already queued
(Celery: a previews task sent after each separation, and again by the reconciler while any
are pending).

Every step can be repeated: an MP3 goes in place atomically before its quick preview goes,
and two workers encoding the same stem set write the same files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from isomix import stemsets, storage
from isomix.jobs import outputs
from isomix.objects import get_store
from isomix.objects.layout import stored_bytes

log = logging.getLogger(__name__)


def encode_next(
    *, should_stop: Callable[[], bool] | None = None, busy: Callable[[], bool] | None = None
) -> bool:
    """Encode the MP3 previews of the oldest stem set that still lacks them. True when there
    was one, done or left for later: checked between stems, `should_stop` (the worker is
    stopping) and `busy` (a separation is waiting, and goes first) end the turn early."""
    pending = stemsets.next_pending_previews()
    if pending is None:
        return False
    store = get_store()
    for name in pending.names:
        if (should_stop is not None and should_stop()) or (busy is not None and busy()):
            return True
        if not store.exists(storage.peaks_file(pending.directory)):
            break  # deleted meanwhile (expired, or the project went)
        try:
            encode_mp3_preview(pending.directory, name)
        except Exception:
            # The stem keeps its quick preview, which plays the same samples; trying again
            # at every idle moment would only repeat the failure.
            log.exception("stem set %s: the MP3 preview of %s failed", pending.id, name)
    stemsets.previews_done(pending, stored_bytes(store, pending.directory))
    log.info("stem set %s: MP3 previews written", pending.id)
    return True


def encode_mp3_preview(directory: str, name: str) -> bool:
    """Stem `name`'s MP3 preview from its quick preview, put in place before the quick one
    goes. False when there was no quick preview (already done, or the stem set is gone)."""
    store = get_store()
    quick = storage.quick_preview_file(directory, name)
    target = storage.stem_file(directory, name, "preview")
    try:
        with store.local_copy(quick) as wav, store.staging(directory, Path(directory).name) as out:
            mp3 = out / Path(target).name
            outputs.write_mp3_preview(wav, mp3)
            store.put_file(mp3, target, media_type="audio/mpeg")
    except FileNotFoundError:
        return False
    store.delete(quick)
    return True
