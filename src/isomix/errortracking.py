"""Error reports to Sentry, only when ISOMIX_SENTRY_DSN is set, with nothing private in them.

`init(component)` is called by `isomix serve`, its embedded worker process, `isomix worker`
(before the pool forks: the children inherit the client) and `isomix beat`. Without a DSN it
does nothing and every other function here is a no-op, so callers need no `if`.

What a report never carries:
- request bodies (`max_request_body_size="never"`: an upload's multipart head holds the
  user's file name), cookies, and local variables of the stack frames;
- the values of Authorization, Cookie and API-key headers, and of any field named like a
  secret or a file name (`SECRET_KEYS`), wherever it sits in the event;
- signatures and tokens in any text (URLs, query strings, messages, breadcrumbs), through the
  logs' own `logredact.redact` (signed links' `sig`, S3's `X-Amz-Signature`, bearer
  credentials);
- upload file names: the names the API parsed and the name of the project a worker runs are
  `conceal`ed on the request's or job's scope and replaced wherever they appear, and any
  other word ending in an audio or video extension is replaced as well.
The DSN itself is a secret (it lets anyone post to the project): it is never logged, and
`Settings` keeps it out of its repr.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import isomix
from isomix.config import Settings, get_settings
from isomix.logredact import redact

log = logging.getLogger(__name__)

FILTERED: Final = "[Filtered]"
FILE_NAME: Final = "[file name]"
# Lower-case field names whose values are dropped wherever they appear in an event.
SECRET_KEYS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "password",
        "new_password",
        "current_password",
        "token",
        "access_token",
        "refresh_token",
        "api_token",
        "secret",
        "secret_key",
        "sig",
        "signature",
        "dsn",
        "filename",
        "file_name",
        "original_filename",
    }
)
# Parts of an event that describe our code, not the user's data: stack frames hold code file
# names under "filename", which must stay.
_CODE_KEYS: Final = frozenset({"stacktrace", "debug_meta", "sdk", "modules"})
_MEDIA_EXTENSIONS: Final = (
    "mp3|wav|wave|flac|ogg|oga|opus|m4a|mp4|aac|aif|aiff|aifc|mkv|mka|webm|wma|alac|ape|mov"
)
# A quoted name with an audio or video extension (spaces allowed inside the quotes), or an
# unquoted word that ends with one.
_MEDIA_NAME: Final = re.compile(
    rf"""(?P<q>['"])[^'"\n]*?\.(?:{_MEDIA_EXTENSIONS})(?P=q)"""
    rf"""|[^\s'"/\\<>=&?]+\.(?:{_MEDIA_EXTENSIONS})\b""",
    re.IGNORECASE,
)
MIN_CONCEALED_CHARS: Final = 3  # shorter names would garble unrelated text

_active = False


def init(component: str, settings: Settings | None = None) -> bool:
    """Start reporting errors if ISOMIX_SENTRY_DSN is set; whether it did."""
    global _active
    settings = settings or get_settings()
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        release=f"isomix@{isomix.__version__}",
        environment=settings.sentry_environment or "production",
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
    )
    sentry_sdk.set_tag("component", component)
    _active = True
    log.info("error reports go to Sentry (environment %s)", settings.sentry_environment)
    return True


def active() -> bool:
    return _active


def tag(**tags: str | None) -> None:
    """Tags on the current request's or job's reports (e.g. its request id)."""
    if not _active:
        return
    import sentry_sdk

    scope = sentry_sdk.get_isolation_scope()
    for name, value in tags.items():
        if value:
            scope.set_tag(name, value)


def conceal(*values: str | None) -> None:
    """Replace these strings (a user's file name) in every report of the current request or
    job. The request's scope is Sentry's own, made per request by its ASGI middleware."""
    found = {v for v in values if v and len(v) >= MIN_CONCEALED_CHARS}
    # Breadcrumbs are scrubbed as they are recorded, before this runs: a name already partly
    # replaced there ("Take [file name]") is looked for too.
    names = tuple(sorted(found | {scrub_text(v) for v in found} - {FILE_NAME}, key=len)[::-1])
    if not _active or not names:
        return
    import sentry_sdk

    def processor(event: Any, _hint: Any) -> Any:
        return _walk(event, lambda text: _replace(text, names))

    sentry_sdk.get_isolation_scope().add_event_processor(processor)


@contextmanager
def job_scope(*, concealed: tuple[str, ...] = (), **tags: str | None) -> Iterator[None]:
    """A scope of its own for one job run by a worker loop: its tags and concealed names end
    with it."""
    if not _active:
        yield
        return
    import sentry_sdk

    with sentry_sdk.isolation_scope():
        tag(**tags)
        conceal(*concealed)
        yield


def scrub_text(text: str) -> str:
    return _MEDIA_NAME.sub(FILE_NAME, redact(text))


def _replace(text: str, names: tuple[str, ...]) -> str:
    for name in names:
        text = text.replace(name, FILE_NAME)
    return text


def _walk(value: Any, change: Any) -> Any:
    """`value` with `change` applied to every string in it, and secret fields dropped."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for name, item in value.items():
            lowered = str(name).lower()
            if lowered in _CODE_KEYS:
                result[name] = item
            elif lowered in SECRET_KEYS and item not in (None, ""):
                result[name] = FILTERED
            else:
                result[name] = _walk(item, change)
        return result
    if isinstance(value, list):
        return [_walk(item, change) for item in value]
    if isinstance(value, tuple):
        # Headers may come as (name, value) pairs.
        if len(value) == 2 and isinstance(value[0], str) and value[0].lower() in SECRET_KEYS:
            return (value[0], FILTERED)
        return tuple(_walk(item, change) for item in value)
    return value


def scrub_event(event: Any, _hint: Any) -> Any:
    """`before_send`: the last look at every report before it leaves the process."""
    request = event.get("request")
    if isinstance(request, dict):
        for private in ("data", "cookies"):
            request.pop(private, None)
    return _walk(event, scrub_text)


def scrub_breadcrumb(crumb: Any, _hint: Any) -> Any:
    """`before_breadcrumb`: log lines and HTTP calls kept for the next report."""
    return _walk(crumb, scrub_text)
