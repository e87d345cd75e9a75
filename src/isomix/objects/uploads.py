"""An upload on its way into the store.

With a plain data directory the upload streams straight to `projects/<id>/` and is renamed
in place (storage.UploadWriter). Otherwise it streams to local scratch space (the API has to
read it anyway: the demuxer is chosen from its content and it must decode), and once it has
passed those checks it goes to the store in parts (S3 multipart: never whole in memory) or
sealed, and the scratch copy goes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from isomix import storage
from isomix.objects import get_store
from isomix.objects.scratch import scratch_root


def writer_for(project_id: str, limit: int) -> storage.UploadWriter:
    if get_store().kind == "file":
        return storage.UploadWriter(project_id, limit)
    directory = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-upload-", dir=scratch_root()))
    return storage.UploadWriter(project_id, limit, directory=directory)


def store_upload(writer: storage.UploadWriter, key: str) -> None:
    """Put a finalized upload (`key` from `writer.finalize`) in the store."""
    if writer.in_data_dir:
        return
    try:
        get_store().put_file(writer.path, key)
    finally:
        shutil.rmtree(writer.directory, ignore_errors=True)


def discard_upload(writer: storage.UploadWriter) -> None:
    """Forget an upload that did not become a project, wherever it got to."""
    writer.discard()
    if not writer.in_data_dir:
        get_store().delete(storage.project_files_key(writer.project_id))
