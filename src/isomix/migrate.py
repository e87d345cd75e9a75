"""Bring the database schema to the newest Alembic revision, or say clearly why not.

`isomix serve` and the worker call `ensure_schema()` on start. For developers:
    python -m isomix.migrate revision "add users"   # autogenerate a revision from models.py
    python -m isomix.migrate upgrade                # same as ensure_schema()
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError

from isomix.config import get_settings
from isomix.db import get_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# pg_advisory_lock key for "isomix schema migration" (any constant shared by all processes).
_PG_LOCK_KEY = 0x150_717


class SchemaError(RuntimeError):
    """The database cannot be brought to the schema this code expects."""


def alembic_config(url: str | None = None) -> Config:
    resolved = url or get_settings().resolved_database_url
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", resolved.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise SchemaError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(url: str | None = None) -> str | None:
    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_schema(url: str | None = None) -> None:
    """Upgrade to head; refuse a database migrated by newer code, or one we cannot reach.

    Safe to call from several processes at once (the server and workers starting together):
    one migrates while the others wait, then find the schema at head.
    """
    resolved = url or get_settings().resolved_database_url
    config = alembic_config(resolved)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    known = {rev.revision for rev in script.walk_revisions()}
    try:
        if _checked_revision(resolved, known) == head:
            return
        with _migration_lock(resolved):
            if _checked_revision(resolved, known) != head:
                command.upgrade(config, "head")
    except SQLAlchemyError as error:
        raise SchemaError(f"database migration failed: {error}") from error


def _checked_revision(url: str, known: set[str]) -> str | None:
    try:
        current = current_revision(url)
    except SQLAlchemyError as error:
        raise SchemaError(f"cannot reach the database: {error}") from error
    if current is not None and current not in known:
        raise SchemaError(
            f"the database is at schema revision {current}, which this version of isomix does "
            "not know (it was migrated by a newer version); upgrade isomix or use another "
            "data directory"
        )
    return current


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Serialise migrations: a lock file beside a SQLite database, an advisory lock on
    PostgreSQL; nothing for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        lock_path = Path(f"{parsed.database}.migrate-lock")
        with lock_path.open("a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
    elif parsed.get_backend_name() == "postgresql":
        with get_engine(url).connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        yield


def main(argv: list[str]) -> int:
    if argv[:1] == ["revision"] and len(argv) == 2:
        command.revision(alembic_config(), message=argv[1], autogenerate=True)
        return 0
    if argv == ["upgrade"]:
        ensure_schema()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
