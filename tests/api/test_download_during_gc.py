"""A download that has started finishes even when the collector deletes its files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from isomix import storage
from isomix.api.routes.stems import zip_stream


def test_a_zip_being_sent_survives_the_deletion_of_its_files(data_dir: Path) -> None:
    files = []
    for index in range(3):
        key = f"stems/set/stem{index}.flac"
        storage.resolve(key).parent.mkdir(parents=True, exist_ok=True)
        storage.resolve(key).write_bytes(bytes([index]) * 300_000)
        files.append((f"stem{index}.flac", key))
    chunks = zip_stream(files)  # the route builds this before the response starts
    first = next(chunks)
    for _, key in files:  # the collector removes the stems meanwhile
        assert storage.remove(storage.resolve(key))
        assert not storage.resolve(key).exists()
    body = first + b"".join(chunks)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == [name for name, _ in files]
        for index, (name, _) in enumerate(files):
            assert archive.read(name) == bytes([index]) * 300_000
