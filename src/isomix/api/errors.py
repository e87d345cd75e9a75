"""One error shape for the whole API: HTTP status + {"detail": "<human message>", "code": "..."}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from isomix.schemas import ErrorResponse, InvalidRequestResponse

_CODE_BY_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media",
    422: "invalid_options",
}


class ApiError(Exception):
    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code
        self.detail = detail


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found.")


def not_ready(detail: str) -> ApiError:
    return ApiError(409, "not_ready", detail)


def invalid(detail: str) -> ApiError:
    return ApiError(422, "invalid_options", detail)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for routes that answer these statuses with ErrorResponse."""
    return {
        status: {"model": InvalidRequestResponse if status == 422 else ErrorResponse}
        for status in statuses
    }


def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return JSONResponse({"detail": error.detail, "code": error.code}, status_code=error.status_code)


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
    # serialise as JSON) and can be large.
    details = [
        {"type": item.get("type"), "loc": list(item.get("loc", ())), "msg": item.get("msg")}
        for item in error.errors()
    ]
    return JSONResponse({"detail": details, "code": "invalid_options"}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
