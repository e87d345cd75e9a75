"""A rendered mix downloads under the name the UI shows for it.

The cases are the UI's (frontend/src/lib/downloadName.cases.json, also run by Vitest against
frontend/src/lib/downloadName.ts): the server's Content-Disposition must give the same names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from api.support import insert_ready_project
from isomix import storage
from isomix.db import get_sessionmaker
from isomix.filenames import clean_file_name
from isomix.models import Export, JobStatus

CASES_FILE = (
    Path(__file__).resolve().parents[2] / "frontend" / "src" / "lib" / "downloadName.cases.json"
)
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]


def ready_export(filename: str, export_format: str, mix: dict[str, Any] | None = None) -> str:
    """A ready export row of a project named `filename`, with a file on disk."""
    project_id = insert_ready_project(filename=filename)
    with get_sessionmaker()() as session:
        export = Export(
            project_id=project_id,
            mix=mix or {},
            format=export_format,
            status=JobStatus.ready,
            progress=100.0,
        )
        session.add(export)
        session.flush()
        export.path = storage.export_file(export.id, export_format)
        storage.resolve(export.path).parent.mkdir(parents=True, exist_ok=True)
        storage.resolve(export.path).write_bytes(b"not really audio")
        session.commit()
        return export.id


@pytest.mark.parametrize("case", CASES, ids=[case["filename"] for case in CASES])
def test_export_downloads_under_the_name_the_ui_shows(
    client: TestClient, case: dict[str, Any]
) -> None:
    export_id = ready_export(case["filename"], case["format"])
    body = client.get(f"/api/exports/{export_id}").json()
    response = client.get(body["download_url"])
    assert response.status_code == 200
    header = response.headers["content-disposition"]
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == case["name"]


CLEAN: list[dict[str, str]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["clean"]


@pytest.mark.parametrize("case", CLEAN, ids=[repr(case["name"]) for case in CLEAN])
def test_a_name_of_the_users_downloads_made_safe_as_the_ui_shows(
    client: TestClient, case: dict[str, str]
) -> None:
    assert clean_file_name(case["name"]) == case["clean"]
    export_id = ready_export("song.wav", "mp3", mix={"filename": case["name"]})
    body = client.get(f"/api/exports/{export_id}").json()
    header = client.get(body["download_url"]).headers["content-disposition"]
    expected = f"{case['clean']}.mp3" if case["clean"] else "song - mix.mp3"
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == expected
