"""The UI's files: the favicon is an icon, and a missing file is a 404, not the app's page."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.support import SetEnv

ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"></svg>'
PAGE = "<html>isomix app</html>"


@pytest.fixture
def dist(set_env: SetEnv, tmp_path: Path) -> Path:
    directory = tmp_path / "dist"
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_text(PAGE)
    (directory / "favicon.svg").write_text(ICON)
    set_env(ui_dir=directory)
    return directory


def test_favicon_ico_is_the_svg_icon_not_the_app(client: TestClient, dist: Path) -> None:
    for path in ("/favicon.ico", "/favicon.svg"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("image/svg+xml"), path
        assert response.text == ICON


def test_a_real_favicon_ico_wins(client: TestClient, dist: Path) -> None:
    (dist / "favicon.ico").write_bytes(b"\x00\x00\x01\x00icon")
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.content == b"\x00\x00\x01\x00icon"


def test_without_an_icon_favicon_ico_is_a_404(client: TestClient, dist: Path) -> None:
    (dist / "favicon.svg").unlink()
    response = client.get("/favicon.ico")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("path", ["/assets/index-0ld.js", "/robots.txt", "/apple-touch-icon.png"])
def test_a_missing_file_is_a_404_not_the_app(client: TestClient, dist: Path, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "File not found.", "code": "not_found"}


@pytest.mark.parametrize("path", ["/", "/projects/abc", "/library", "/projects/abc/mixer"])
def test_pages_still_load_the_app(client: TestClient, dist: Path, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.text == PAGE


def test_without_a_built_ui_files_are_404s_and_pages_say_how_to_build(
    client: TestClient, set_env: SetEnv, tmp_path: Path
) -> None:
    set_env(ui_dir=tmp_path / "not-built")
    assert client.get("/favicon.ico").status_code == 404
    assert "make serve" in client.get("/library").text
