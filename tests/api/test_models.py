"""/api/models: figures and where they come from, sizes, the default, install commands as
data, and installing a catalog model from the (local stand-in) model hub."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.models import build_small_htdemucs_repo
from unit.hub_files import FakeHub, write_hub_safetensors

from api.support import SetEnv
from isomix.api.routes import models as model_routes
from isomix.separation import catalog, store

# A bound on waiting for a background install (spawning a process and importing torch takes
# seconds); not a performance check.
WAIT_LIMIT_SECONDS = 120.0


def listed(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/models")
    assert response.status_code == 200
    return {model["name"]: model for model in response.json()}


def test_every_model_has_its_figure_and_where_it_comes_from(client: TestClient) -> None:
    models = listed(client)

    figures = {name: (m["quality_sdr_db"], m["quality_source"]) for name, m in models.items()}
    for name, (sdr, source) in figures.items():
        entry = catalog.CATALOG[name]
        assert (sdr, source) == (entry.sdr_db, entry.sdr_source)
    assert figures["htdemucs"][0] == 9.0 and figures["htdemucs_ft"][0] == 9.0
    assert figures["mdx_extra"][0] == 8.11 and "not MUSDB" in figures["mdx_extra"][1]
    assert figures["classic"][0] == 5.94 and figures["classic"][1].startswith("measured here")
    assert figures["htdemucs_6s"] == (None, "none published by Demucs (experimental model)")


def test_install_hints_are_prose_and_the_commands_are_data(client: TestClient) -> None:
    models = listed(client)
    cli = model_routes.cli_command()

    htdemucs = models["htdemucs"]
    assert htdemucs["install_commands"] == [
        f"{cli} models pull htdemucs",
        f"{cli} models import FOLDER --name htdemucs",
    ]
    assert htdemucs["installable"] is True
    assert htdemucs["install"] is None
    assert htdemucs["size_text"] == "~84 MB" and htdemucs["size_mb"] == 84
    assert models["classic"]["install_commands"] == []
    assert models["classic"]["installable"] is False
    assert models["classic"]["size_text"] is None
    for model in models.values():
        assert "`" not in model["install_hint"] + model["description"], model["name"]


@pytest.mark.parametrize(
    ("argv0", "on_path", "expected"),
    [
        # make serve: .venv/bin/isomix serve, from the repository.
        (".venv/bin/isomix", None, ".venv/bin/isomix"),
        # pip install isomix, then `isomix serve`: the PATH finds that same script.
        ("{bin}/isomix", "{bin}/isomix", "isomix"),
        # python -m isomix serve: the script beside this Python.
        ("{root}/src/isomix/__main__.py", None, ".venv/bin/isomix"),
        # Another isomix on the PATH than the one serving: this one's path.
        (".venv/bin/isomix", "/usr/local/bin/isomix", ".venv/bin/isomix"),
    ],
)
def test_commands_name_the_cli_the_way_the_server_was_started(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv0: str,
    on_path: str | None,
    expected: str,
) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "isomix").write_text("#!/bin/sh\n")
    (bin_dir / "python").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    fill = {"bin": str(bin_dir), "root": str(tmp_path)}
    monkeypatch.setattr(sys, "argv", [argv0.format(**fill), "serve"])
    monkeypatch.setattr(shutil, "which", lambda name: on_path.format(**fill) if on_path else None)

    assert model_routes.cli_command() == expected


def test_sizes_are_the_ones_the_cli_writes(
    client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from isomix.cli import main

    installed = store.import_model(build_small_htdemucs_repo(tmp_path, "small"), "htdemucs")

    model = listed(client)["htdemucs"]

    assert model["size_text"] == catalog.format_size(installed.size_bytes)
    assert model["size_mb"] == round(installed.size_bytes / 1e6, 1)
    assert model["installable"] is False
    main(["models", "list"])
    row = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("htdemucs ")
    )
    assert f" {model['size_text']} " in row


def test_an_imported_model_does_not_become_the_default(
    client: TestClient, tmp_path: Path, set_env: SetEnv
) -> None:
    store.import_model(build_small_htdemucs_repo(tmp_path, "small"), "mine")

    assert client.get("/api/config").json()["default_model"] == "classic"
    assert [name for name, m in listed(client).items() if m["default"]] == ["classic"]

    # Chosen with `isomix models default mine`: the API follows.
    store.choose_default("mine")
    assert client.get("/api/config").json()["default_model"] == "mine"
    assert listed(client)["mine"]["default"] is True

    # ISOMIX_DEFAULT_MODEL, when set to an installed model, wins over the choice.
    set_env(default_model="classic")
    assert client.get("/api/config").json()["default_model"] == "classic"
    set_env(default_model="htdemucs_ft")  # not installed: the choice again
    assert client.get("/api/config").json()["default_model"] == "mine"


def test_a_catalog_model_outranks_an_imported_one(client: TestClient, tmp_path: Path) -> None:
    weights = build_small_htdemucs_repo(tmp_path, "small")
    store.import_model(weights, "aaa_first_by_name")
    store.import_model(weights, "mdx_extra")

    assert client.get("/api/config").json()["default_model"] == "mdx_extra"


# ---------------------------------------------------------------------------------------------
# Installing from the browser


def wait_for(client: TestClient, name: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        response = client.get(f"/api/models/{name}/install")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if done(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"install of {name} not done in {WAIT_LIMIT_SECONDS} s: {body}")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeHub, bytes]]:
    weights = tmp_path / "955717e8.safetensors"
    write_hub_safetensors(weights, seed=5)
    content = weights.read_bytes()
    fake = FakeHub()
    fake.add("adefossez/HTDemucs", "htdemucs.yaml", b"models: ['955717e8']\n")
    fake.add("adefossez/HTDemucs", "955717e8.safetensors", content)
    with fake.serve() as endpoint:
        # The install runs in a spawned process: it reads these from the environment.
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield fake, content


def test_install_from_the_browser_reports_progress_and_ends_installed(
    client: TestClient, hub: tuple[FakeHub, bytes]
) -> None:
    fake, content = hub
    release = fake.hold("adefossez/HTDemucs", "955717e8.safetensors")

    started = client.post("/api/models/htdemucs/install")

    assert started.status_code == 202, started.text
    assert started.json()["state"] == "running"
    # One at a time per model: a second install while the first runs is refused.
    again = client.post("/api/models/htdemucs/install")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "htdemucs is already being installed.",
        "code": "install_running",
    }

    # The bag file is in and the weights' size is known; their download is held back.
    midway = wait_for(client, "htdemucs", lambda body: body["files_total"] is not None)
    assert midway["state"] == "running" and midway["phase"] == "downloading"
    assert (midway["files_done"], midway["files_total"]) == (1, 2)
    assert (midway["bytes_done"], midway["bytes_total"]) == (0, len(content))
    assert listed(client)["htdemucs"]["install"]["files_done"] == 1

    release.set()
    done = wait_for(client, "htdemucs", lambda body: body["state"] != "running")

    assert done["state"] == "installed", done
    assert done["phase"] == "done" and done["error"] is None
    assert (done["files_done"], done["files_total"]) == (2, 2)
    assert done["bytes_done"] == done["bytes_total"] == len(content)
    assert done["finished_at"] is not None
    model = listed(client)["htdemucs"]
    assert model["installed"] is True and model["installable"] is False
    assert model["install"]["state"] == "installed"
    assert model["default"] is True  # the best installed now
    installed = store.get_installed("htdemucs")
    assert installed is not None and installed.source == "pulled"
    assert "GET /adefossez/HTDemucs/resolve/main/955717e8.safetensors" in fake.requests

    assert client.post("/api/models/htdemucs/install").json()["code"] == "already_installed"


def test_install_offline_fails_fast_saying_in_one_line_how_to_import(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))

    assert client.post("/api/models/htdemucs_6s/install").status_code == 202
    done = wait_for(client, "htdemucs_6s", lambda body: body["state"] != "running")

    assert done["state"] == "failed"
    error = done["error"]
    assert "\n" not in error
    assert error.startswith("The model hub cannot be reached (HF_HUB_OFFLINE is set). ")
    assert "download htdemucs_6s.yaml and 5c90dfd2.safetensors from " in error
    assert "/adefossez/HTDemucs-6s/tree/main on a machine with internet" in error
    cli = model_routes.cli_command()
    assert done["commands"] == [f"{cli} models import FOLDER --name htdemucs_6s"]
    assert listed(client)["htdemucs_6s"]["installed"] is False
    assert list(store.resolve_models_dir(None).glob("*")) == []

    # A failed install can be started again.
    assert client.post("/api/models/htdemucs_6s/install").status_code == 202
    assert wait_for(client, "htdemucs_6s", lambda b: b["state"] != "running")["state"] == "failed"


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("nosuchmodel", 404, "not_found"),
        ("demucs_unittest", 409, "already_installed"),  # built in (and hidden)
        ("classic", 409, "already_installed"),
        ("x" * 65, 422, "invalid_options"),
    ],
)
def test_install_refuses_what_the_hub_does_not_have(
    client: TestClient, name: str, status: int, code: str
) -> None:
    response = client.post(f"/api/models/{name}/install")

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert client.get(f"/api/models/{name}/install").status_code == status


def test_no_install_started_is_404(client: TestClient) -> None:
    response = client.get("/api/models/htdemucs/install")

    assert response.status_code == 404
    assert response.json() == {"detail": "Install not found.", "code": "not_found"}


def test_installing_keeps_torch_out_of_the_api_process(tmp_path: Path) -> None:
    # The pull (whose check loads the model with torch) runs in a spawned process.
    import subprocess

    code = (
        "import sys, time\n"
        "from fastapi.testclient import TestClient\n"
        "from isomix.api.app import create_app\n"
        "from isomix.migrate import ensure_schema\n"
        "ensure_schema()\n"
        "with TestClient(create_app(), base_url='http://127.0.0.1') as client:\n"
        "    assert client.post('/api/models/htdemucs/install').status_code == 202\n"
        "    for _ in range(1200):\n"
        "        body = client.get('/api/models/htdemucs/install').json()\n"
        "        if body['state'] != 'running':\n"
        "            break\n"
        "        time.sleep(0.1)\n"
        "    assert body['state'] == 'failed', body\n"
        "assert 'torch' not in sys.modules, 'torch imported by the API process'\n"
        "assert 'huggingface_hub' not in sys.modules, 'huggingface_hub imported'\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=WAIT_LIMIT_SECONDS + 60,
    )
    assert result.returncode == 0, result.stderr
