"""The model store, as the rest of IsoMix uses it: list, load, import, pull, remove, and which
model is the default.

Where things live: `installed` owns the model folders (layout, manifest, listing, installing a
staged folder, removing), `hub` pulls from the HuggingFace hub on top of it, and this module
imports files into it and loads models out of it. Everything callers need is importable from
here.

Importable without torch: torch, demucs and huggingface_hub are imported inside the functions
that need them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from isomix.separation import catalog
from isomix.separation.base import ModelNotInstalledError
from isomix.separation.hub import (
    BackgroundPull,
    HubUnreachableError,
    ProgressCallback,
    PullProgress,
    PullRunningError,
    PullStatus,
    background_pull,
    pull,
    start_pull,
)
from isomix.separation.installed import (
    MANIFEST,
    DamagedModel,
    InstalledModel,
    ModelDamagedError,
    ModelExistsError,
    ModelImportError,
    ModelSource,
    ModelStoreError,
    PullError,
    adopt,
    builtin_model,
    check_free,
    choose_default,
    chosen_default,
    clear_default,
    damaged_models,
    find_model,
    get_installed,
    install_staged,
    installed_models,
    is_installed,
    remove_model,
    require_installed,
    resolve_models_dir,
    staging_dir,
    valid_name,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "MANIFEST",
    "BackgroundPull",
    "DamagedModel",
    "DefaultModel",
    "HubUnreachableError",
    "InstalledModel",
    "ModelDamagedError",
    "ModelExistsError",
    "ModelImportError",
    "ModelSource",
    "ModelStoreError",
    "ProgressCallback",
    "PullError",
    "PullProgress",
    "PullRunningError",
    "PullStatus",
    "background_pull",
    "builtin_model",
    "choose_default",
    "chosen_default",
    "clear_default",
    "damaged_models",
    "default_model",
    "find_model",
    "get_installed",
    "import_model",
    "installed_models",
    "is_installed",
    "load_model",
    "pull_model",
    "remove_model",
    "require_installed",
    "resolve_models_dir",
    "start_pull",
    "valid_name",
]


DefaultReason = Literal["configured", "chosen", "preferred", "fallback"]


@dataclass(frozen=True)
class DefaultModel:
    name: str
    # configured: ISOMIX_DEFAULT_MODEL; chosen: `isomix models default NAME`; preferred: the
    # best installed in catalog.MODEL_PREFERENCE; fallback: the built-in engine, nothing better.
    reason: DefaultReason


def default_model(configured: str | None = None, models_dir: Path | None = None) -> DefaultModel:
    """The model used when none is asked for, first installed of: `configured` (the
    ISOMIX_DEFAULT_MODEL setting, when set), the model chosen with `isomix models default`,
    the catalog's order (best published quality first), then the built-in classic engine.
    An imported model is never the default unless configured or chosen."""
    if configured and is_installed(configured, models_dir):
        return DefaultModel(configured, "configured")
    chosen = chosen_default(models_dir)
    if chosen is not None and is_installed(chosen, models_dir):
        return DefaultModel(chosen, "chosen")
    for name in catalog.MODEL_PREFERENCE:
        if is_installed(name, models_dir):
            return DefaultModel(name, "preferred")
    return DefaultModel(catalog.FALLBACK_MODEL, "fallback")


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
    installed = require_installed(name, models_dir)
    if installed.path is None:
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
        adopt(installed.path, bag)
    return bag


# ---------------------------------------------------------------------------------------------
# Importing


def _check_new_name(name: str) -> None:
    if not valid_name(name):
        raise ModelImportError(
            f"'{name}' is not a valid model name (letters, digits, '_', '-', '.'; at most 64)"
        )
    if catalog.is_builtin(name):
        raise ModelImportError(f"'{name}' is a built-in model name; choose another --name")


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
    check_free(root, name, force=force)
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
    on_progress: ProgressCallback | None = None,
) -> InstalledModel:
    """Download a catalog model from the HuggingFace hub, verify it and install it (see
    `isomix.separation.hub.pull`). Raises PullError, with the offline way in its message."""
    return pull(
        name, progress=progress, force=force, models_dir=models_dir, on_progress=on_progress
    )
