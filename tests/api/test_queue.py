"""Queue positions and ETAs come from the rows and the speed measured on this machine."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.support import upload, wav_bytes
from isomix.db import get_sessionmaker
from isomix.models import JobStatus, Project, SeparationStat


def test_positions_and_etas_follow_the_queue_and_measured_speed(client: TestClient) -> None:
    with get_sessionmaker()() as session:
        # Measured here: 2 s of compute per second of audio.
        session.add(SeparationStat(model="demucs_unittest", audio_seconds=10, compute_seconds=20))
        session.commit()
    ids = []
    for seconds in (1.0, 0.5, 2.0):
        status, project = upload(client, wav_bytes(seconds), model="demucs_unittest")
        assert status == 202
        ids.append(str(project["id"]))

    def state(project_id: str) -> tuple[int | None, float | None]:
        body = client.get(f"/api/projects/{project_id}").json()
        return body["queue_position"], body["eta_seconds"]

    assert state(ids[0]) == (1, pytest.approx(2.0))
    assert state(ids[1]) == (2, pytest.approx(3.0))
    assert state(ids[2]) == (3, pytest.approx(7.0))

    # The first one starts and says it needs 1.5 s more: the others wait for that.
    with get_sessionmaker()() as session:
        session.execute(
            update(Project)
            .where(Project.id == ids[0])
            .values(status=JobStatus.processing, progress=25.0, eta_seconds=1.5)
        )
        session.commit()
    assert state(ids[0]) == (None, pytest.approx(1.5))
    assert state(ids[1]) == (1, pytest.approx(2.5))
    assert state(ids[2]) == (2, pytest.approx(6.5))

    models = {model["name"]: model for model in client.get("/api/models").json()}
    assert models["classic"]["speed_rtf"] is None  # never ran here
