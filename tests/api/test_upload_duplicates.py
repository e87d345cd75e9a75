"""Uploading a song that is already in the library answers with that project (200,
`existing: true`) instead of adding a second row; the new upload's files are discarded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.support import files_under, row_counts, upload, wav_bytes
from isomix.db import get_sessionmaker
from isomix.models import JobStatus, Project, utcnow


def project_files(data_dir: Path) -> list[Path]:
    return sorted(files_under(data_dir / "projects"))


def set_row(project_id: object, **values: object) -> None:
    with get_sessionmaker()() as session, session.begin():
        session.execute(update(Project).where(Project.id == project_id).values(**values))


def test_same_file_and_options_answer_the_existing_project(
    client: TestClient, data_dir: Path, song: bytes
) -> None:
    status, first = upload(client, song, model="demucs_unittest", two_stems="vocals")
    assert (status, first["existing"]) == (202, False)
    files = project_files(data_dir)

    status, again = upload(
        client, song, filename="another name.wav", model="demucs_unittest", two_stems="vocals"
    )
    assert status == 200
    assert again["existing"] is True
    assert again["id"] == first["id"] and again["filename"] == "song.wav"
    assert row_counts()["projects"] == 1
    assert project_files(data_dir) == files  # the second upload left nothing behind
    # Only that answer says so; the project itself is an ordinary one.
    assert client.get(f"/api/projects/{first['id']}").json()["existing"] is False
    listed = client.get("/api/projects").json()
    assert listed["total"] == 1 and listed["items"][0]["existing"] is False


@pytest.mark.parametrize(
    "options",
    [
        {"model": "demucs_unittest", "two_stems": "drums"},
        {"model": "demucs_unittest", "shifts": "2"},
    ],
)
def test_other_options_or_other_content_make_a_new_project(
    client: TestClient, song: bytes, options: dict[str, str]
) -> None:
    status, first = upload(client, song, model="demucs_unittest")
    assert status == 202
    status, other = upload(client, song, **options)
    assert (status, other["existing"]) == (202, False) and other["id"] != first["id"]
    status, different = upload(client, wav_bytes(1.0), model="demucs_unittest")
    assert (status, different["existing"]) == (202, False)
    assert row_counts()["projects"] == 3


@pytest.mark.parametrize(
    "gone",
    [
        {"status": JobStatus.failed, "error": "boom"},
        {"status": JobStatus.cancelled},
        {"status": JobStatus.expired},
        {"expires_at": utcnow() - timedelta(minutes=1)},  # due, not yet collected
    ],
    ids=["failed", "cancelled", "expired", "past its expiry"],
)
def test_a_project_that_is_gone_or_failed_is_not_reused(
    client: TestClient, song: bytes, gone: dict[str, object]
) -> None:
    status, first = upload(client, song, model="demucs_unittest")
    assert status == 202
    set_row(first["id"], **gone)
    status, second = upload(client, song, model="demucs_unittest")
    assert (status, second["existing"]) == (202, False)
    assert second["id"] != first["id"]
    assert row_counts()["projects"] == 2


def test_reuse_restarts_the_retention(client: TestClient, song: bytes) -> None:
    status, first = upload(client, song, model="demucs_unittest")
    soon = utcnow() + timedelta(minutes=5)
    set_row(first["id"], expires_at=soon)
    status, again = upload(client, song, model="demucs_unittest")
    assert status == 200 and again["id"] == first["id"]
    assert again["expires_at"] == first["expires_at"] or again["expires_at"] > first["expires_at"]
    with get_sessionmaker()() as session:
        project = session.get(Project, first["id"])
        assert project is not None and project.expires_at is not None
        assert project.expires_at.replace(tzinfo=None) > soon.replace(tzinfo=None) + timedelta(
            hours=1
        )


def test_the_existing_answer_is_in_the_openapi_contract(client: TestClient) -> None:
    operation = client.get("/api/openapi.json").json()["paths"]["/api/projects"]["post"]
    assert operation["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Project"
    }
    existing = operation["responses"]["200"]
    assert "existing: true" in existing["description"]
    assert existing["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Project"
    }
    field = client.get("/api/openapi.json").json()["components"]["schemas"]["Project"]["properties"]
    assert field["existing"]["type"] == "boolean" and field["existing"]["default"] is False
