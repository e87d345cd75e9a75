"""`python tests/helpers/slow_parts_worker.py worker ...`: the `isomix` command with every
announcement of a progressive part followed by a pause (PAUSE_SECONDS), so that an
integration test polling from outside sees each step of a real Celery job while it is still
processing, whatever the machine's speed; nothing in the shipped worker is changed for it.
"""

from __future__ import annotations

import sys
import time
from typing import Any

PAUSE_SECONDS = 0.5


def main() -> int:
    from isomix.jobs import progressive

    announce = progressive.PartWriter.publish

    def publish_then_pause(self: Any) -> None:
        announce(self)
        time.sleep(PAUSE_SECONDS)

    # Before the worker forks its pool children: they inherit the patch.
    progressive.PartWriter.publish = publish_then_pause  # type: ignore[method-assign]
    from isomix.cli import main as isomix_main

    return isomix_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
