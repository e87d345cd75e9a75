"""`isomix` command line: each subcommand lives in `isomix.commands.<name>` with a `register`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from isomix.process_memory import use_one_malloc_arena

# Order is the order shown in --help. Modules are imported only to register their parser,
# so none of them may import torch at module level (`isomix serve` must stay torch-free).
COMMANDS = (
    "separate",
    "models",
    "serve",
    "worker",
    "beat",
    "gc",
    "users",
    "tokens",
    "audit",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isomix", description="IsoMix Studio: AI music stem separation."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"isomix.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"isomix.commands.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    use_one_malloc_arena()  # before any command starts a thread
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
