"""One error shape for the whole API: HTTP status + {"detail": "<human message>", "code": "..."}.

Messages stay short whatever the request held: a value from the request is quoted at most
`MAX_QUOTED_CHARS` long (`shorten`), a list of them names a few and counts the rest
(`name_a_few`), and a validation error lists its first `MAX_VALIDATION_ISSUES` issues and then
how many more there were.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from isomix.db import database_unreachable
from isomix.schemas import ErrorResponse, InvalidRequestResponse

logger = logging.getLogger(__name__)

_CODE_BY_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    401: "unauthenticated",
    403: "forbidden",
    413: "too_large",
    415: "unsupported_media",
    422: "invalid_options",
}


MAX_QUOTED_CHARS: Final = 60
NAMED_AT_MOST: Final = 5
MAX_VALIDATION_ISSUES: Final = 20
MAX_ISSUE_MESSAGE_CHARS: Final = 200
# While the database cannot be reached (PostgreSQL restarting, a failover), requests are
# answered 503 with this Retry-After: the pool's pre-ping reconnects once it is back.
DATABASE_RETRY_AFTER_SECONDS: Final = 2


class ApiError(Exception):
    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.headers = headers  # e.g. Retry-After on a 503
        # More of the body: a plan limit names itself (`limit`, `plan`, `value`, `resets_at`).
        self.fields = fields or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found.")


def not_ready(detail: str) -> ApiError:
    return ApiError(409, "not_ready", detail)


def invalid(detail: str) -> ApiError:
    return ApiError(422, "invalid_options", detail)


def shorten(value: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """A value from the request, cut to `limit` characters for a message."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def name_a_few(names: Iterable[str], at_most: int = NAMED_AT_MOST) -> str:
    """Names for a message, each shortened: all of them up to `at_most`, else the first
    `at_most` and "and N more"."""
    listed = list(names)
    shown = ", ".join(shorten(name) for name in listed[:at_most])
    rest = len(listed) - at_most
    return f"{shown} and {rest} more" if rest > 0 else shown


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for routes that answer these statuses with ErrorResponse."""
    return {
        status: {"model": InvalidRequestResponse if status == 422 else ErrorResponse}
        for status in statuses
    }


def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return JSONResponse(
        {**error.fields, "detail": error.detail, "code": error.code},
        status_code=error.status_code,
        headers=error.headers,
    )


def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(error.status_code, "error")
    return JSONResponse(
        {"detail": str(error.detail), "code": code},
        status_code=error.status_code,
        headers=error.headers,
    )


def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # FastAPI's shape, minus `input` and `ctx`: they echo the request (NaN would not even
    # serialise as JSON) and can be large. Keys in `loc` come from the request too: shortened.
    # Past MAX_VALIDATION_ISSUES, one last issue says how many more there were.
    issues = error.errors()
    details: list[dict[str, Any]] = [_issue(item) for item in issues[:MAX_VALIDATION_ISSUES]]
    more = len(issues) - MAX_VALIDATION_ISSUES
    if more > 0:
        details.append({"type": "too_many_errors", "loc": [], "msg": f"and {more} more"})
    return JSONResponse({"detail": details, "code": "invalid_options"}, status_code=422)


def _issue(item: Any) -> dict[str, Any]:
    loc: Sequence[Any] = item.get("loc", ())
    return {
        "type": shorten(str(item.get("type")), MAX_ISSUE_MESSAGE_CHARS),
        "loc": [part if isinstance(part, int) else shorten(str(part)) for part in loc],
        "msg": shorten(str(item.get("msg")), MAX_ISSUE_MESSAGE_CHARS),
    }


def _database_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DBAPIError)
    if not database_unreachable(error):
        raise error  # a bug, not an outage: the server error it is
    logger.warning("database unreachable, answering 503: %s", str(error).splitlines()[0])
    return JSONResponse(
        {
            "detail": "The database cannot be reached for a moment; try again shortly.",
            "code": "database_unavailable",
        },
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
