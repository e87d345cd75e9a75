"""`isomix models list|pull|import|remove|default`: manage the separation models on this
machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from isomix.config import get_settings
from isomix.separation import catalog, store
from isomix.separation.base import ModelNotInstalledError

# Why a model is the default, as `models list` and `models default` say it.
DEFAULT_REASONS = {
    "configured": "set by ISOMIX_DEFAULT_MODEL",
    "chosen": "chosen with `isomix models default`",
    "preferred": "the best installed, in the catalog's order",
    "fallback": "the built-in engine: no catalog model is installed",
}


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

    default = actions.add_parser(
        "default",
        help="show or choose the default model",
        description="Without NAME, show the default model and why. With NAME, make that "
        "installed model the default of the web UI, the API and `isomix separate` (stored in "
        "the models folder). ISOMIX_DEFAULT_MODEL, when set to an installed model, wins over "
        "this choice. Without a choice, the default is the best installed model in the "
        "catalog's order (htdemucs_ft, htdemucs, htdemucs_6s, mdx_extra), then classic.",
    )
    default.add_argument("name", metavar="NAME", nargs="?")
    default.add_argument("--clear", action="store_true", help="forget the chosen default")
    default.set_defaults(handler=run_default)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _default() -> store.DefaultModel:
    return store.default_model(get_settings().default_model)


def _sdr(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "none"


def _rows(include_hidden: bool, damaged: set[str], default: str) -> list[tuple[str, ...]]:
    installed = {m.name: m for m in store.installed_models(include_hidden=include_hidden)}
    rows: list[tuple[str, ...]] = []
    for entry in catalog.listed_entries(include_hidden=include_hidden):
        model = installed.pop(entry.name, None)
        if entry.builtin:
            size = "built in"
        elif model is not None:
            size = catalog.format_size(model.size_bytes)
        else:
            size = catalog.format_size(entry.size_mb * catalog.BYTES_PER_MB, approximate=True)
        notes = ["tests only" if entry.hidden else "low quality" if entry.low_quality else ""]
        notes.append("default" if entry.name == default else "")
        stems = ",".join(model.sources if model is not None else entry.stems)
        state = "yes" if model else "damaged" if entry.name in damaged else "no"
        note = ", ".join(note for note in notes if note)
        rows.append((entry.name, stems, size, state, _sdr(entry.sdr_db), note))
    for model in installed.values():  # imported under a name the catalog does not know
        size = catalog.format_size(model.size_bytes)
        note = "imported, default" if model.name == default else "imported"
        rows.append((model.name, ",".join(model.sources), size, "yes", "none", note))
    for name in sorted(damaged - set(catalog.CATALOG)):
        rows.append((name, "?", "-", "damaged", "none", "imported"))
    return rows


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def run_list(args: argparse.Namespace) -> int:
    header = ("NAME", "STEMS", "SIZE", "INSTALLED", "SDR dB", "NOTE")
    damaged = store.damaged_models()
    default = _default()
    _table([header, *_rows(args.all, {model.name for model in damaged}, default.name)])
    for model in damaged:
        print(f"\n{model.message}")
    print(f"\nDefault: {default.name} ({DEFAULT_REASONS[default.reason]}).")
    print("\nSDR dB: mean over the 4 stems, higher is better; where each figure comes from:")
    _table(
        [
            (f"  {entry.name}", entry.sdr_source)
            for entry in catalog.listed_entries(include_hidden=args.all)
        ]
    )
    print("Sizes in MB of 10^6 bytes; '~': the catalog's estimate of the download.")
    return 0


def _describe(model: store.InstalledModel) -> str:
    where = f" in {model.path}" if model.path is not None else ""
    return (
        f"{model.name}: {len(model.sources)} stems ({', '.join(model.sources)}), "
        f"{catalog.format_size(model.size_bytes)}{where}"
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
    was_default = _default().name == args.name
    try:
        store.remove_model(args.name)
    except (store.ModelStoreError, ModelNotInstalledError) as error:
        return _fail(str(error))
    print(f"Removed {args.name}.")
    if was_default:
        default = _default()
        print(f"The default model is now {default.name} ({DEFAULT_REASONS[default.reason]}).")
    return 0


def run_default(args: argparse.Namespace) -> int:
    if args.clear and args.name:
        return _fail("give a NAME or --clear, not both")
    if args.clear:
        cleared = store.clear_default()
        default = _default()
        print(
            ("Forgot the chosen default. " if cleared else "No default was chosen. ")
            + f"The default model is {default.name} ({DEFAULT_REASONS[default.reason]})."
        )
        return 0
    if args.name:
        try:
            store.choose_default(args.name)
        except ModelNotInstalledError as error:
            return _fail(str(error))
        except OSError as error:
            return _fail(f"could not store the choice: {error.strerror or error}")
    default = _default()
    print(f"The default model is {default.name} ({DEFAULT_REASONS[default.reason]}).")
    if args.name and default.name != args.name:
        print(
            f"{args.name} is stored as the chosen default, but ISOMIX_DEFAULT_MODEL "
            "wins while it is set."
        )
    return 0
