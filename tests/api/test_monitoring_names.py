"""Every metric that deploy/alerts.yml and the Grafana dashboard query is on the real /metrics
of an app that has done some work, so the rules and panels cannot drift from the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.support import upload, wav_bytes
from isomix import liveness
from isomix.jobs.embedded import drain

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# isomix_ names only: `isomix:` names are recording rules, `up` is Prometheus' own.
METRIC_NAME = re.compile(r"\bisomix_[a-z0-9_]+")


def queried_names() -> dict[str, set[str]]:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    dashboard = json.loads((DEPLOY / "grafana" / "isomix-dashboard.json").read_text())
    return {
        "deploy/alerts.yml": {
            name
            for group in rules["groups"]
            for rule in group["rules"]
            for name in METRIC_NAME.findall(rule["expr"])
        },
        "deploy/grafana/isomix-dashboard.json": {
            name
            for panel in dashboard["panels"]
            for target in panel["targets"]
            for name in METRIC_NAME.findall(target["expr"])
        },
    }


def test_every_queried_metric_is_served(client: TestClient) -> None:
    status, _ = upload(client, wav_bytes(1.0), model="demucs_unittest")
    assert status == 202
    assert drain(mp3_previews=False) == 1
    liveness.beat("celery:test:1", "celery")
    response = client.get("/metrics")
    assert response.status_code == 200
    served = {
        sample.name
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    queried = queried_names()
    # The design's five figures and worker liveness are all watched.
    watched = {
        "isomix_upload_seconds_bucket",
        "isomix_separation_seconds_bucket",
        "isomix_jobs_total",
        "isomix_storage_bytes",
        "isomix_queue_length",
        "isomix_workers_alive",
    }
    assert watched <= queried["deploy/grafana/isomix-dashboard.json"]
    assert watched - {"isomix_separation_seconds_bucket"} <= queried["deploy/alerts.yml"]
    for source, names in queried.items():
        missing = names - served
        assert not missing, f"{source} queries metrics that /metrics does not serve: {missing}"
