"""The compose file parses and keeps the settings the reliability notes ask for (there is no
Docker engine in CI to run `docker compose config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_services_and_shared_data_volume() -> None:
    services = compose()["services"]
    assert {"api", "worker", "redis", "postgres"} <= set(services)
    for name in ("api", "worker", "worker-exports"):
        service = services[name]
        assert "isomix-data:/data" in service["volumes"]
        env = service["environment"]
        assert env["ISOMIX_REDIS_URL"].startswith("redis://redis:")
        assert env["ISOMIX_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert int(env["ISOMIX_CELERY_VISIBILITY_TIMEOUT"]) > int(env["ISOMIX_JOB_TIME_LIMIT"])
    assert services["api"]["command"][:2] == ["isomix", "serve"]
    assert services["worker"]["command"][:2] == ["isomix", "worker"]


def test_redis_is_durable_and_never_evicts() -> None:
    command = " ".join(compose()["services"]["redis"]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_image_pins_cpu_torch() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert '"torch==2.13.0"' in dockerfile
    assert "download.pytorch.org/whl/cpu" in dockerfile


def test_the_scaled_deployment_hosts_for_others_with_one_key_and_one_beat() -> None:
    loaded = compose()
    environment = loaded["x-isomix"]["environment"]
    assert environment["ISOMIX_AUTH_MODE"].endswith("accounts}")
    # No default secret: compose refuses to start without one shared key.
    assert ":?" in environment["ISOMIX_SECRET_KEY"]
    beat = loaded["services"]["beat"]
    assert beat["command"] == ["isomix", "beat"]
    assert "deploy" not in beat or beat["deploy"].get("replicas", 1) == 1
