"""Every URL the API serves under /api/projects and /api/exports, and the links it hands out.

The route decorators use these templates and the presenters build links from them, so a URL
is written once. Clients never build these paths themselves: they follow the links in the
bodies (the accounts issue signs download links, which only the server can do).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, urlencode

from isomix import signing
from isomix.config import Settings

PROJECTS: Final = "/api/projects"
PROJECT: Final = PROJECTS + "/{project_id}"
PROJECT_EVENTS: Final = PROJECT + "/events"
PROJECT_CANCEL: Final = PROJECT + "/cancel"
PROJECT_RETRY: Final = PROJECT + "/retry"
PROJECT_ANALYSIS: Final = PROJECT + "/analysis"
PROJECT_EXPORTS: Final = PROJECT + "/exports"
PROJECT_MIXES: Final = PROJECT + "/mixes"
MIX: Final = PROJECT_MIXES + "/{mix_id}"
MIX_OPEN: Final = MIX + "/open"
STEM: Final = PROJECT + "/stems/{stem}"
STEMS_ZIP: Final = PROJECT + "/stems.zip"
PEAKS: Final = PROJECT + "/peaks"
EXPORT: Final = "/api/exports/{export_id}"
EXPORT_DOWNLOAD: Final = EXPORT + "/download"


def _fill(template: str, **values: str) -> str:
    return template.format(**{name: quote(value, safe="") for name, value in values.items()})


def _link(path: str, settings: Settings, params: dict[str, str] | None = None) -> str:
    """A link handed out in a body. With accounts it is signed (it names this object and
    expires: `signing`), so `<audio>` and EventSource work without an Authorization header."""
    if settings.accounts:
        return signing.sign(path, settings, params=params)
    return f"{path}?{urlencode(params)}" if params else path


def project_events(project_id: str, settings: Settings) -> str:
    return _link(_fill(PROJECT_EVENTS, project_id=project_id), settings)


def stem(project_id: str, name: str, settings: Settings, *, preview: bool = False) -> str:
    path = _fill(STEM, project_id=project_id, stem=name)
    return _link(path, settings, {"variant": "preview"} if preview else None)


def stems_zip(project_id: str, settings: Settings) -> str:
    return _link(_fill(STEMS_ZIP, project_id=project_id), settings)


def peaks(project_id: str, settings: Settings) -> str:
    return _link(_fill(PEAKS, project_id=project_id), settings)


def export_download(export_id: str, settings: Settings) -> str:
    return _link(_fill(EXPORT_DOWNLOAD, export_id=export_id), settings)
