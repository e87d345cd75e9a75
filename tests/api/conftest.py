"""API test fixtures: a migrated SQLite database in the test's data dir and a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.support import SetEnv, wav_bytes
from isomix.api.app import create_app
from isomix.config import get_settings
from isomix.db import reset_engines
from isomix.migrate import ensure_schema

LOOPBACK_URL = "http://127.0.0.1"


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[SetEnv]:
    """Set ISOMIX_* variables (keyword: setting name) and forget cached settings and engines."""

    def apply(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"ISOMIX_{name.upper()}", str(value))
        get_settings.cache_clear()
        reset_engines()

    yield apply
    get_settings.cache_clear()
    reset_engines()


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    reset_engines()
    ensure_schema()
    # A loopback Host, as a browser on this machine sends: the app refuses TestClient's
    # default "testserver" like any other unknown name (api/guards.py).
    with TestClient(create_app(), base_url=LOOPBACK_URL) as test_client:
        yield test_client
    reset_engines()


@pytest.fixture(scope="session")
def song() -> bytes:
    return wav_bytes(2.5)
