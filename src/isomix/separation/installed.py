"""Model folders on this machine: their layout and manifest, listing them, installing a staged
folder into place, removing one.

Layout: `<models_dir>/<NAME>/` holds `<NAME>.yaml` (a demucs bag: `models: [sig, ...]`, optional
`weights`, `segment`), one `<sig>.th` or `<sig>.safetensors` per bag member, and
`manifest.json`. A model folder is built under a temporary name and renamed into place, so a
folder with a manifest is always complete. A folder whose manifest cannot be used is *damaged*:
it is listed with what is wrong, cannot be loaded, and the next pull or import of its name
replaces it (no --force needed); `remove` deletes it. `<models_dir>/.default` holds the model
chosen with `isomix models default NAME`.

This is the lowest layer of the model store: `store` (import, load) and `hub` (pull) both build
on it, and it imports neither. Importable without torch: demucs and torch come in through
`weights`, inside the functions that load a model.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from isomix import storage
from isomix.separation import catalog
from isomix.separation.base import ModelNotInstalledError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# "manual": a folder put in models_dir by hand (bag yaml + weights, no manifest yet).
ModelSource = Literal["pulled", "imported", "manual", "builtin"]
# What a manifest may say; built-in models have no folder.
_MANIFEST_SOURCES = ("pulled", "imported", "manual")

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ModelStoreError(Exception):
    """A model operation that failed for a reason the user can act on (see the message)."""


class ModelImportError(ModelStoreError):
    pass


class ModelExistsError(ModelImportError):
    pass


class PullError(ModelStoreError):
    pass


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path | None  # None for built-in models
    sources: tuple[str, ...]
    sample_rate: int
    size_bytes: int
    source: ModelSource
    installed_at: datetime | None = None
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256

    @property
    def builtin(self) -> bool:
        return self.source == "builtin"


@dataclass(frozen=True)
class DamagedModel:
    """A model folder that cannot be used because its manifest cannot be: not installed as far
    as separating goes, but listed, and replaced by the next pull or import of its name."""

    name: str
    path: Path
    problem: str  # what is wrong, e.g. "manifest.json is not valid JSON (...)"

    def repair_commands(self, cli: str = "isomix") -> list[str]:
        """What repairs it: pull (catalog models) or import again, or remove."""
        entry = catalog.get_entry(self.name)
        pull = [f"{cli} models pull {self.name}"] if entry and entry.hub_repo else []
        return [
            *pull,
            f"{cli} models import PATH --name {self.name}",
            f"{cli} models remove {self.name}",
        ]

    @property
    def repair_hint(self) -> str:
        *reinstall, remove = (f"`{command}`" for command in self.repair_commands())
        return f"Reinstall it with {', '.join(reinstall)}, or delete it with {remove}."

    @property
    def message(self) -> str:
        return f"Model '{self.name}' is damaged: {self.problem}. {self.repair_hint}"


class ModelDamagedError(ModelNotInstalledError, ModelStoreError):
    """A damaged model was asked for. Callers that handle 'not installed' handle this too; the
    message says what is wrong and how to repair it."""

    def __init__(self, model: DamagedModel) -> None:
        Exception.__init__(self, model.message)
        self.name = model.name
        self.model = model


def resolve_models_dir(models_dir: Path | None) -> Path:
    return models_dir if models_dir is not None else storage.models_dir()


def valid_name(name: str) -> bool:
    return _NAME_PATTERN.fullmatch(name) is not None


def builtin_model(name: str) -> InstalledModel:
    entry = catalog.CATALOG[name]
    return InstalledModel(
        name=name, path=None, sources=entry.stems, sample_rate=44100, size_bytes=0,
        source="builtin",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Reading


class ManifestProblem(Exception):
    """Why a manifest cannot be used, as a phrase ("manifest.json is not valid JSON (...)")."""


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(data: dict[str, Any], key: str, kind: type, what: str) -> Any:
    if key not in data:
        raise ManifestProblem(f"{MANIFEST} has no '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestProblem(f"{MANIFEST}: '{key}' should be {what}, not {_show(value)}")
    return value


def read_manifest(folder: Path) -> InstalledModel:
    """The model `folder/manifest.json` describes; ManifestProblem says why it cannot be used
    (unreadable, not JSON, a field missing or of the wrong type, another model's name)."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ManifestProblem(f"{MANIFEST} is not UTF-8 text ({error.reason})") from error
    except json.JSONDecodeError as error:
        raise ManifestProblem(
            f"{MANIFEST} is not valid JSON ({error.msg}: line {error.lineno} column {error.colno})"
        ) from error
    except OSError as error:
        raise ManifestProblem(f"cannot read {MANIFEST}: {error.strerror or error}") from error
    if not isinstance(data, dict):
        raise ManifestProblem(f"{MANIFEST} holds {_show(data)} instead of an object")
    name = _field(data, "name", str, "a string")
    if name != folder.name:
        raise ManifestProblem(f"{MANIFEST} is for model '{name}', not '{folder.name}'")
    sources = _field(data, "sources", list, "a list of stem names")
    if not sources or not all(isinstance(source, str) for source in sources):
        raise ManifestProblem(f"{MANIFEST}: 'sources' should be stem names, not {_show(sources)}")
    sample_rate = _field(data, "sample_rate", int, "a whole number")
    size_bytes = _field(data, "size_bytes", int, "a whole number")
    source = _field(data, "source", str, "a string")
    if source not in _MANIFEST_SOURCES:
        raise ManifestProblem(
            f"{MANIFEST}: 'source' should be one of {', '.join(_MANIFEST_SOURCES)}, "
            f"not {_show(source)}"
        )
    installed_at = _field(data, "installed_at", str, "a date and time")
    try:
        when = datetime.fromisoformat(installed_at)
    except ValueError as error:
        raise ManifestProblem(
            f"{MANIFEST}: 'installed_at' is not a date and time: {_show(installed_at)}"
        ) from error
    files = _field(data, "files", dict, "an object of file names and sha256 sums")
    if not all(isinstance(digest, str) for digest in files.values()):
        raise ManifestProblem(f"{MANIFEST}: 'files' should map file names to sha256 sums")
    return InstalledModel(
        name=name,
        path=folder,
        sources=tuple(sources),
        sample_rate=sample_rate,
        size_bytes=size_bytes,
        source=cast(ModelSource, source),
        installed_at=when,
        files=dict(files),
    )


# (folder, problem) pairs already logged: listings run on every API request.
_logged_problems: set[tuple[Path, str]] = set()


def _damaged(folder: Path, problem: str) -> DamagedModel:
    model = DamagedModel(name=folder.name, path=folder, problem=problem)
    if (folder, problem) not in _logged_problems:
        _logged_problems.add((folder, problem))
        log.warning("model folder %s is damaged: %s", folder, problem)
    return model


def read_folder(folder: Path) -> InstalledModel | DamagedModel | None:
    """The model in `folder`: from its manifest (damaged when that cannot be used), or, for a
    folder put there by hand with just `<name>.yaml` and weights, what can be known without
    loading it (the catalog's stems). None when the folder is not a model at all."""
    if os.path.lexists(folder / MANIFEST):
        try:
            return read_manifest(folder)
        except ManifestProblem as problem:
            return _damaged(folder, str(problem))
    if not (folder / f"{folder.name}.yaml").is_file():
        return None
    entry = catalog.get_entry(folder.name)
    return InstalledModel(
        name=folder.name,
        path=folder,
        sources=entry.stems if entry is not None else (),
        sample_rate=44100,
        size_bytes=sum(p.stat().st_size for p in folder.iterdir() if p.is_file()),
        source="manual",
    )


def _model_folders(models_dir: Path | None) -> Iterator[InstalledModel | DamagedModel]:
    """Installed folders by name. Half-built folders (names starting with '.') and foreign
    folders are skipped."""
    root = resolve_models_dir(models_dir)
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir() or not valid_name(folder.name):
            continue
        model = read_folder(folder)
        if model is not None:
            yield model


def installed_models(
    models_dir: Path | None = None, *, include_hidden: bool = False
) -> list[InstalledModel]:
    """The usable models: built-in first (the test-only ones when `include_hidden`), then
    installed folders by name. Damaged ones are left out: see `damaged_models`."""
    models = [
        builtin_model(entry.name)
        for entry in catalog.CATALOG.values()
        if entry.builtin and (include_hidden or not entry.hidden)
    ]
    models += [m for m in _model_folders(models_dir) if isinstance(m, InstalledModel)]
    return models


def damaged_models(models_dir: Path | None = None) -> list[DamagedModel]:
    """Model folders that cannot be used, by name, each with what is wrong."""
    return [m for m in _model_folders(models_dir) if isinstance(m, DamagedModel)]


def find_model(name: str, models_dir: Path | None = None) -> InstalledModel | DamagedModel | None:
    """What is installed as `name`: a usable model, a damaged one, or nothing."""
    if catalog.is_builtin(name):
        return builtin_model(name)
    if not valid_name(name):
        return None
    return read_folder(resolve_models_dir(models_dir) / name)


def get_installed(name: str, models_dir: Path | None = None) -> InstalledModel | None:
    """The usable model called `name`; None when it is missing or damaged."""
    model = find_model(name, models_dir)
    return model if isinstance(model, InstalledModel) else None


def require_installed(name: str, models_dir: Path | None = None) -> InstalledModel:
    """The usable model called `name`; ModelNotInstalledError (ModelDamagedError for a damaged
    one) with the way to install it otherwise."""
    model = find_model(name, models_dir)
    if isinstance(model, DamagedModel):
        raise ModelDamagedError(model)
    if model is None:
        raise ModelNotInstalledError(name, known=catalog.is_known(name))
    return model


def is_installed(name: str, models_dir: Path | None = None) -> bool:
    return get_installed(name, models_dir) is not None


# ---------------------------------------------------------------------------------------------
# The chosen default

# `models/.default` holds the name chosen with `isomix models default NAME` (a dot name: never
# a model folder, whose names start with a letter or digit).
DEFAULT_FILE = ".default"


def chosen_default(models_dir: Path | None = None) -> str | None:
    """The model chosen with `isomix models default NAME`, installed or not; None if none."""
    path = resolve_models_dir(models_dir) / DEFAULT_FILE
    try:
        name = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        _warn_once(path, f"cannot be read ({error}); ignored")
        return None
    if not valid_name(name):
        _warn_once(path, f"does not hold a model name ({_show(name)}); ignored")
        return None
    return name


def choose_default(name: str, models_dir: Path | None = None) -> InstalledModel:
    """Make the installed model `name` the default (ModelNotInstalledError otherwise)."""
    model = require_installed(name, models_dir)
    root = resolve_models_dir(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    with storage.atomic_output(root / DEFAULT_FILE) as file:
        file.write(f"{name}\n".encode())
    return model


def clear_default(models_dir: Path | None = None) -> bool:
    """Forget the chosen default; False when none was chosen."""
    try:
        (resolve_models_dir(models_dir) / DEFAULT_FILE).unlink()
    except FileNotFoundError:
        return False
    return True


def _warn_once(path: Path, problem: str) -> None:
    if (path, problem) not in _logged_problems:
        _logged_problems.add((path, problem))
        log.warning("%s %s", path, problem)


# ---------------------------------------------------------------------------------------------
# Writing


def manifest_for(folder: Path, name: str, bag: Any, source: ModelSource) -> dict[str, Any]:
    from isomix.separation.weights import describe, sha256_of

    sources, sample_rate, _channels = describe(bag)
    files = {
        path.name: sha256_of(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != MANIFEST
    }
    return {
        "name": name,
        "sources": list(sources),
        "sample_rate": sample_rate,
        "size_bytes": sum((folder / file).stat().st_size for file in files),
        "files": files,
        "source": source,
        "installed_at": datetime.now(UTC).isoformat(),
    }


def adopt(folder: Path, bag: Any) -> None:
    """Write the manifest of a hand-placed model once it has loaded, so listings know its
    stems. Best effort: a read-only models folder keeps working without one (logged)."""
    manifest = manifest_for(folder, folder.name, bag, "manual")
    temporary = folder / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    try:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(temporary, folder / MANIFEST)
    except OSError as error:
        log.warning("could not write the manifest of %s: %s", folder, error)
        temporary.unlink(missing_ok=True)


def check_free(root: Path, name: str, *, force: bool) -> None:
    """ModelExistsError unless a model may be installed as `root/name`: nothing is there, or
    what is there is a damaged model (of no use to anyone, so replaced without --force), or
    `force`."""
    target = root / name
    if force or not os.path.lexists(target):
        return
    existing = read_folder(target) if target.is_dir() else None
    if isinstance(existing, DamagedModel):
        return
    if existing is None:
        raise ModelExistsError(f"{target} exists and is not a model; add --force to replace it")
    raise ModelExistsError(f"Model '{name}' is already installed; add --force to replace it")


def remove_model(name: str, models_dir: Path | None = None) -> None:
    """Delete an installed model, damaged or not."""
    if catalog.is_builtin(name):
        raise ModelStoreError(f"'{name}' is built in and cannot be removed")
    if find_model(name, models_dir) is None:
        raise ModelNotInstalledError(name, known=catalog.is_known(name))
    root = resolve_models_dir(models_dir)
    # Rename first so the model disappears at once even if deleting the files is slow.
    trash = root / f".removed-{name}-{uuid.uuid4().hex[:8]}"
    os.replace(root / name, trash)
    shutil.rmtree(trash, ignore_errors=True)  # what is left is swept later


# Leftovers of an install or removal killed halfway are deleted once surely abandoned.
_LEFTOVER_PREFIXES = (".tmp-", ".removed-", ".replaced-")
_LEFTOVER_AGE_SECONDS = 6 * 3600


def _sweep_leftovers(root: Path) -> None:
    now = time.time()
    for path in root.iterdir():
        try:
            old = now - path.stat().st_mtime > _LEFTOVER_AGE_SECONDS
        except OSError:
            continue  # gone meanwhile, or not ours to look at: not a leftover to delete
        if path.name.startswith(_LEFTOVER_PREFIXES) and path.is_dir() and old:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def staging_dir(root: Path, name: str) -> Iterator[Path]:
    root.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(root)
    staging = root / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_staged(
    staging: Path, name: str, source: ModelSource, *, force: bool, root: Path
) -> InstalledModel:
    """Verify the staged folder by loading it, write its manifest and rename it into place
    (over a damaged model of that name, or over anything with `force`)."""
    from isomix.separation.weights import WeightFileError, load_bag

    yaml_path = staging / f"{name}.yaml"
    try:
        bag = load_bag(yaml_path)
    except WeightFileError as error:
        raise ModelImportError(str(error)) from error
    manifest = manifest_for(staging, name, bag, source)
    del bag
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    storage.fsync_tree(staging)

    check_free(root, name, force=force)
    target = root / name
    trash: Path | None = None
    if os.path.lexists(target):
        trash = root / f".replaced-{name}-{uuid.uuid4().hex[:8]}"
        os.replace(target, trash)
    try:
        os.replace(staging, target)
    except OSError as error:
        if trash is not None:
            os.replace(trash, target)
        # Another install of the same name won the race.
        raise ModelExistsError(f"Model '{name}' was installed meanwhile: {error}") from error
    storage.fsync_dir(root)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return read_manifest(target)
