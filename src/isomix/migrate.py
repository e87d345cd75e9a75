"""Bring the database schema to the newest Alembic revision, or say clearly why not.

`isomix serve` and the worker call `ensure_schema()` on start. For developers:
    python -m isomix.migrate revision "add users"   # autogenerate a revision from models.py
    python -m isomix.migrate upgrade                # same as ensure_schema()
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from isomix.config import get_settings
from isomix.db import get_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


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
    """Upgrade to head; refuse a database migrated by newer code, or one we cannot reach."""
    config = alembic_config(url)
    script = ScriptDirectory.from_config(config)
    try:
        current = current_revision(url)
    except SQLAlchemyError as error:
        raise SchemaError(f"cannot reach the database: {error}") from error
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaError(
            f"the database is at schema revision {current}, which this version of isomix does "
            "not know (it was migrated by a newer version); upgrade isomix or use another "
            "data directory"
        )
    if current == script.get_current_head():
        return
    try:
        command.upgrade(config, "head")
    except SQLAlchemyError as error:
        raise SchemaError(f"database migration failed: {error}") from error


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
