"""A project's `analysis`: the stem set's detection in the body, and the owner's corrections
(PATCH /api/projects/{id}/analysis)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.support import insert_ready_project
from isomix.db import get_sessionmaker
from isomix.models import Project, StemSet

DETECTED = {
    "bpm": 127.98,
    "beats": [0.5, 0.96875, 1.4375, 1.90625, 2.375],
    "downbeats": [0.5, 2.375],
    "key": "A minor",
    "key_confidence": 0.42,
}


def _analysed(analysis: Any = DETECTED) -> str:
    project_id = insert_ready_project()
    with get_sessionmaker()() as db, db.begin():
        stem_set_id = db.get(Project, project_id).stem_set_id  # type: ignore[union-attr]
        db.execute(update(StemSet).where(StemSet.id == stem_set_id).values(analysis=analysis))
    return project_id


def _path(project_id: str) -> str:
    return f"/api/projects/{project_id}/analysis"


def test_the_body_carries_the_detection(client: TestClient) -> None:
    project_id = _analysed()
    analysis = client.get(f"/api/projects/{project_id}").json()["analysis"]
    assert analysis == {
        "bpm": 127.98,
        "bpm_detected": 127.98,
        "key": "A minor",
        "key_detected": "A minor",
        "key_confidence": 0.42,
        "beats": DETECTED["beats"],
        "downbeats": DETECTED["downbeats"],
        "corrected": False,
    }
    listed = client.get("/api/projects").json()["items"]
    assert listed[0]["analysis"]["bpm"] == 127.98


@pytest.mark.parametrize("stored", [None, {"bpm": 120}, {**DETECTED, "key": "H minor"}])
def test_no_or_an_unreadable_analysis_is_null(client: TestClient, stored: Any) -> None:
    project_id = _analysed(stored)
    assert client.get(f"/api/projects/{project_id}").json()["analysis"] is None
    refused = client.patch(_path(project_id), json={"bpm": 120.0})
    assert refused.status_code == 409
    assert refused.json()["code"] == "conflict"


def test_corrections_are_kept_and_cleared_one_by_one(client: TestClient) -> None:
    project_id = _analysed()
    halved = client.patch(_path(project_id), json={"bpm": 63.99})
    assert halved.status_code == 200
    analysis = halved.json()["analysis"]
    assert (analysis["bpm"], analysis["bpm_detected"], analysis["corrected"]) == (
        63.99,
        127.98,
        True,
    )
    keyed = client.patch(_path(project_id), json={"key": "C major"}).json()["analysis"]
    assert (keyed["bpm"], keyed["key"], keyed["key_detected"]) == (63.99, "C major", "A minor")
    # Read back, not just echoed.
    assert client.get(f"/api/projects/{project_id}").json()["analysis"]["key"] == "C major"
    bpm_back = client.patch(_path(project_id), json={"bpm": None}).json()["analysis"]
    assert (bpm_back["bpm"], bpm_back["key"], bpm_back["corrected"]) == (127.98, "C major", True)
    reset = client.patch(_path(project_id), json={"bpm": None, "key": None}).json()["analysis"]
    assert (reset["bpm"], reset["key"], reset["corrected"]) == (127.98, "A minor", False)
    with get_sessionmaker()() as db:
        assert db.get(Project, project_id).analysis_override is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        {"bpm": 19.99},
        {"bpm": 300.01},
        {"bpm": "120"},
        {"key": "Bb major"},
        {"key": "c major"},
        {"key": 3},
        {"tempo": 120},
    ],
)
def test_corrections_out_of_range_are_refused(client: TestClient, body: dict[str, Any]) -> None:
    project_id = _analysed()
    refused = client.patch(_path(project_id), json=body)
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_options"
    assert client.get(f"/api/projects/{project_id}").json()["analysis"]["corrected"] is False


@pytest.mark.parametrize("bpm", [20.0, 300.0])
def test_the_range_ends_are_accepted(client: TestClient, bpm: float) -> None:
    project_id = _analysed()
    assert client.patch(_path(project_id), json={"bpm": bpm}).json()["analysis"]["bpm"] == bpm


def test_a_missing_project_is_a_404(client: TestClient) -> None:
    missing = client.patch(_path("00000000-0000-0000-0000-000000000000"), json={"bpm": 100.0})
    assert missing.status_code == 404
