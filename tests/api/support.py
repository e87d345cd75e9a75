"""Helpers shared by the API tests (import as `from api.support import ...`)."""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from isomix.db import get_sessionmaker
from isomix.models import Export, Project, StemSet

SetEnv = Callable[..., None]


def wav_bytes(seconds: float = 2.0, *, rate: int = 44100, channels: int = 2) -> bytes:
    """A 16-bit PCM WAV: a 440 Hz tone left, 660 Hz right."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = bytearray()
        for index in range(frames):
            for channel in range(channels):
                frequency = 440.0 if channel == 0 else 660.0
                value = 0.3 * math.sin(2 * math.pi * frequency * index / rate)
                samples += struct.pack("<h", int(value * 32767))
        out.writeframes(bytes(samples))
    return buffer.getvalue()


def upload(
    client: TestClient,
    content: bytes,
    *,
    filename: str = "song.wav",
    **fields: str,
) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/api/projects",
        files={"file": (filename, content, "application/octet-stream")},
        data=fields,
    )
    return response.status_code, response.json()


def files_under(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()] if directory.exists() else []


def row_counts() -> dict[str, int]:
    with get_sessionmaker()() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Project, StemSet, Export)
        }


def insert_ready_project(
    stems: tuple[str, ...] = ("drums", "bass", "other", "vocals"), *, filename: str = "fake.wav"
) -> str:
    """A ready project whose stem set exists only as rows (for validation tests, no files)."""
    from isomix.models import JobStatus, new_id

    with get_sessionmaker()() as session:
        stem_set = StemSet(
            id=new_id(),
            cache_key=f"fake:{new_id()}",
            directory="stems/fake",
            stem_names={"names": list(stems)},
            duration_seconds=1.0,
            refcount=1,
        )
        project = Project(
            filename=filename,
            source_path="projects/fake/original.wav",
            content_sha256="0" * 64,
            size_bytes=1,
            container="wav",
            duration_seconds=1.0,
            model="demucs_unittest",
            status=JobStatus.ready,
            progress=100.0,
            stem_set=stem_set,
        )
        session.add_all([stem_set, project])
        session.commit()
        return project.id


def http_scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], *, host: bytes = b"127.0.0.1"
) -> dict[str, Any]:
    """The ASGI scope of one raw HTTP request to the app (for tests that drive receive()
    themselves: disconnects, trickles, bodies cut short), from a loopback client."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
