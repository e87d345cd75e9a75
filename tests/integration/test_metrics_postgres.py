"""/metrics in the scaled deployment: an API process on PostgreSQL reads what a real Celery
worker (another process) did: its liveness, the job it ended, the time it took, the bytes
it stored; and a gracefully stopped worker is no longer alive."""

from __future__ import annotations

import signal
import time

import pytest
from api.support import upload, wav_bytes
from conftest import Stack, wait_until
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from isomix.api.app import create_app

pytestmark = pytest.mark.integration

JOB_TIMEOUT = 90.0


def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(client: TestClient, name: str, **labels: str) -> float | None:
    return scrape(client).get((name, frozenset(labels.items())))


def test_an_api_process_reports_what_a_celery_worker_did(stack: Stack) -> None:
    worker = stack.start_worker()
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        wait_until(
            lambda: sample(client, "isomix_workers_alive", kind="celery") == 1,
            60,
            "the pool child's heartbeat",
        )
        song = wav_bytes(2.0)
        status, project = upload(client, song)
        assert status == 202
        deadline = time.monotonic() + JOB_TIMEOUT
        while client.get(f"/api/projects/{project['id']}").json()["status"] != "ready":
            assert time.monotonic() < deadline, "the separation did not finish"
            time.sleep(0.3)

        samples = scrape(client)

        def value(name: str, **labels: str) -> float:
            return samples[(name, frozenset(labels.items()))]

        assert value("isomix_jobs_total", kind="separation", status="ready") == 1
        assert value("isomix_jobs_total", kind="separation", status="failed") == 0
        assert value("isomix_separation_seconds_count", model="demucs_unittest") == 1
        assert value("isomix_upload_seconds_count") == 1
        assert value("isomix_storage_bytes", kind="uploads") == len(song)
        assert value("isomix_storage_bytes", kind="stems") > 0
        assert value("isomix_queue_length", kind="separation") == 0

        assert client.delete(f"/api/projects/{project['id']}").status_code == 204
        assert sample(client, "isomix_jobs_total", kind="separation", status="ready") == 1

        # A warm shutdown stops the pool child's heartbeat and removes its row.
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        assert sample(client, "isomix_workers_alive", kind="celery") == 0
