"""deploy/'s monitoring: promtool checks the scrape config and the alert rules and runs their
unit tests (deploy/alerts_test.yml) for real; the compose file's Prometheus, Grafana and
Flower point at files that exist and agree with each other (no Docker engine here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = "/usr/bin/promtool"
# A figure read from the database is the same on every instance: summing it straight over
# instances counts it once per instance (take the max over instances first).
SUMMED_OVER_INSTANCES = re.compile(
    r"\bsum\b(\s+by\s*\([^)]*\))?\s*\(\s*(rate\()?"
    r"isomix_(storage|queue|workers|worker_|jobs|job_rows|separation|database)"
)


def load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text())


def promtool() -> str:
    found = shutil.which("promtool") or (PROMTOOL if Path(PROMTOOL).exists() else None)
    if found is None:
        message = "promtool is missing (Debian package prometheus: scripts/system-deps.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: it must run, not skip)", pytrace=False)
        pytest.skip(message)
    return found


def run(*args: str, cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_the_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    tool = promtool()
    assert "SUCCESS" in run(tool, "check", "rules", "alerts.yml", cwd=DEPLOY)
    assert "SUCCESS" in run(tool, "test", "rules", "alerts_test.yml", cwd=DEPLOY)


def test_every_alert_has_a_unit_test() -> None:
    alerts = {
        rule["alert"] for group in load("alerts.yml")["groups"] for rule in group["rules"]
        if "alert" in rule
    }  # fmt: skip
    tested = {
        case["alertname"]
        for test in load("alerts_test.yml")["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {"IsoMixNoLiveWorker", "IsoMixQueueGrowing", "IsoMixJobErrorRate"} <= alerts
    assert {"IsoMixStorageNearLimit"} <= alerts
    for group in load("alerts.yml")["groups"]:
        for rule in group["rules"]:
            assert not SUMMED_OVER_INSTANCES.search(rule["expr"]), rule["expr"]
    assert alerts == tested, f"alerts never seen firing in alerts_test.yml: {alerts - tested}"


def test_the_scrape_config_passes_promtool_check_config(tmp_path: Path) -> None:
    tool = promtool()
    config = load("prometheus.yml")
    (api,) = [job for job in config["scrape_configs"] if job["job_name"] == "isomix-api"]
    # promtool opens the token file: the compose secret's path exists only in the container.
    token_path = api["authorization"]["credentials_file"]
    assert token_path == "/run/secrets/isomix_metrics_token"
    token = tmp_path / "token"
    token.write_text("a-token")
    text = (DEPLOY / "prometheus.yml").read_text().replace(token_path, str(token))
    (tmp_path / "prometheus.yml").write_text(text)
    for rules in config["rule_files"]:
        shutil.copy(DEPLOY / rules, tmp_path / rules)
    output = run(tool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert "is valid prometheus config" in output
    assert f"{len(config['rule_files'])} rule files found" in output


def test_prometheus_scrapes_each_api_instance_with_the_metrics_token() -> None:
    compose = load("docker-compose.yml")
    services = compose["services"]
    config = load("prometheus.yml")
    (api,) = [job for job in config["scrape_configs"] if job["job_name"] == "isomix-api"]
    targets = [target for group in api["static_configs"] for target in group["targets"]]
    instances = sorted(
        name for name, service in services.items()
        if service.get("command", [])[:2] == ["isomix", "serve"]
    )  # fmt: skip
    assert instances == ["api", "api-2"]
    port = services["api"]["command"][services["api"]["command"].index("--port") + 1]
    assert sorted(targets) == sorted(f"{name}:{port}" for name in instances)  # never nginx
    assert api["metrics_path"] == "/metrics"
    assert api["authorization"]["type"] == "Bearer"
    environment = compose["x-isomix"]["environment"]
    assert ":?" in environment["ISOMIX_METRICS_TOKEN"]  # no default token
    # The Host guard answers only the names it knows: the scrape's Host is the target's name.
    allowed = environment["ISOMIX_ALLOWED_HOSTS"].split(",")
    assert all(name in allowed for name in instances)
    # The token reaches Prometheus as the secret file its config reads.
    prometheus = services["prometheus"]
    (secret,) = prometheus["secrets"]
    assert compose["secrets"][secret] == {"environment": "ISOMIX_METRICS_TOKEN"}
    assert api["authorization"]["credentials_file"] == f"/run/secrets/{secret}"


def _bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Source (relative to deploy/) to target of each mount of a file from the repository."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[source] = target
    return mounts


def test_the_monitoring_services_mount_files_that_exist_and_listen_on_loopback() -> None:
    compose = load("docker-compose.yml")
    services = compose["services"]
    for name in ("prometheus", "grafana", "flower"):
        service = services[name]
        assert service["ports"] and all(port.startswith("127.0.0.1:") for port in service["ports"])
        for source in _bind_mounts(service):
            assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is not in deploy/"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in compose["volumes"], volume

    prometheus = _bind_mounts(services["prometheus"])
    config_flag = next(
        flag for flag in services["prometheus"]["command"] if flag.startswith("--config.file=")
    )
    config_path = config_flag.removeprefix("--config.file=")
    assert prometheus["./prometheus.yml"] == config_path
    config_dir = str(Path(config_path).parent)
    for rules in load("prometheus.yml")["rule_files"]:
        assert prometheus[f"./{rules}"] == f"{config_dir}/{rules}"

    grafana = _bind_mounts(services["grafana"])
    assert grafana["./grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = load("grafana/provisioning/dashboards/isomix.yml")["providers"]
    dashboard_target = grafana["./grafana/isomix-dashboard.json"]
    assert str(Path(dashboard_target).parent) == provider["options"]["path"]
    (source,) = load("grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert ":?" in services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]

    flower = services["flower"]
    assert (
        flower["environment"]["CELERY_BROKER_URL"]
        == (compose["x-isomix"]["environment"]["ISOMIX_REDIS_URL"])
    )
    assert ":?" in flower["environment"]["FLOWER_BASIC_AUTH"]  # never open without a password


def test_the_dashboard_reads_the_provisioned_prometheus() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "isomix-dashboard.json").read_text())
    (source,) = load("grafana/provisioning/datasources/prometheus.yml")["datasources"]
    panels = dashboard["panels"]
    assert panels and len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            assert not SUMMED_OVER_INSTANCES.search(target["expr"]), target["expr"]
