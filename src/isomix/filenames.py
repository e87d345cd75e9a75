"""A file name the user typed for a download, made safe to save: the one rule, mirrored by the
UI (frontend/src/lib/downloadName.ts `cleanFileName`); both are tested against
frontend/src/lib/downloadName.cases.json."""

from __future__ import annotations

import re
from typing import Final

MAX_FILE_NAME_CHARS: Final = 100
# Path separators and what Windows refuses in a name; control and separator characters too
# (str.isprintable is false for every one of them but the space).
_UNSAFE: Final = frozenset('/\\:*?"<>|')
_SPACES: Final = re.compile(" +")


def clean_file_name(name: str) -> str:
    """`name` with unsafe characters as spaces, runs of spaces as one, no spaces or dots at
    either end (no hidden files, no "..") and at most 100 characters; "" when nothing is left."""
    kept = "".join(" " if c in _UNSAFE or not c.isprintable() else c for c in name)
    collapsed = _SPACES.sub(" ", kept).strip(" .")
    return collapsed[:MAX_FILE_NAME_CHARS].strip(" .")
