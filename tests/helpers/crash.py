"""Crash injection for the job tests: an engine that kills its process on one chosen input.

The shipped worker carries no test hook. Tests inject the crash at the seam every separation
job goes through after claiming its row (its attempt is counted by then): the job imports
`isomix.separation.engine.get_engine` at call time and calls `engine.separate(mix, ...)`.
`install()` replaces that function with one whose engines die with `os._exit(70)`, as a
decoder or native-library crash would, when the decoded mixture is exactly `CRASH_SAMPLES`
samples long, and otherwise delegate to the real engine. The test chooses the input by
writing an upload of that length: no file name, database lookup or environment variable is
involved, and every other input is separated normally by the same worker.
"""

from __future__ import annotations

import os
from typing import Any, Final

# 2 s at 44.1 kHz plus 7 samples: no other test input has this length.
CRASH_SAMPLES: Final = 2 * 44100 + 7
CRASH_EXIT_CODE: Final = 70  # EX_SOFTWARE


class CrashingEngine:
    """The real engine, except that `separate` kills the process on the crashing input."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def separate(self, mix: Any, options: Any, progress: Any = None, on_part: Any = None) -> Any:
        if mix.shape[-1] == CRASH_SAMPLES:
            os._exit(CRASH_EXIT_CODE)
        return self._engine.separate(mix, options, progress=progress, on_part=on_part)


def install() -> None:
    """Patch `isomix.separation.engine.get_engine` in this process (and in the Celery pool
    children it forks afterwards, which inherit the patched module)."""
    import isomix.separation.engine as engine_module

    real_get_engine = engine_module.get_engine

    def get_engine(name: str, **kwargs: Any) -> Any:
        return CrashingEngine(real_get_engine(name, **kwargs))

    engine_module.get_engine = get_engine  # type: ignore[assignment]
