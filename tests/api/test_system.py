"""OpenAPI, health, readiness, metrics, config, models, the UI at /, and a torch-free API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from api.support import SetEnv, upload, wav_bytes
from isomix.api.app import create_app

EXPECTED_OPERATIONS = {
    ("post", "/api/projects"): "projects-create_project",
    ("get", "/api/projects"): "projects-list_projects",
    ("get", "/api/projects/{project_id}"): "projects-read_project",
    ("delete", "/api/projects/{project_id}"): "projects-delete_project",
    ("get", "/api/projects/{project_id}/events"): "projects-project_events",
    ("post", "/api/projects/{project_id}/cancel"): "projects-cancel_project",
    ("post", "/api/projects/{project_id}/retry"): "projects-retry_project",
    ("get", "/api/projects/{project_id}/stems/{stem}"): "stems-download_stem",
    ("get", "/api/projects/{project_id}/stems.zip"): "stems-download_stems_zip",
    ("get", "/api/projects/{project_id}/peaks"): "stems-read_peaks",
    ("post", "/api/projects/{project_id}/exports"): "exports-create_export",
    ("get", "/api/exports/{export_id}"): "exports-read_export",
    ("get", "/api/exports/{export_id}/download"): "exports-download_export",
    ("get", "/api/models"): "models-list_models",
    ("get", "/api/config"): "config-read_config",
}


def test_openapi_has_every_route_with_clean_operation_ids(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    operations = {
        (method, path): operation["operationId"]
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    for key, operation_id in EXPECTED_OPERATIONS.items():
        assert operations.get(key) == operation_id, key
    assert all(
        operation.get("tags")
        for methods in spec["paths"].values()
        for operation in methods.values()
    )
    upload_body = spec["paths"]["/api/projects"]["post"]["requestBody"]["content"]
    assert "file" in upload_body["multipart/form-data"]["schema"]["properties"]
    assert client.get("/api/docs").status_code == 200


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(
    client: TestClient, set_env: SetEnv, tmp_path: Path
) -> None:
    set_env(database_url=f"sqlite:///{tmp_path}/missing-dir/sub/isomix.db")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")


def test_readyz_is_503_when_redis_is_unreachable(client: TestClient, set_env: SetEnv) -> None:
    set_env(redis_url="redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["queue"].startswith("error")


def test_metrics_read_jobs_from_the_database_and_label_routes_by_template(
    client: TestClient,
) -> None:
    status, project = upload(client, wav_bytes(1.0), model="demucs_unittest")
    assert status == 202
    client.get(f"/api/projects/{project['id']}")
    client.get("/api/projects/00000000-0000-4000-8000-000000000000")
    text = client.get("/metrics").text
    assert 'isomix_job_rows{kind="separation",status="queued"} 1.0' in text
    assert 'isomix_queue_length{kind="separation"} 1.0' in text
    assert "isomix_upload_bytes_total" in text
    assert 'isomix_uploads_total{outcome="accepted"} 1.0' in text
    assert 'route="/api/projects/{project_id}",status="200"' in text
    assert 'route="/api/projects/{project_id}",status="404"' in text
    assert str(project["id"]) not in text


def test_config_and_models(client: TestClient, set_env: SetEnv) -> None:
    set_env(max_upload_bytes=12345, max_duration_seconds=60)
    config = client.get("/api/config").json()
    assert config["max_upload_bytes"] == 12345 and config["max_duration_seconds"] == 60
    models = client.get("/api/models").json()
    by_name = {model["name"]: model for model in models}
    # Nothing downloaded here: the weight-free engine is the default and says it is weak.
    assert config["default_model"] == "classic"
    assert [model["name"] for model in models if model["default"]] == ["classic"]
    assert by_name["classic"]["installed"] and by_name["classic"]["low_quality"]
    assert not by_name["htdemucs"]["installed"]
    commands = by_name["htdemucs"]["install_commands"]
    assert any(command.endswith("isomix models pull htdemucs") for command in commands)
    assert "`" not in by_name["htdemucs"]["install_hint"]  # prose, no Markdown
    assert by_name["htdemucs_6s"]["stems"] == [
        "drums",
        "bass",
        "other",
        "vocals",
        "guitar",
        "piano",
    ]


def test_list_is_newest_first_and_paginated(client: TestClient) -> None:
    ids = []
    for seconds in (0.5, 0.6, 0.7):
        status, project = upload(client, wav_bytes(seconds), model="demucs_unittest")
        assert status == 202
        ids.append(project["id"])
    page = client.get("/api/projects", params={"limit": 2, "offset": 0}).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [item["id"] for item in page["items"]] == [ids[2], ids[1]]
    # Oldest queued first: positions follow upload order.
    assert [item["queue_position"] for item in page["items"]] == [3, 2]
    rest = client.get("/api/projects", params={"limit": 2, "offset": 2}).json()
    assert [item["id"] for item in rest["items"]] == [ids[0]]
    assert client.get("/api/projects", params={"limit": 0}).status_code == 422
    # Found by Schemathesis: an offset past SQLite's 64-bit integers was a 500.
    assert client.get("/api/projects", params={"offset": 10**30}).status_code == 422


def test_unknown_project_is_404_everywhere(client: TestClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    base = f"/api/projects/{missing}"
    for method, url in (
        ("GET", base),
        ("GET", f"{base}/events"),
        ("GET", f"{base}/stems/vocals"),
        ("GET", f"{base}/stems.zip"),
        ("GET", f"{base}/peaks"),
        ("POST", f"{base}/cancel"),
        ("POST", f"{base}/retry"),
        ("DELETE", base),
    ):
        response = client.request(method, url)
        assert response.status_code == 404, (method, url)
        assert response.json()["code"] == "not_found"


def test_ui_is_served_with_spa_fallback(
    client: TestClient, set_env: SetEnv, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>isomix app</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not for you")
    set_env(ui_dir=dist)
    assert client.get("/").text == "<html>isomix app</html>"
    assert client.get("/projects/abc/mixer").text == "<html>isomix app</html>"
    assert client.get("/assets/app.js").text == "console.log(1)"
    assert "not for you" not in client.get("/../secret.txt").text
    assert "not for you" not in client.get("/assets/%2e%2e/%2e%2e/secret.txt").text
    api_miss = client.get("/api/nothing/here")
    assert api_miss.status_code == 404 and api_miss.json()["code"] == "not_found"


def test_missing_ui_build_says_how_to_build_it(
    client: TestClient, set_env: SetEnv, tmp_path: Path
) -> None:
    set_env(ui_dir=tmp_path / "not-built")
    page = client.get("/")
    assert page.status_code == 200 and "make serve" in page.text


def test_the_api_never_imports_torch(data_dir: Path) -> None:
    # A fresh interpreter (this one has torch from other tests) that creates the app and
    # serves an upload, a project, the models and the metrics.
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from isomix.api.app import create_app\n"
        "from isomix.migrate import ensure_schema\n"
        "from api.support import wav_bytes\n"
        "app = create_app()\n"
        "assert 'torch' not in sys.modules, 'torch imported by create_app'\n"
        "ensure_schema()\n"
        "with TestClient(app, base_url='http://127.0.0.1') as client:\n"
        "    files = {'file': ('a.wav', wav_bytes(0.5), 'audio/wav')}\n"
        "    data = {'model': 'demucs_unittest'}\n"
        "    created = client.post('/api/projects', files=files, data=data)\n"
        "    assert created.status_code == 202, created.text\n"
        "    for url in (f\"/api/projects/{created.json()['id']}\", '/api/models', '/metrics'):\n"
        "        assert client.get(url).status_code == 200, url\n"
        "assert 'torch' not in sys.modules, 'torch imported while serving'\n"
    )
    tests_dir = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tests_dir, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_create_app_needs_no_database(set_env: SetEnv, tmp_path: Path) -> None:
    set_env(database_url=f"sqlite:///{tmp_path}/nowhere/x.db")
    spec = create_app().openapi()
    assert spec["info"]["title"] == "IsoMix Studio"


def test_configured_default_model_is_used_when_installed(
    client: TestClient, set_env: SetEnv
) -> None:
    set_env(default_model="demucs_unittest")
    assert client.get("/api/config").json()["default_model"] == "demucs_unittest"
    status, project = upload(client, wav_bytes(0.5))
    assert status == 202 and project["model"] == "demucs_unittest"
    # Configured but not installed: the best installed model instead, never an error.
    set_env(default_model="htdemucs_ft")
    assert client.get("/api/config").json()["default_model"] == "classic"


def test_a_damaged_model_is_listed_with_its_problem(client: TestClient, data_dir: Path) -> None:
    # A model folder whose manifest cannot be read is not usable, but it must not vanish:
    # the list says what is wrong and how to repair it, and an upload naming it says so too.
    for name in ("htdemucs", "my_import"):
        folder = data_dir / "models" / name
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{ truncated")
    models = {model["name"]: model for model in client.get("/api/models").json()}
    for name in ("htdemucs", "my_import"):
        assert models[name]["installed"] is False
        assert "manifest.json" in models[name]["problem"]
        assert name in models[name]["install_hint"]
    assert models["classic"]["problem"] is None
    response = client.post(
        "/api/projects",
        data={"model": "my_import"},
        files={"file": ("a.wav", b"RIFF", "audio/wav")},
    )
    assert response.status_code == 409
    assert "manifest.json" in response.json()["detail"]
