"""Export requests are numbers and enums checked strictly: no NaN, no infinities, no strays."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.support import insert_ready_project, row_counts, upload, wav_bytes


def post_export(client: TestClient, project_id: str, body: str | dict[str, Any]) -> Any:
    content = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        f"/api/projects/{project_id}/exports",
        content=content,
        headers={"Content-Type": "application/json"},
    )


BAD_BODIES = {
    "nan gain": '{"format": "wav", "stems": {"vocals": {"gain_db": NaN}}}',
    "infinite master": '{"format": "wav", "master_gain_db": Infinity}',
    "minus infinite pan": '{"format": "wav", "stems": {"bass": {"pan": -Infinity}}}',
    "nan as a string": '{"format": "wav", "master_gain_db": "NaN"}',
    "gain too high": {"format": "wav", "stems": {"vocals": {"gain_db": 12.5}}},
    "gain too low": {"format": "wav", "master_gain_db": -61},
    "pan out of range": {"format": "flac", "stems": {"drums": {"pan": 1.01}}},
    "unknown stem": {"format": "wav", "stems": {"guitar": {"mute": True}}},
    "odd mp3 bitrate": {"format": "mp3", "bitrate": 200},
    "mp3 bitrate too low": {"format": "mp3", "bitrate": 64},
    "wav bit depth 32": {"format": "wav", "bit_depth": 32},
    "unknown format": {"format": "ogg"},
    "missing format": {"stems": {}},
    "unknown field": {"format": "wav", "normalize": True},
    "unknown stem field": {"format": "wav", "stems": {"vocals": {"reverb": 1}}},
    "mute as a number": {"format": "wav", "stems": {"vocals": {"mute": 3}}},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_export_request_is_422(client: TestClient, body: str | dict[str, Any]) -> None:
    project_id = insert_ready_project()
    response = post_export(client, project_id, body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_options"
    assert row_counts()["exports"] == 0


def test_valid_request_stores_defaults_for_the_format(client: TestClient) -> None:
    project_id = insert_ready_project()
    mp3 = post_export(client, project_id, {"format": "mp3", "bit_depth": 16}).json()
    assert (mp3["status"], mp3["bitrate"], mp3["bit_depth"]) == ("queued", 192, None)
    wav = post_export(
        client, project_id, {"format": "wav", "stems": {"vocals": {"gain_db": -60, "pan": -1}}}
    ).json()
    assert (wav["bitrate"], wav["bit_depth"], wav["download_url"]) == (None, 24, None)
    assert client.get(f"/api/exports/{wav['id']}").json() == wav
    response = client.get(f"/api/exports/{wav['id']}/download")
    assert response.status_code == 409 and response.json()["code"] == "not_ready"


def test_export_of_a_project_that_is_not_ready_is_409(client: TestClient) -> None:
    status, project = upload(client, wav_bytes(1.0), model="demucs_unittest")
    assert status == 202
    response = post_export(client, str(project["id"]), {"format": "wav"})
    assert response.status_code == 409 and response.json()["code"] == "not_ready"


def test_unknown_ids_are_404(client: TestClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert post_export(client, missing, {"format": "wav"}).status_code == 404
    for url in (f"/api/exports/{missing}", f"/api/exports/{missing}/download"):
        response = client.get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_types_are_strict(client: TestClient) -> None:
    project_id = insert_ready_project()
    for body in (
        {"format": "wav", "master_gain_db": "3"},
        {"format": "wav", "stems": {"vocals": {"mute": 1}}},
        {"format": "mp3", "bitrate": "192"},
        {"format": "mp3", "bitrate": 192.5},
    ):
        assert post_export(client, project_id, body).status_code == 422, body
    # A whole number is a fine float.
    assert (
        post_export(client, project_id, {"format": "wav", "master_gain_db": -6}).status_code == 202
    )
