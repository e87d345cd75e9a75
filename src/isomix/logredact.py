"""Secrets out of log lines: URL signatures and tokens, and bearer credentials.

Download links are signed URLs (`...?expires=...&sig=...`) that work for anyone holding them
until they expire, and uvicorn's access log writes every request's full path with its query.
`RedactSecrets` replaces the values of the query parameters `sig`, `signature`, `token`,
`access_token` and `refresh_token`, and of `Bearer <credential>`, with `[redacted]`, in the
message and in its arguments. The arguments are edited one by one, not merged into the
message, because uvicorn's access formatter reads them as a tuple (client, method, path,
version, status).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Final

REDACTED: Final = "[redacted]"
LOGGERS: Final = ("uvicorn.access", "uvicorn.error", "isomix")

_QUERY_SECRET = re.compile(
    r"(?P<name>\b(?:sig|signature|token|access_token|refresh_token)=)[^&;#\s\"']*", re.IGNORECASE
)
_BEARER = re.compile(r"(?P<name>\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact(text: str) -> str:
    text = _QUERY_SECRET.sub(rf"\g<name>{REDACTED}", text)
    return _BEARER.sub(rf"\g<name>{REDACTED}", text)


def _redact_arg(value: object) -> object:
    if isinstance(value, (int, float)):  # keeps %d and %f working; holds no secret
        return value
    text = str(value)
    redacted = redact(text)
    return value if redacted == text else redacted


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redact_arg(arg) for key, arg in record.args.items()}
        return True


def install_log_redaction() -> None:
    """Redact on uvicorn's loggers and `isomix`, and on the root logger's handlers.

    A logger's filter sees only records logged on that very logger, not its children's, so
    `isomix.jobs.tasks` lines are redacted by the root handlers they propagate to: call this
    after logging is configured (`logging.basicConfig`). uvicorn replaces its loggers'
    handlers when it configures logging, but not their filters, so the order does not matter
    for uvicorn. Calling it twice adds nothing.
    """
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in LOGGERS]
    targets.extend(logging.getLogger().handlers)
    for target in targets:
        if not any(isinstance(existing, RedactSecrets) for existing in target.filters):
            target.addFilter(RedactSecrets())
