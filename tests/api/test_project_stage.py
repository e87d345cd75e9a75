"""A project's body says what its job is doing (`stage`) while it processes, and only then."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from api.support import upload, wav_bytes
from isomix.db import get_sessionmaker
from isomix.jobs import lease
from isomix.jobs.lease import Claim
from isomix.models import JobStatus, Project, ProjectStage


def stage_of(client: TestClient, project_id: str) -> object:
    body = client.get(f"/api/projects/{project_id}").json()
    return body["stage"]


def test_stage_is_shown_while_processing_and_null_otherwise(client: TestClient) -> None:
    status, body = upload(client, wav_bytes(1.0), model="demucs_unittest")
    assert status == 202 and body["status"] == "queued"
    project_id = str(body["id"])
    assert body["stage"] is None
    assert lease.claim(Project, project_id, worker_id="w1") is Claim.claimed
    assert stage_of(client, project_id) is None  # taken, not started yet
    keeper = lease.LeaseKeeper(Project, project_id, worker_id="w1")
    stages: tuple[ProjectStage, ...] = ("loading_model", "decoding", "separating", "writing")
    for stage in stages:
        keeper.stage(stage)
        assert stage_of(client, project_id) == stage
    # Cancelled by the user while writing: the row keeps its last stage until the worker
    # notices, the body does not show it.
    with get_sessionmaker()() as session, session.begin():
        session.execute(
            update(Project).where(Project.id == project_id).values(status=JobStatus.cancelled)
        )
    assert client.get(f"/api/projects/{project_id}").json()["status"] == "cancelled"
    assert stage_of(client, project_id) is None
