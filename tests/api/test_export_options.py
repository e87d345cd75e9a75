"""The practice options of an export request: bounds, the range against the song's length, the
chosen stems, and the file name the download gets."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from api.support import insert_ready_project, row_counts
from isomix import storage
from isomix.db import get_sessionmaker
from isomix.models import Export, JobStatus

BAD = {
    "tempo too slow": ({"tempo": 0.3}, "tempo"),
    "tempo too fast": ({"tempo": 1.51}, "tempo"),
    "pitch 13": ({"pitch_semitones": 13}, "pitch_semitones"),
    "pitch -12.5": ({"pitch_semitones": -12.5}, "pitch_semitones"),
    "end before start": ({"start_seconds": 0.6, "end_seconds": 0.5}, "end_seconds"),
    "end at start": ({"start_seconds": 0.5, "end_seconds": 0.5}, "end_seconds"),
    "negative start": ({"start_seconds": -1}, "start_seconds"),
    "start past the end": ({"start_seconds": 1.0}, "past the end"),
    "end past the end": ({"end_seconds": 1.2}, "past the end"),
    "unknown stem": ({"include_stems": ["vocals", "guitar"]}, "guitar"),
    "no stems": ({"include_stems": []}, "include_stems"),
    "loudness too loud": ({"loudness_lufs": -3}, "loudness_lufs"),
    "loudness as text": ({"loudness_lufs": "-14"}, "loudness_lufs"),
    "tempo nan": ('{"format": "wav", "tempo": NaN}', "tempo"),
    "long file name": ({"filename": "x" * 201}, "filename"),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_practice_options_are_422_in_the_error_shape(
    client: TestClient, case: tuple[dict[str, Any] | str, str]
) -> None:
    fields, mentioned = case
    project_id = insert_ready_project()  # its stems last 1.0 s
    if isinstance(fields, str):
        response = client.post(
            f"/api/projects/{project_id}/exports",
            content=fields,
            headers={"Content-Type": "application/json"},
        )
    else:
        response = client.post(
            f"/api/projects/{project_id}/exports", json={"format": "wav", **fields}
        )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_options"
    assert mentioned in str(body["detail"])
    assert row_counts()["exports"] == 0


def test_good_practice_options_are_stored_with_the_request(client: TestClient) -> None:
    project_id = insert_ready_project()
    body = {
        "format": "mp3",
        "tempo": 0.75,
        "pitch_semitones": -2,
        "start_seconds": 0.25,
        "end_seconds": 1.05,  # a little past 1.0 s: the mixer's decoded buffers differ
        "include_stems": ["vocals", "drums"],
        "loudness_lufs": -14,
        "filename": '  My/take: "slow" ',
    }
    response = client.post(f"/api/projects/{project_id}/exports", json=body)
    assert response.status_code == 202, response.text
    with get_sessionmaker()() as session:
        (export,) = session.query(Export).all()
        stored = export.mix
    assert stored["tempo"] == 0.75 and stored["pitch_semitones"] == -2
    assert (stored["start_seconds"], stored["end_seconds"]) == (0.25, 1.05)
    assert stored["include_stems"] == ["vocals", "drums"]
    assert stored["loudness_lufs"] == -14
    assert stored["filename"] == "My take slow"


def _ready_export(project_id: str, mix: dict[str, Any]) -> str:
    with get_sessionmaker()() as session:
        export = Export(
            project_id=project_id, mix=mix, format="mp3", status=JobStatus.ready, progress=100.0
        )
        session.add(export)
        session.flush()
        export.path = storage.export_file(export.id, "mp3")
        storage.resolve(export.path).parent.mkdir(parents=True, exist_ok=True)
        storage.resolve(export.path).write_bytes(b"not really audio")
        session.commit()
        return export.id


def _saved_as(client: TestClient, export_id: str) -> str:
    body = client.get(f"/api/exports/{export_id}").json()
    header = client.get(body["download_url"]).headers["content-disposition"]
    return unquote(header.split("filename*=UTF-8''", 1)[1])


def test_the_file_name_is_the_downloads_name(client: TestClient) -> None:
    project_id = insert_ready_project(filename="Song.wav")
    named = client.post(
        f"/api/projects/{project_id}/exports",
        json={"format": "mp3", "filename": "Chorus at 75 %"},
    ).json()
    with get_sessionmaker()() as session:
        stored = session.get(Export, named["id"])
        assert stored is not None
        mix = stored.mix
    assert _saved_as(client, _ready_export(project_id, mix)) == "Chorus at 75 %.mp3"
    # Nothing usable left after cleaning, or no name: the usual "<track> - mix".
    assert _saved_as(client, _ready_export(project_id, {"filename": " ../ "})) == "Song - mix.mp3"
    assert _saved_as(client, _ready_export(project_id, {})) == "Song - mix.mp3"
