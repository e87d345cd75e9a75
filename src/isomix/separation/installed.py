"""Model folders on this machine: their layout and manifest, listing them, installing a staged
folder into place, removing one.

Layout: `<models_dir>/<NAME>/` holds `<NAME>.yaml` (a demucs bag: `models: [sig, ...]`, optional
`weights`, `segment`), one `<sig>.th` or `<sig>.safetensors` per bag member, and
`manifest.json`. A model folder is built under a temporary name and renamed into place, so a
folder with a manifest is always complete.

This is the lowest layer of the model store: `store` (import, load) and `hub` (pull) both build
on it, and it imports neither. Importable without torch: demucs and torch come in through
`weights`, inside the functions that load a model.
"""

from __future__ import annotations

import json
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
from typing import Any, Literal

from isomix.config import get_settings
from isomix.separation import catalog
from isomix.separation.base import ModelNotInstalledError

MANIFEST = "manifest.json"
# "manual": a folder put in models_dir by hand (bag yaml + weights, no manifest yet).
ModelSource = Literal["pulled", "imported", "manual", "builtin"]

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


def resolve_models_dir(models_dir: Path | None) -> Path:
    return models_dir if models_dir is not None else get_settings().models_dir


def valid_name(name: str) -> bool:
    return _NAME_PATTERN.fullmatch(name) is not None


def builtin_model(name: str) -> InstalledModel:
    entry = catalog.CATALOG[name]
    return InstalledModel(
        name=name, path=None, sources=entry.stems, sample_rate=44100, size_bytes=0,
        source="builtin",
    )  # fmt: skip


def read_manifest(folder: Path) -> InstalledModel | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
        return InstalledModel(
            name=str(data["name"]),
            path=folder,
            sources=tuple(data["sources"]),
            sample_rate=int(data["sample_rate"]),
            size_bytes=int(data["size_bytes"]),
            source=data["source"],
            installed_at=datetime.fromisoformat(data["installed_at"]),
            files=dict(data["files"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_folder(folder: Path) -> InstalledModel | None:
    """The model in `folder`: from its manifest, or, for a folder put there by hand with just
    `<name>.yaml` and weights, what can be known without loading it (the catalog's stems)."""
    if (folder / MANIFEST).exists():
        model = read_manifest(folder)
        return model if model is not None and model.name == folder.name else None
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


def installed_models(
    models_dir: Path | None = None, *, include_hidden: bool = False
) -> list[InstalledModel]:
    """Built-in models first (the test-only ones when `include_hidden`), then installed folders
    by name. Half-built folders (names starting with '.') and foreign folders are skipped."""
    models = [
        builtin_model(entry.name)
        for entry in catalog.CATALOG.values()
        if entry.builtin and (include_hidden or not entry.hidden)
    ]
    root = resolve_models_dir(models_dir)
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir() or not valid_name(folder.name):
                continue
            model = read_folder(folder)
            if model is not None:
                models.append(model)
    return models


def get_installed(name: str, models_dir: Path | None = None) -> InstalledModel | None:
    if catalog.is_builtin(name):
        return builtin_model(name)
    if not valid_name(name):
        return None
    return read_folder(resolve_models_dir(models_dir) / name)


def is_installed(name: str, models_dir: Path | None = None) -> bool:
    return get_installed(name, models_dir) is not None


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
    stems. Best effort: a read-only models folder keeps working without one."""
    manifest = manifest_for(folder, folder.name, bag, "manual")
    temporary = folder / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    try:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(temporary, folder / MANIFEST)
    except OSError:
        temporary.unlink(missing_ok=True)


def remove_model(name: str, models_dir: Path | None = None) -> None:
    if catalog.is_builtin(name):
        raise ModelStoreError(f"'{name}' is built in and cannot be removed")
    if get_installed(name, models_dir) is None:
        raise ModelNotInstalledError(name, known=catalog.is_known(name))
    root = resolve_models_dir(models_dir)
    # Rename first so the model disappears at once even if deleting the files is slow.
    trash = root / f".removed-{name}-{uuid.uuid4().hex[:8]}"
    os.replace(root / name, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Leftovers of an install or removal killed halfway are deleted once surely abandoned.
_LEFTOVER_PREFIXES = (".tmp-", ".removed-", ".replaced-")
_LEFTOVER_AGE_SECONDS = 6 * 3600


def _sweep_leftovers(root: Path) -> None:
    now = time.time()
    for path in root.iterdir():
        try:
            old = now - path.stat().st_mtime > _LEFTOVER_AGE_SECONDS
        except OSError:
            continue
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
    """Verify the staged folder by loading it, write its manifest and rename it into place."""
    from isomix.separation.weights import WeightFileError, load_bag

    yaml_path = staging / f"{name}.yaml"
    try:
        bag = load_bag(yaml_path)
    except WeightFileError as error:
        raise ModelImportError(str(error)) from error
    manifest = manifest_for(staging, name, bag, source)
    del bag
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    for path in staging.iterdir():
        _fsync_path(path)
    _fsync_path(staging)

    target = root / name
    trash: Path | None = None
    if target.exists():
        if not force:
            raise ModelExistsError(
                f"Model '{name}' is already installed; add --force to replace it"
            )
        trash = root / f".replaced-{name}-{uuid.uuid4().hex[:8]}"
        os.replace(target, trash)
    try:
        os.replace(staging, target)
    except OSError as error:
        if trash is not None:
            os.replace(trash, target)
        # Another install of the same name won the race.
        raise ModelExistsError(f"Model '{name}' was installed meanwhile: {error}") from error
    _fsync_path(root)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    installed = read_manifest(target)
    assert installed is not None
    return installed
