"""The schema comes from Alembic, matches models.py, and refuses what it cannot handle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from isomix.db import get_engine, reset_engines
from isomix.migrate import SchemaError, current_revision, ensure_schema, head_revision
from isomix.models import Base


@pytest.fixture(autouse=True)
def fresh_engines(data_dir: Path) -> None:
    reset_engines()


def test_fresh_database_reaches_head_and_matches_the_models() -> None:
    ensure_schema()
    assert current_revision() == head_revision()
    ensure_schema()  # at head: nothing to do
    with get_engine().connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], (
        "models.py changed without a migration: python -m isomix.migrate revision"
    )


def test_database_from_newer_code_is_refused() -> None:
    ensure_schema()
    with get_engine().begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(SchemaError, match="newer version"):
        ensure_schema()


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/isomix.db"
    with pytest.raises(SchemaError, match="cannot reach the database"):
        ensure_schema(url)


def test_processes_starting_together_migrate_once(data_dir: Path) -> None:
    # Four interpreters (a server and workers starting at once) on one fresh database.
    code = "from isomix.migrate import ensure_schema; ensure_schema()"
    starts = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for start in starts:
        _, stderr = start.communicate(timeout=120)
        assert start.returncode == 0, stderr
    assert current_revision() == head_revision()
