"""A database that cannot be reached is a 503 with Retry-After in the API's error shape; any
other database error stays a 500 (it is a bug, not an outage)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from isomix.api.app import create_app
from isomix.api.errors import DATABASE_RETRY_AFTER_SECONDS
from isomix.db import database_unreachable


class DriverError(Exception):
    pass


def invalidated() -> DBAPIError:
    error = DBAPIError("SELECT 1", {}, DriverError("server closed the connection"))
    error.connection_invalidated = True
    return error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OperationalError("SELECT 1", {}, DriverError("connection refused")), 503),
        (InterfaceError("SELECT 1", {}, DriverError("connection already closed")), 503),
        (invalidated(), 503),
        (IntegrityError("INSERT", {}, DriverError("duplicate key")), 500),
        (DBAPIError("SELECT 1", {}, DriverError("syntax error")), 500),
    ],
)
def test_database_errors(error: DBAPIError, status: int) -> None:
    assert database_unreachable(error) is (status == 503)
    app = create_app()

    def boom() -> None:
        raise error

    app.add_api_route("/api/boom", boom, tags=["test"])
    app.router.routes.insert(0, app.router.routes.pop())  # ahead of the UI's catch-all

    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        answer = client.get("/api/boom")
    assert answer.status_code == status
    if status == 503:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["retry-after"] == str(DATABASE_RETRY_AFTER_SECONDS)
        body = answer.json()
        assert set(body) == {"detail", "code"} and body["code"] == "database_unavailable"
    else:
        assert "retry-after" not in answer.headers
