"""`python tests/helpers/crashing_worker.py worker ...`: the `isomix` command with the crashing
engine of helpers/crash.py installed first, so that an integration test can run a real Celery
worker that dies on one input (see `helpers.crash` for which one) without any hook in the
shipped worker.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for `helpers`
    from helpers import crash

    crash.install()  # before the worker forks its pool children: they inherit the patch
    from isomix.cli import main as isomix_main

    return isomix_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
