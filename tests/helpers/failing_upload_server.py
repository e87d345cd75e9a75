"""`python tests/helpers/failing_upload_server.py serve ...`: `isomix serve` whose upload route
fails unexpectedly, once the file is received, for a file whose name holds "Telltale": the
error's message and a log line before it name the user's file, as a careless bug would. A test
reads what the error reporter sends (tests/api/test_sentry_reports.py); no hook ships in the
server.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

MARK = "Telltale"


def main() -> int:
    from isomix.api.routes import projects
    from isomix.cli import main as isomix_main

    real = projects._insert_project

    def failing(**kwargs: Any) -> Any:
        name = kwargs["upload"].filename
        if MARK in name:
            logging.getLogger("isomix.api.routes.projects").warning("storing %s", name)
            raise RuntimeError(f"could not store {name} at {kwargs['source_path']}")
        return real(**kwargs)

    # create_project looks the function up when it calls it.
    projects._insert_project = failing  # type: ignore[assignment]
    return isomix_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
