"""`isomix models list|pull|import|remove`: manage the separation models on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from isomix.separation import catalog, store
from isomix.separation.base import ModelNotInstalledError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, download, import or remove separation models",
        description="Manage the separation models installed under the data directory.",
    )
    actions = parser.add_subparsers(dest="models_action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="known and installed models")
    listing.add_argument("--all", action="store_true", help="also show test-only models")
    listing.set_defaults(handler=run_list)

    pull = actions.add_parser("pull", help="download a model from the model hub (internet)")
    pull.add_argument("name", metavar="NAME")
    pull.add_argument("--force", action="store_true", help="download again if installed")
    pull.set_defaults(handler=run_pull)

    importing = actions.add_parser(
        "import",
        help="install a model from local files (offline)",
        description="Install a model from a .th or .safetensors weight file, a bag .yaml, or "
        "a folder holding a bag .yaml and its weight files (as `models pull` lists them).",
    )
    importing.add_argument("path", metavar="PATH", type=Path)
    importing.add_argument("--name", help="name to install as (default: the file's name)")
    importing.add_argument("--force", action="store_true", help="replace an installed model")
    importing.set_defaults(handler=run_import)

    remove = actions.add_parser("remove", help="delete an installed model")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=run_remove)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def format_size(size_bytes: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size_bytes < 1000:
            return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.1f} {unit}"
        size_bytes /= 1000
    return f"{size_bytes:.2f} GB"


def _rows(include_hidden: bool, damaged: set[str]) -> list[tuple[str, ...]]:
    installed = {m.name: m for m in store.installed_models(include_hidden=include_hidden)}
    rows: list[tuple[str, ...]] = []
    for entry in catalog.listed_entries(include_hidden=include_hidden):
        model = installed.pop(entry.name, None)
        if entry.builtin:
            size = "built in"
        elif model is not None:
            size = format_size(model.size_bytes)
        else:
            size = f"~{entry.size_mb} MB"
        sdr = f"{entry.published_sdr_db:.2f}" if entry.published_sdr_db is not None else "-"
        note = "low quality" if entry.low_quality else ""
        if entry.hidden:
            note = "tests only"
        stems = ",".join(model.sources if model is not None else entry.stems)
        state = "yes" if model else "damaged" if entry.name in damaged else "no"
        rows.append((entry.name, stems, size, state, sdr, note))
    for model in installed.values():  # imported under a name the catalog does not know
        size = format_size(model.size_bytes)
        rows.append((model.name, ",".join(model.sources), size, "yes", "-", "imported"))
    for name in sorted(damaged - set(catalog.CATALOG)):
        rows.append((name, "?", "-", "damaged", "-", "imported"))
    return rows


def run_list(args: argparse.Namespace) -> int:
    header = ("NAME", "STEMS", "SIZE", "INSTALLED", "SDR dB", "NOTE")
    damaged = store.damaged_models()
    rows = [header, *_rows(args.all, {model.name for model in damaged})]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for model in damaged:
        print(f"\n{model.message}")
    print("\nSDR: mean over the 4 MUSDB18-HQ test stems as published by Demucs ('-': none).")
    return 0


def _describe(model: store.InstalledModel) -> str:
    where = f" in {model.path}" if model.path is not None else ""
    return (
        f"{model.name}: {len(model.sources)} stems ({', '.join(model.sources)}), "
        f"{format_size(model.size_bytes)}{where}"
    )


def run_pull(args: argparse.Namespace) -> int:
    if catalog.is_builtin(args.name):
        print(f"{args.name} is built in; nothing to download.")
        return 0
    existing = store.find_model(args.name)
    if isinstance(existing, store.InstalledModel) and not args.force:
        print(f"{args.name} is already installed (use --force to download it again).")
        return 0
    if isinstance(existing, store.DamagedModel):
        print(f"{args.name} is damaged ({existing.problem}); installing it again.")
    try:
        model = store.pull_model(args.name, force=args.force)
    except store.ModelStoreError as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"pulling {args.name} failed: {error}")
    print(f"Installed {_describe(model)}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    try:
        model = store.import_model(args.path, args.name, force=args.force)
    except store.ModelStoreError as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"{args.path}: {error.strerror or error}")
    print(f"Imported {_describe(model)}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    try:
        store.remove_model(args.name)
    except (store.ModelStoreError, ModelNotInstalledError) as error:
        return _fail(str(error))
    print(f"Removed {args.name}.")
    return 0
