"""A worker process target that dies as soon as it starts, for supervision tests.

Tests swap it in for `isomix.jobs.embedded._worker_main` in the test process only
(monkeypatch): the supervisor looks the target up at each start, and a spawned child imports
this module by name, so every restart dies too. Nothing in the shipped code knows of it.
"""

from __future__ import annotations

import os
from typing import Final

EXIT_CODE: Final = 3


def exit_at_once(*_args: object) -> None:
    os._exit(EXIT_CODE)
