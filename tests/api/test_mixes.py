"""Named mixes: save, list by name, rename, replace, open (the last opened), delete; names
unique per project, settings bounded (64 KiB as JSON), a cap on mixes per project."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.support import insert_ready_project
from isomix.api.routes import mixes

SETTINGS: dict[str, Any] = {
    "stems": {"vocals": {"gain_db": -3.5, "mute": False, "solo": True, "pan": -0.25}},
    "master_gain_db": -1,
    "tempo": 0.75,
    "pitch_semitones": -2,
    "click": {"gain_db": -6, "mute": False, "pan": 0.5},
    "count_in_bars": 1,
    "sections": [{"name": "Verse", "start": 0}, {"name": "Chorus", "start": 12.5}],
    "loop": {"start": 12.5, "end": 20},
}


def mixes_url(project_id: str) -> str:
    return f"/api/projects/{project_id}/mixes"


def save(client: TestClient, project_id: str, name: str, settings: Any = None) -> Any:
    body = {"name": name, "settings": SETTINGS if settings is None else settings}
    return client.post(mixes_url(project_id), json=body)


def test_save_list_rename_replace_open_delete(client: TestClient) -> None:
    project_id = insert_ready_project()
    created = save(client, project_id, "  Slow   practice ")
    assert created.status_code == 201, created.text
    mix = created.json()
    assert mix["name"] == "Slow practice"
    assert mix["settings"] == SETTINGS | {"master_gain_db": -1.0, "tempo": 0.75}
    assert mix["opened_at"] is None
    assert save(client, project_id, "A first").status_code == 201
    listed = client.get(mixes_url(project_id)).json()
    assert [item["name"] for item in listed] == ["A first", "Slow practice"]

    url = f"{mixes_url(project_id)}/{mix['id']}"
    renamed = client.patch(url, json={"name": "Slower"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Slower"
    assert renamed.json()["settings"] == mix["settings"]
    replaced = client.patch(url, json={"settings": {"tempo": 0.5}}).json()
    assert replaced["name"] == "Slower" and replaced["settings"]["tempo"] == 0.5
    assert replaced["settings"]["sections"] == []

    opened = client.post(f"{url}/open")
    assert opened.status_code == 200
    opened_at = datetime.fromisoformat(opened.json()["opened_at"])
    assert opened_at >= datetime.fromisoformat(replaced["updated_at"])
    # Opening is not a change of the mix.
    assert opened.json()["updated_at"] == replaced["updated_at"]
    latest = max(client.get(mixes_url(project_id)).json(), key=lambda m: m["opened_at"] or "")
    assert latest["id"] == mix["id"]

    assert client.delete(url).status_code == 204
    assert client.delete(url).status_code == 404
    assert [item["name"] for item in client.get(mixes_url(project_id)).json()] == ["A first"]


def test_names_are_unique_per_project(client: TestClient) -> None:
    project_id, other_project = insert_ready_project(), insert_ready_project()
    first = save(client, project_id, "Take").json()
    duplicate = save(client, project_id, " Take ")
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "name_taken"
    assert save(client, other_project, "Take").status_code == 201  # another project's names
    second = save(client, project_id, "Other").json()
    clash = client.patch(f"{mixes_url(project_id)}/{second['id']}", json={"name": "Take"})
    assert clash.status_code == 409 and clash.json()["code"] == "name_taken"
    # Its own name again is no clash.
    same = client.patch(f"{mixes_url(project_id)}/{first['id']}", json={"name": "Take"})
    assert same.status_code == 200


def test_a_mix_of_another_project_is_not_found_through_this_one(client: TestClient) -> None:
    project_id, other_project = insert_ready_project(), insert_ready_project()
    theirs = save(client, other_project, "Theirs").json()
    url = f"{mixes_url(project_id)}/{theirs['id']}"
    for method in ("PATCH", "DELETE"):
        response = client.request(method, url, json={"name": "Mine"})
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert client.post(f"{url}/open").status_code == 404
    assert [m["name"] for m in client.get(mixes_url(other_project)).json()] == ["Theirs"]


def _settings_of_size(size: int) -> dict[str, Any]:
    """Settings whose compact JSON is exactly `size` bytes (an extra field pads it)."""
    settings = {"notes": ""}
    base = len(json.dumps(_filled(settings), separators=(",", ":")).encode())
    settings["notes"] = "x" * (size - base)
    return settings


def _filled(settings: dict[str, Any]) -> dict[str, Any]:
    defaults = {
        "stems": {},
        "master_gain_db": 0.0,
        "tempo": 1.0,
        "pitch_semitones": 0.0,
        "click": None,
        "count_in_bars": 0,
        "sections": [],
        "loop": None,
    }
    return defaults | settings


def test_settings_are_capped_at_64_kib(client: TestClient) -> None:
    project_id = insert_ready_project()
    limit = mixes.MAX_SETTINGS_BYTES
    assert save(client, project_id, "At the cap", _settings_of_size(limit)).status_code == 201
    over = save(client, project_id, "Over", _settings_of_size(limit + 1))
    assert over.status_code == 413 and over.json()["code"] == "settings_too_large"
    mix = save(client, project_id, "Small", {}).json()
    patched = client.patch(
        f"{mixes_url(project_id)}/{mix['id']}", json={"settings": _settings_of_size(limit + 1)}
    )
    assert patched.status_code == 413
    assert client.get(mixes_url(project_id)).json()[1]["settings"]["tempo"] == 1.0


BAD_SETTINGS = {
    "tempo 2": {"tempo": 2},
    "pitch 13": {"pitch_semitones": 13},
    "gain as text": {"stems": {"vocals": {"gain_db": "3"}}},
    "pan 2": {"stems": {"vocals": {"pan": 2}}},
    "loop backwards": {"loop": {"start": 5, "end": 4}},
    "long section name": {"sections": [{"name": "x" * 101, "start": 0}]},
    "too many sections": {"sections": [{"name": "s", "start": i} for i in range(201)]},
    "long stem name": {"stems": {"x" * 101: {}}},
    "count-in 9 bars": {"count_in_bars": 9},
    "not an object": [1, 2],
}


@pytest.mark.parametrize("settings", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_bad_settings_are_422(client: TestClient, settings: Any) -> None:
    project_id = insert_ready_project()
    response = save(client, project_id, "Bad", settings)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_options"
    assert client.get(mixes_url(project_id)).json() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bell\x07inside"])
def test_bad_names_are_422(client: TestClient, name: str) -> None:
    response = save(client, insert_ready_project(), name)
    assert response.status_code == 422, response.text


def test_a_project_keeps_a_bounded_number_of_mixes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mixes, "MAX_MIXES_PER_PROJECT", 3)
    project_id = insert_ready_project()
    for index in range(3):
        assert save(client, project_id, f"Mix {index}").status_code == 201
    refused = save(client, project_id, "One more")
    assert refused.status_code == 409 and refused.json()["code"] == "too_many_mixes"
    assert len(client.get(mixes_url(project_id)).json()) == 3


def test_deleting_the_project_deletes_its_mixes(client: TestClient) -> None:
    project_id = insert_ready_project()
    save(client, project_id, "Kept with the project")
    assert client.delete(f"/api/projects/{project_id}").status_code == 204
    assert client.get(mixes_url(project_id)).status_code == 404
