"""Models installed on this machine: list, load, import, pull from the hub, remove.

Layout: `<models_dir>/<NAME>/` holds `<NAME>.yaml` (a demucs bag: `models: [sig, ...]`, optional
`weights`, `segment`), one `<sig>.th` or `<sig>.safetensors` per bag member, and
`manifest.json`. A model folder is built under a temporary name and renamed into place, so a
folder with a manifest is always complete.

Importable without torch: torch, demucs and huggingface_hub are imported inside the functions
that need them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from isomix.config import get_settings
from isomix.separation import catalog
from isomix.separation.base import ModelNotInstalledError

if TYPE_CHECKING:
    import torch

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


def _read_manifest(folder: Path) -> InstalledModel | None:
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


def _read_folder(folder: Path) -> InstalledModel | None:
    """The model in `folder`: from its manifest, or, for a folder put there by hand with just
    `<name>.yaml` and weights, what can be known without loading it (the catalog's stems)."""
    if (folder / MANIFEST).exists():
        model = _read_manifest(folder)
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
            model = _read_folder(folder)
            if model is not None:
                models.append(model)
    return models


def get_installed(name: str, models_dir: Path | None = None) -> InstalledModel | None:
    if catalog.is_builtin(name):
        return builtin_model(name)
    if not valid_name(name):
        return None
    return _read_folder(resolve_models_dir(models_dir) / name)


def is_installed(name: str, models_dir: Path | None = None) -> bool:
    return get_installed(name, models_dir) is not None


def load_model(name: str, models_dir: Path | None = None) -> torch.nn.Module:
    """The demucs model for `name`, in eval mode on the CPU: a BagOfModels for installed models,
    the bare HDemucs for `demucs_unittest`."""
    if name == "demucs_unittest":
        import torch
        from demucs.pretrained import demucs_unittest

        # Seeded: every process gets the same random weights, hence the same stems.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model: torch.nn.Module = demucs_unittest()  # type: ignore[no-untyped-call]
        return model.eval()
    if name == "classic":
        raise ValueError("'classic' has no weights; it is separated by the classic engine")
    installed = get_installed(name, models_dir)
    if installed is None or installed.path is None:
        raise ModelNotInstalledError(name, known=catalog.is_known(name))
    from isomix.separation.weights import WeightFileError, load_bag

    try:
        bag: torch.nn.Module = load_bag(installed.path / f"{name}.yaml")
    except WeightFileError as error:
        raise ModelStoreError(
            f"Model '{name}' is installed but cannot be loaded ({error}). Reinstall it with "
            f"`isomix models pull {name} --force` or `isomix models import PATH --name {name} "
            "--force`."
        ) from error
    if installed.source == "manual":
        _adopt(installed.path, bag)
    return bag


def _manifest_for(folder: Path, name: str, bag: Any, source: ModelSource) -> dict[str, Any]:
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


def _adopt(folder: Path, bag: Any) -> None:
    """Write the manifest of a hand-placed model once it has loaded, so listings know its
    stems. Best effort: a read-only models folder keeps working without one."""
    manifest = _manifest_for(folder, folder.name, bag, "manual")
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


# ---------------------------------------------------------------------------------------------
# Installing


def _check_new_name(name: str) -> None:
    if not valid_name(name):
        raise ModelImportError(
            f"'{name}' is not a valid model name (letters, digits, '_', '-', '.'; at most 64)"
        )
    if catalog.is_builtin(name):
        raise ModelImportError(f"'{name}' is a built-in model name; choose another --name")


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
    manifest = _manifest_for(staging, name, bag, source)
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
    installed = _read_manifest(target)
    assert installed is not None
    return installed


def _write_bag_yaml(path: Path, signatures: list[str], spec: Any | None = None) -> None:
    import yaml

    data: dict[str, Any] = {"models": signatures}
    if spec is not None and spec.weights is not None:
        data["weights"] = spec.weights
    if spec is not None and spec.segment is not None:
        data["segment"] = spec.segment
    path.write_text(yaml.safe_dump(data, default_flow_style=None))


def _stage_from_folder(
    yaml_path: Path, staging: Path, name: str, transfer: Callable[[Path, Path], Any]
) -> None:
    from isomix.separation.weights import WeightFileError, find_weight_file, read_bag_spec

    try:
        spec = read_bag_spec(yaml_path)
    except WeightFileError as error:
        raise ModelImportError(str(error)) from error
    for sig in spec.models:
        weight_file = find_weight_file(yaml_path.parent, sig)
        if weight_file is None:
            raise ModelImportError(
                f"{yaml_path.name} lists model {sig}, but neither {sig}.safetensors nor "
                f"{sig}.th is in {yaml_path.parent}"
            )
        # Keep the checksummed name: loading checks it again.
        if not (staging / weight_file.name).exists():
            transfer(weight_file, staging / weight_file.name)
    _write_bag_yaml(staging / f"{name}.yaml", spec.models, spec)


def _find_bag_yaml(folder: Path, name: str | None) -> Path:
    yamls = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if name is not None:
        for candidate in yamls:
            if candidate.stem == name:
                return candidate
    if len(yamls) == 1:
        return yamls[0]
    if not yamls:
        raise ModelImportError(
            f"{folder} has no bag .yaml file (`models: [signature, ...]`); import a single "
            ".th or .safetensors file directly instead"
        )
    names = ", ".join(p.name for p in yamls)
    raise ModelImportError(f"{folder} holds several bag files ({names}); import one of them")


def import_model(
    path: Path,
    name: str | None = None,
    *,
    force: bool = False,
    models_dir: Path | None = None,
) -> InstalledModel:
    """Install a model from a `.th` (demucs serialize_model package), a `.safetensors` (hub
    format), a bag `.yaml`, or a folder holding a bag yaml with its weight files."""
    from isomix.separation.weights import signature_of

    path = Path(path)
    if not path.exists():
        raise ModelImportError(f"{path}: no such file or folder")
    yaml_path: Path | None = None
    if path.is_dir():
        yaml_path = _find_bag_yaml(path, name)
        default_name = yaml_path.stem
    elif path.suffix in (".yaml", ".yml"):
        yaml_path = path
        default_name = path.stem
    elif path.suffix in (".th", ".safetensors"):
        default_name = path.stem
    else:
        raise ModelImportError(
            f"{path.name}: expected a .th or .safetensors weight file, a bag .yaml, or a folder"
        )
    name = name or default_name
    _check_new_name(name)
    root = resolve_models_dir(models_dir)
    if (root / name).exists() and not force:
        raise ModelExistsError(f"Model '{name}' is already installed; add --force to replace it")
    with staging_dir(root, name) as staging:
        if yaml_path is not None:
            _stage_from_folder(yaml_path, staging, name, shutil.copyfile)
        else:
            shutil.copyfile(path, staging / path.name)
            _write_bag_yaml(staging / f"{name}.yaml", [signature_of(path)])
        return install_staged(staging, name, "imported", force=force, root=root)


def pull_model(
    name: str,
    *,
    progress: bool = True,
    force: bool = False,
    models_dir: Path | None = None,
) -> InstalledModel:
    """Download a catalog model from the HuggingFace hub, verify it and install it (see
    `isomix.separation.hub.pull`). Raises PullError, with the offline way in its message."""
    from isomix.separation.hub import pull

    return pull(name, progress=progress, force=force, models_dir=models_dir)
