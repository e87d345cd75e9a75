"""Engine and session factory, one per process, built from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from isomix.config import get_settings


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the API read while the worker process writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Engines handed out by get_engine, so reset_engines can close them (lru_cache lists none).
_ENGINES: list[Engine] = []


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    settings = get_settings()
    if url is None and settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url or settings.resolved_database_url)
    _ENGINES.append(engine)
    return engine


@lru_cache(maxsize=4)
def get_sessionmaker(url: str | None = None) -> sessionmaker[Session]:
    # Cached with its engine: every request opens sessions, and a new factory each time was
    # a few per cent of a status read.
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched: how every compare-and-set here learns if it won."""
    return cast(CursorResult[Any], result).rowcount


def database_unreachable(error: BaseException) -> bool:
    """Whether a database error says the server cannot be reached right now (restarting, a
    failover, a cut connection): worth trying again later, unlike a wrong statement."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def reset_engines() -> None:
    """Forget cached engines (after the settings change, e.g. in tests) and close their pools."""
    while _ENGINES:
        _ENGINES.pop().dispose()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
