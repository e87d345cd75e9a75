"""Progressive separation in the scaled deployment: a real Celery worker (PostgreSQL, Redis)
announces each final part of the stems on the row, and an API process of its own serves
those parts as growing, playable WAV files while the project is still processing."""

from __future__ import annotations

import io
import time
import wave
from pathlib import Path

import pytest
from celery_support import JOB_TIMEOUT, add_project, status_of
from conftest import Stack
from fastapi.testclient import TestClient

from isomix import storage
from isomix.api.app import create_app
from isomix.models import JobStatus

pytestmark = pytest.mark.integration

SLOW_PARTS_WORKER = str(Path(__file__).resolve().parents[1] / "helpers" / "slow_parts_worker.py")
RATE = 44100
# demucs_unittest: 40 s segments, 30 s apart: a 60 s song is final up to 30 s, then to its
# end (announced before the stem files are written).
SECONDS = 60


def wav_frames(body: bytes) -> int:
    with wave.open(io.BytesIO(body)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (2, 2, RATE)
        return reader.getnframes()


def test_parts_reach_an_api_process_while_a_celery_worker_separates(stack: Stack) -> None:
    # A minute of song on one thread, MP3 previews included, can take longer than the stack's
    # limits for its short test songs (the hard limit stays below the visibility timeout).
    stack.env.update(ISOMIX_JOB_TIME_LIMIT="120", ISOMIX_CELERY_VISIBILITY_TIMEOUT="180")
    stack.start_worker(launcher=(SLOW_PARTS_WORKER,))
    project_id = add_project(stack.data_dir, seconds=SECONDS, seed=3)
    steps: list[float] = []  # ready_seconds seen while processing, each with its files checked
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            body = client.get(f"/api/projects/{project_id}").json()
            if body["status"] != "processing" or not body["ready_seconds"]:
                if body["status"] in ("ready", "failed"):
                    break
            elif not steps or body["ready_seconds"] > steps[-1]:
                ready = body["ready_seconds"]
                assert {stem["url"] for stem in body["stems"]} == {None}  # no masters yet
                assert len(body["stems"]) == 4
                for stem in body["stems"]:
                    response = client.get(stem["preview_url"])
                    assert response.status_code == 200, response.text
                    assert response.headers["content-type"] == "audio/wav"
                    # Every announced frame is in the file (it may hold more: the next part).
                    assert wav_frames(response.content) >= round(ready * RATE)
                steps.append(ready)
            assert time.monotonic() < deadline, f"still {body['status']} after {JOB_TIMEOUT} s"
            time.sleep(0.05)
        final = client.get(f"/api/projects/{project_id}").json()

    assert final["status"] == "ready", final["error"]
    assert status_of(project_id).status == JobStatus.ready
    # Each part was seen on its own, growing, and short of the whole song before the end.
    assert len(steps) >= 2, steps
    assert steps == sorted(steps) and steps[0] < SECONDS, steps
    # The ready project serves its finished stems, and the parts are gone.
    assert final["ready_seconds"] == pytest.approx(SECONDS, abs=0.01)
    assert all(stem["url"] for stem in final["stems"])
    partial = storage.resolve(storage.partial_root(project_id))
    assert not partial.exists() or not any(partial.iterdir())
