"""The one logging setup of every isomix process, and the context its lines carry.

`configure()` is called once by `isomix serve` (uvicorn's access and error lines included:
serve runs uvicorn without a logging config of its own, so they reach the root handler), by
the embedded worker process, and through Celery's `setup_logging` signal by `isomix worker`
and `isomix beat`. Lines are JSON (one object per line: `ts`, `level`, `logger`, `message`,
the context fields when known, extra fields, `exception`), or text for a person at a
terminal (ISOMIX_LOG_FORMAT, "auto" by default).

Redaction happens in the formatters, on the finished fields: the message, every extra field
and the exception text, whatever logger or library produced them (logredact.redact). The
logredact filter is installed too, for handlers that are not ours.

The context (`request_id`, `job_id`, `project_id`) lives in a ContextVar: the API's request
middleware sets the request id, a worker sets the job's fields for the time it runs the job
(`log_context`), and the handler's filter copies them onto every record.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from isomix.config import Settings, get_settings
from isomix.logredact import install_log_redaction, redact

CONTEXT_FIELDS: Final = ("request_id", "job_id", "project_id")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("isomix_log_context", default=_EMPTY)


def current_context() -> Mapping[str, str]:
    return _context.get()


def current_request_id() -> str | None:
    return _context.get().get("request_id")


def _merged(fields: Mapping[str, str | None]) -> Mapping[str, str]:
    values = dict(_context.get())
    values.update({key: value for key, value in fields.items() if value})
    return MappingProxyType(values)


def set_request_id(request_id: str) -> None:
    """The request id for the rest of this context (the API's request task).

    Deliberately never reset: the server's own lines about the request (uvicorn's
    "Exception in ASGI application") and the error reporter's middleware run outside ours, in
    the same task, after it returned. Each request runs in a task of its own, whose context
    starts without one, so no id outlives its request's task.
    """
    _context.set(MappingProxyType({"request_id": request_id}))


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add `fields` (None ones are skipped) to every line logged inside the block."""
    token = _context.set(_merged(fields))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copy the context onto the record (a field the caller passed in `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _clean(value: Any) -> Any:
    """A JSON-ready copy of a field with every secret redacted; objects become their str(),
    redacted, rather than leaving that to the encoder after redaction."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(item) for item in value]
    return redact(str(value))


class JsonLines(JsonFormatter):
    """One JSON object per line, every value redacted."""

    def __init__(self) -> None:
        super().__init__(
            rename_fields={"exc_info": "exception", "stack_info": "stack"},
            # uvicorn's copy of its message with terminal colours.
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value:
                log_data[key] = value
        # uvicorn's access line: (client, method, path, HTTP version, status) as fields too.
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            _, method, path, _, status = args
            log_data.update(method=method, path=path, status=status)
        super().add_fields(log_data, record, message_dict)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _clean(value) for key, value in log_data.items()}


class TextLines(logging.Formatter):
    """A line for a person: time, level, logger, message, then the context; redacted whole
    (the exception text included)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        known = [
            f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if getattr(record, key, None)
        ]
        if known:
            first, newline, rest = line.partition("\n")
            line = f"{first} [{' '.join(known)}]{newline}{rest}"
        return redact(line)


def wants_json(log_format: str, stream: TextIO) -> bool:
    if log_format != "auto":
        return log_format == "json"
    isatty = getattr(stream, "isatty", None)
    return not (isatty is not None and isatty())


class _IsomixHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler `configure` installed, so that configuring again replaces it."""


def configure(
    settings: Settings | None = None,
    *,
    level: int | str | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log line of this process to `stream` (default: the process's real stderr,
    even when Celery has replaced sys.stderr with a proxy that logs) in the chosen format.

    Calling it again replaces the handler it installed; other handlers (a test's) stay.
    """
    settings = settings or get_settings()
    out = stream or sys.__stderr__ or sys.stderr
    handler = _IsomixHandler(out)
    handler.setFormatter(JsonLines() if wants_json(settings.log_format, out) else TextLines())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _IsomixHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    chosen = level if level is not None else settings.log_level
    root.setLevel(chosen.upper() if isinstance(chosen, str) else chosen)
    install_log_redaction()
    return handler
