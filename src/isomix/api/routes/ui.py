"""The built web UI (frontend/dist) at `/`, with the single-page-app fallback to index.html.

Only page paths fall back to the app: a missing file (a name with an extension, such as a
stale `assets/…js` or `/favicon.ico`) is a 404, never index.html served as that file.
`/favicon.ico`, which browsers ask for by themselves, is the UI's `favicon.svg`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

import isomix
from isomix.api.errors import not_found
from isomix.config import get_settings

router = APIRouter(tags=["ui"], include_in_schema=False)

PACKAGED_DIST = Path(isomix.__file__).resolve().parent / "static"
CHECKOUT_DIST = Path(isomix.__file__).resolve().parents[2] / "frontend" / "dist"

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>IsoMix Studio</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>IsoMix Studio</h1>
<p>The API is running, but the web UI has not been built.</p>
<p>Run <code>make serve</code> from the repository: it builds the UI and starts the server.
The API itself is documented at <a href="/api/docs">/api/docs</a>.</p>
</body></html>
"""


def ui_dist() -> Path | None:
    """Where index.html lives: the configured folder, the packaged one, or the checkout's."""
    configured = get_settings().ui_dir
    candidates = [configured] if configured is not None else [PACKAGED_DIST, CHECKOUT_DIST]
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            return candidate.resolve()
    return None


FAVICON = "favicon.ico"
FAVICON_SVG = "favicon.svg"


def is_file_path(path: str) -> bool:
    """A path naming a file (its last part has an extension), not a page of the app."""
    _, dot, extension = path.rpartition("/")[2].rpartition(".")
    return bool(dot and extension)


@router.get("/{path:path}", response_model=None)
def serve_ui(path: str) -> FileResponse | HTMLResponse:
    if path == "api" or path.startswith("api/"):
        raise not_found("API route")
    dist = ui_dist()
    if dist is None:
        if is_file_path(path):
            raise not_found("File")
        return HTMLResponse(NOT_BUILT_PAGE)
    if path:
        candidate = (dist / path).resolve()
        if dist in candidate.parents and candidate.is_file():
            return FileResponse(candidate)
        if path == FAVICON and (dist / FAVICON_SVG).is_file():
            return FileResponse(dist / FAVICON_SVG, media_type="image/svg+xml")
        if is_file_path(path):
            raise not_found("File")
    # Client-side routes (/projects/<id>, ...) all load the app; it routes in the browser.
    return FileResponse(dist / "index.html", headers={"Cache-Control": "no-cache"})
