"""Helpers for the accounts-mode API tests (import as `from api.accounts_support import ...`).

Users, bearer credentials, ready projects and exports with their files on disk, the daily
quota, and the core of the upload race (`check_upload_race`), which tests/integration can run
against PostgreSQL with a client of its own.
"""

from __future__ import annotations

import io
import struct
import threading
import wave
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from unittest import mock

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response as Response  # what TestClient answers: starlette's is on httpx2
from sqlalchemy import func, select, update

from isomix import plans, ratelimit, stemsets, storage
from isomix.accounts import access, passwords, tokens, usage, users
from isomix.audio.io import encode
from isomix.config import get_settings
from isomix.db import get_sessionmaker
from isomix.models import Export, JobStatus, Project, StemSet, User, new_id, utcnow

PASSWORD: Final = "correct horse battery"
STEMS: Final = ("vocals", "drums")
LOOPBACK_ORIGIN: Final = "http://127.0.0.1"


# ---------------------------------------------------------------- isolation


def fresh_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test of its own for every rate limit: the process keeps one limiter per
    configuration (ratelimit.get_rate_limits), whose in-memory counts would carry over."""
    monkeypatch.setattr(ratelimit, "_instances", {})


# ---------------------------------------------------------------- users and credentials


_HASHES: dict[str, str] = {}


def _hash_once(password: str) -> str:
    """passwords.hash_password, computed once per password for the whole session."""
    if password not in _HASHES:
        _HASHES[password] = _real_hash(password)
    return _HASHES[password]


_real_hash = passwords.hash_password


def make_user(
    email: str,
    *,
    plan: str = "free",
    admin: bool = False,
    until: datetime | None = None,
    password: str = PASSWORD,
) -> str:
    """A user made by accounts.users.create; its id.

    An Argon2id hash takes about half a second on a small machine, so the hash of each
    password is made once per test session and reused (a real hash with the real
    parameters: signing in with it works). Sign-up through the API hashes for real.
    """
    with (
        mock.patch.object(passwords, "hash_password", _hash_once),
        get_sessionmaker()() as session,
    ):
        user = users.create(
            session, email, password, plan=plan, admin=admin, until=until, settings=get_settings()
        )
        return user.id


def access_token(user_id: str) -> str:
    token, _lifetime = access.issue(user_id, get_settings(), now=utcnow())
    return token


def bearer(user_id_or_token: str) -> dict[str, str]:
    """`Authorization` for a user id (a fresh access token) or for a token as it is."""
    token = (
        user_id_or_token
        if tokens.looks_like_api_token(user_id_or_token) or access.looks_like_jwt(user_id_or_token)
        else access_token(user_id_or_token)
    )
    return {"Authorization": f"Bearer {token}"}


def api_token(user_id: str, name: str = "script") -> tuple[str, str]:
    """A personal API token of the user: (its row id, its secret)."""
    with get_sessionmaker()() as session:
        user = session.get(User, user_id)
        assert user is not None
        row, secret = tokens.create_api_token(session, user, name)
        session.commit()
        return row.id, secret


def disable(user_id: str) -> None:
    with get_sessionmaker()() as session:
        user = session.get(User, user_id)
        assert user is not None
        users.disable(session, user)


def plan_name(user_id: str, *, now: datetime | None = None) -> str:
    with get_sessionmaker()() as session:
        user = session.get(User, user_id)
        assert user is not None
        return users.plan_of(session, user, get_settings(), now=now).plan.name


def uploads_today(user_id: str) -> int:
    with get_sessionmaker()() as session:
        return usage.uploads_today(session, user_id)


def projects_of(user_id: str) -> int:
    with get_sessionmaker()() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Project).where(Project.owner_id == user_id)
            )
            or 0
        )


def refresh_cookie(response: Response) -> str:
    """The refresh token a sign-in or refresh set (the cookie is Secure: the test client,
    on http://, would not send it back by itself)."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == "isomix_refresh":
            return rest.partition(";")[0]
    raise AssertionError(f"no isomix_refresh cookie in {response.headers!r}")


def refresh(client: TestClient, cookie: str, *, origin: str | None = LOOPBACK_ORIGIN) -> Response:
    client.cookies.clear()
    headers = {"Cookie": f"isomix_refresh={cookie}"}
    if origin is not None:
        headers["Origin"] = origin
    return client.post("/api/auth/refresh", headers=headers)


def login(client: TestClient, email: str, password: str = PASSWORD, **kwargs: Any) -> Response:
    client.cookies.clear()
    return client.post("/api/auth/login", json={"email": email, "password": password}, **kwargs)


# ---------------------------------------------------------------- audio, stems, exports


def distinct_wav(index: int, seconds: float = 0.2, *, rate: int = 8000) -> bytes:
    """A small mono 16-bit WAV whose content differs for every `index`."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = [(index * 7 + n) % 2000 - 1000 for n in range(frames)]
        samples[0] = index % 32767
        out.writeframes(struct.pack(f"<{frames}h", *samples))
    return buffer.getvalue()


def write_stem_files(directory: str, names: Sequence[str] = STEMS) -> None:
    """A complete stem set folder (masters, previews, peaks), as a job leaves it."""
    audio = np.zeros((2, 4410), np.float32)
    for name in names:
        master = storage.resolve(storage.stem_file(directory, name, "master"))
        encode(master, audio, 44100, format="flac", clip="none")
        preview = storage.resolve(storage.stem_file(directory, name, "preview"))
        encode(preview, audio, 44100, format="mp3", clip="none")
    storage.write_json(
        storage.resolve(storage.peaks_file(directory)),
        {"duration_seconds": 0.1, "buckets": 1, "stems": {name: [0.0] for name in names}},
    )


def ready_project(
    owner_id: str,
    *,
    names: Sequence[str] = STEMS,
    filename: str = "song.wav",
    model: str = "classic",
) -> str:
    """A ready project of `owner_id` with its upload and a stem set of its own on disk."""
    project_id = new_id()
    stem_set_id = new_id()
    directory = storage.stem_set_dir(stem_set_id)
    write_stem_files(directory, names)
    source = f"{storage.project_dir(project_id)}/original.wav"
    source_path = storage.resolve(source)
    source_path.parent.mkdir(parents=True, exist_ok=True)
    source_path.write_bytes(distinct_wav(0))
    now = utcnow()
    with get_sessionmaker()() as session, session.begin():
        session.add(
            StemSet(
                id=stem_set_id,
                cache_key=f"test:{stem_set_id}",
                directory=directory,
                stem_names={"names": list(names)},
                duration_seconds=0.1,
                refcount=1,
            )
        )
        session.add(
            Project(
                id=project_id,
                owner_id=owner_id,
                filename=filename,
                source_path=source,
                content_sha256=new_id().replace("-", "").ljust(64, "0"),
                size_bytes=source_path.stat().st_size,
                container="wav",
                duration_seconds=0.1,
                model=model,
                status=JobStatus.ready,
                progress=100.0,
                started_at=now,
                finished_at=now,
                stem_set_id=stem_set_id,
            )
        )
    return project_id


def ready_export(project_id: str, fmt: str = "mp3") -> str:
    """A finished export of the project, its file on disk."""
    export_id = new_id()
    relative = storage.export_file(export_id, fmt)
    path = storage.resolve(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ID3" + bytes(64))
    now = utcnow()
    with get_sessionmaker()() as session, session.begin():
        session.add(
            Export(
                id=export_id,
                project_id=project_id,
                mix={"format": fmt, "stems": {}, "master_gain_db": 0.0},
                format=fmt,
                bitrate=192 if fmt == "mp3" else None,
                status=JobStatus.ready,
                progress=100.0,
                path=relative,
                finished_at=now,
            )
        )
    return export_id


def finish_separation(project_id: str, names: Sequence[str] = STEMS) -> str:
    """What a separation job does at its end: its stems on disk, registered under the
    project's cache key (stemsets.claim_new), the project ready. The stem set's id."""
    settings = get_settings()
    with get_sessionmaker()() as session, session.begin():
        project = session.get(Project, project_id)
        assert project is not None
        key = stemsets.project_cache_key(project, settings)
        stem_set_id = stemsets.new_stem_set_id(project_id, key)
        write_stem_files(storage.stem_set_dir(stem_set_id), names)
        registered = stemsets.claim_new(
            session, stem_set_id=stem_set_id, key=key, names=list(names), duration_seconds=0.1
        )
        session.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(
                status=JobStatus.ready,
                progress=100.0,
                stem_set_id=registered.id,
                finished_at=utcnow(),
            )
        )
        return registered.id


def refcount_of(stem_set_id: str) -> int | None:
    with get_sessionmaker()() as session:
        row = session.get(StemSet, stem_set_id)
        return None if row is None else row.refcount


def files_of(directory: Path) -> dict[str, int]:
    """Every file under `directory`, relative, with its size."""
    if not directory.exists():
        return {}
    return {
        str(path.relative_to(directory)): path.stat().st_size
        for path in directory.rglob("*")
        if path.is_file()
    }


# ---------------------------------------------------------------- uploads


def upload_as(
    client: TestClient,
    headers: dict[str, str],
    content: bytes,
    *,
    filename: str = "song.wav",
    **fields: str,
) -> Response:
    """POST /api/projects with the form fields first, then the file (as browsers send it)."""
    return client.post(
        "/api/projects",
        headers=headers,
        files={"file": (filename, content, "application/octet-stream")},
        data=fields,
    )


def race_uploads(
    client: TestClient, headers: dict[str, str], *, uploads: int = 20, model: str = "classic"
) -> list[int]:
    """`uploads` different small files sent at the same moment by one user; the statuses.

    Every thread waits at a barrier, so the requests reach the quota reservation together.
    """
    bodies = [distinct_wav(index + 1) for index in range(uploads)]
    barrier = threading.Barrier(uploads)

    def one(index: int) -> int:
        barrier.wait(timeout=60)
        response = upload_as(
            client, headers, bodies[index], filename=f"race-{index}.wav", model=model
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=uploads) as pool:
        return list(pool.map(one, range(uploads)))


def check_upload_race(
    client: TestClient, *, runs: int = 10, uploads: int = 20, email_prefix: str = "racer"
) -> None:
    """A fresh Free user per run with its whole daily quota left sends `uploads` uploads at
    once: exactly the quota is accepted (202), every other one is refused (429), and the
    day's count is the quota, never more. The database is whatever the settings name."""
    quota = plans.plan_named("free", get_settings()).uploads_per_day
    assert quota is not None and quota < uploads
    for run in range(runs):
        user_id = make_user(f"{email_prefix}-{run}-{new_id()[:8]}@example.com")
        statuses = race_uploads(client, bearer(user_id), uploads=uploads)
        assert Counter(statuses) == {202: quota, 429: uploads - quota}, (run, Counter(statuses))
        assert uploads_today(user_id) == quota, run
        assert projects_of(user_id) == quota, run
