"""Headers every HTTP answer carries, and CORS, which is off unless origins are named.

- `Content-Security-Policy`: scripts only from our own origin (the built UI has no inline
  script), so an injected `<script>` or `onclick=` does not run; WebAssembly may be compiled
  (`'wasm-unsafe-eval'`, the mixer's time-stretch worklet), JavaScript eval may not. Styles
  may be inline (React sets style attributes); audio and images may be `blob:` (the mixer
  decodes stems in the browser), workers `blob:` (audio worklets). Swagger UI at
  `/api/docs` loads its bundle from a CDN and starts it with an inline script, so only that
  page gets a wider policy.
- `Referrer-Policy: no-referrer`: download links are signed URLs; a Referer would hand the
  signature to whatever site the page links to.
- `X-Frame-Options` and `frame-ancestors 'none'`: no clickjacking through a frame.
- `X-Content-Type-Options: nosniff`: an uploaded file is never guessed into HTML or script.
- `Cross-Origin-Opener-Policy`: a window we open, or that opens us, gets no handle on us.
- `Permissions-Policy`: the studio never needs the camera, microphone or location.

A header the route set itself is left as it is. The middleware is pure ASGI: it edits the
`http.response.start` message and passes every body chunk through as it comes, so server-sent
events and streamed zips stay streamed.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isomix.api.client_ip import TrustedProxies
from isomix.config import Settings
from isomix.objects.s3 import store_origin


def _policy(**directives: str) -> bytes:
    text = "; ".join(f"{name.replace('_', '-')} {value}" for name, value in directives.items())
    return text.encode()


def content_policy(store_origin: str | None = None) -> bytes:
    """The UI's policy; with files in a bucket, the mixer also fetches and plays from the
    bucket's origin (downloads are redirects to presigned URLs there)."""
    extra = f" {store_origin}" if store_origin else ""
    return _policy(
        default_src="'self'",
        # 'wasm-unsafe-eval' lets the mixer compile the WebAssembly of its time-stretch worklet
        # (Signalsmith Stretch, served from our origin); it allows no eval() of JavaScript.
        script_src="'self' 'wasm-unsafe-eval'",
        style_src="'self' 'unsafe-inline'",
        img_src="'self' data: blob:",
        media_src=f"'self' blob:{extra}",
        connect_src=f"'self'{extra}",
        worker_src="'self' blob:",
        font_src="'self'",
        object_src="'none'",
        base_uri="'none'",
        form_action="'self'",
        frame_ancestors="'none'",
    )


CSP: Final = content_policy()
# What fastapi.openapi.docs.get_swagger_ui_html loads: bundle and CSS from jsDelivr, the
# favicon from fastapi.tiangolo.com, an inline bootstrap script, and the schema by fetch.
SWAGGER_CDN: Final = "https://cdn.jsdelivr.net"
DOCS_CSP: Final = _policy(
    default_src="'self'",
    script_src=f"'self' 'unsafe-inline' {SWAGGER_CDN}",
    style_src=f"'self' 'unsafe-inline' {SWAGGER_CDN}",
    img_src="'self' data: https://fastapi.tiangolo.com",
    connect_src="'self'",
    font_src=f"'self' {SWAGGER_CDN}",
    object_src="'none'",
    base_uri="'none'",
    form_action="'self'",
    frame_ancestors="'none'",
)
COMMON_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
CORS_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS: Final = ("Authorization", "Content-Type")
CORS_EXPOSED: Final = ("Retry-After", "Content-Disposition", "X-Request-ID")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, docs_path: str | None = "/api/docs", csp: bytes = CSP) -> None:
        self.app = app
        self.docs_path = docs_path
        self.csp = csp

    def _is_docs(self, path: str) -> bool:
        docs = self.docs_path
        return docs is not None and (path == docs or path.startswith(docs.rstrip("/") + "/"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if self._is_docs(scope["path"]) else self.csp
        extra = ((b"content-security-policy", csp), *COMMON_HEADERS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _value in headers}
                headers.extend(header for header in extra if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_origins(value: str) -> list[str]:
    """`ISOMIX_CORS_ORIGINS` as origins (`scheme://host[:port]`). A wildcard is refused: with
    credentials allowed, it would let every site act as the signed-in user."""
    origins = []
    for entry in (item.strip() for item in value.split(",")):
        if not entry:
            continue
        if "*" in entry:
            raise ValueError(
                f"ISOMIX_CORS_ORIGINS: {entry!r} is a wildcard; name each origin allowed "
                "(credentials are sent cross-origin, so any site would act as the user)"
            )
        try:
            parts = urlsplit(entry)
            _port = parts.port  # a bad port raises ValueError
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ValueError(
                f"ISOMIX_CORS_ORIGINS: not an origin (scheme://host[:port]): {entry!r}"
            )
        # Browsers send Origin without a trailing slash; CORSMiddleware compares strings.
        origins.append(entry.rstrip("/"))
    return origins


def install_security_headers(app: FastAPI, settings: Settings) -> None:
    """Add the headers and, when `ISOMIX_CORS_ORIGINS` names origins, CORS for exactly those.

    Bad settings (a wildcard origin, a trusted proxy that is no address) fail here, when the
    app is created. Call before `install_guards`, which must stay outermost. The security
    headers wrap CORS, so preflight answers carry them too.
    """
    TrustedProxies.parse(settings.trusted_proxies)  # fail at startup, not at first request
    origins = cors_origins(settings.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
            expose_headers=list(CORS_EXPOSED),
        )
    app.add_middleware(
        SecurityHeaders, docs_path=app.docs_url, csp=content_policy(store_origin(settings))
    )
