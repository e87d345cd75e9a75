"""Reading Demucs weight files and bag definitions into models.

Torch and demucs are imported inside the functions that load weights; reading bag files and
hashing stay light. The file formats are demucs 4.1.0's own:

- `<sig>.th`: `demucs.states.serialize_model` package (klass, args, kwargs, state) saved with
  torch.save; `<sig>-<sha256 prefix>.th` names carry a checksum, as in demucs' LocalRepo.
- `<sig>.safetensors`: the hub format (demucs/hf.py): tensors plus the json metadata
  `klass`, `args`, `kwargs` (and `structure` for nested states).
- `<name>.yaml`: a bag: `models: [sig, ...]`, optional `weights` and `segment`.
"""

from __future__ import annotations

import fractions
import hashlib
import json
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WEIGHT_SUFFIXES = (".safetensors", ".th")

# Only these classes may be built from a weight file. Both formats name the class to
# instantiate inside the file, so without this list a crafted file could run any callable.
MODEL_CLASSES = {
    "demucs.demucs.Demucs",
    "demucs.hdemucs.HDemucs",
    "demucs.htdemucs.HTDemucs",
}


class WeightFileError(Exception):
    """A weight or bag file that is not a usable Demucs model; the message says why."""


@dataclass(frozen=True)
class BagSpec:
    models: list[str]
    weights: list[list[float]] | None
    segment: float | None


def read_bag_spec(yaml_path: Path) -> BagSpec:
    try:
        data = yaml.safe_load(yaml_path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise WeightFileError(f"{yaml_path.name} is not a readable bag file: {error}") from error
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise WeightFileError(f"{yaml_path.name} has no `models: [signature, ...]` list")
    weights = data.get("weights")
    segment = data.get("segment")
    if weights is not None and not isinstance(weights, list):
        raise WeightFileError(f"{yaml_path.name}: `weights` must be a list of lists")
    if segment is not None and not isinstance(segment, int | float):
        raise WeightFileError(f"{yaml_path.name}: `segment` must be a number")
    return BagSpec(models=list(models), weights=weights, segment=segment)


def find_weight_file(directory: Path, sig: str) -> Path | None:
    """`<sig>.safetensors`, `<sig>.th`, or demucs' checksummed `<sig>-<hash>.th`."""
    for suffix in WEIGHT_SUFFIXES:
        candidate = directory / f"{sig}{suffix}"
        if candidate.is_file():
            return candidate
    checksummed = [
        path
        for path in sorted(directory.glob(f"{sig}-*.th"))
        if _checksum_suffix(path) is not None and signature_of(path) == sig
    ]
    return checksummed[0] if checksummed else None


def _checksum_suffix(path: Path) -> str | None:
    """The sha256 prefix in demucs' `<sig>-<hex>.th` names, if the name has one."""
    if path.suffix != ".th" or "-" not in path.stem:
        return None
    suffix = path.stem.rsplit("-", 1)[1]
    return suffix if re.fullmatch(r"[0-9a-f]{8,64}", suffix) else None


def signature_of(path: Path) -> str:
    """The bag signature a weight file stands for: its stem without a checksum suffix."""
    if _checksum_suffix(path) is not None:
        return path.stem.rsplit("-", 1)[0]
    return path.stem


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_name_checksum(path: Path) -> None:
    expected = _checksum_suffix(path)
    if expected is None:
        return
    actual = sha256_of(path)[: len(expected)]
    if actual != expected:
        raise WeightFileError(
            f"{path.name}: checksum mismatch (name says {expected}, content is {actual}); "
            "the file is damaged or incomplete"
        )


def _unsafe_globals(path: Path) -> list[str]:
    import torch

    allowed = MODEL_CLASSES | {"fractions.Fraction"}
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        return []
    return [name for name in names if name not in allowed]


def _check_class(qualified_name: str, path: Path) -> None:
    if qualified_name not in MODEL_CLASSES:
        raise WeightFileError(
            f"{path.name} asks for class {qualified_name!r}, which is not a Demucs model"
        )


def _load_th(path: Path) -> Any:
    import torch
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs
    from demucs.states import load_model

    _check_name_checksum(path)
    # weights_only with an allow-list: a pickle naming anything else is refused, not run.
    allowed = [Demucs, HDemucs, HTDemucs, fractions.Fraction]
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            # torch's notice about an unusual pickle protocol says nothing to our user: the
            # file is refused (or loaded) on its content just below.
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            package = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        unsafe = _unsafe_globals(path) if "Weights only load failed" in str(error) else []
        if not unsafe:
            raise WeightFileError(
                f"{path.name} is not a Demucs model file (.th from demucs' serialize_model)"
            ) from error
        raise WeightFileError(
            f"{path.name} holds objects other than a Demucs model ({', '.join(unsafe)}); "
            "refused, since loading it could run code"
        ) from error
    except Exception as error:
        raise WeightFileError(
            f"{path.name} is not a Demucs model file (.th from demucs' serialize_model): "
            f"{_first_line(error)}"
        ) from error
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= package.keys():
        raise WeightFileError(f"{path.name} is a torch file but not a Demucs model package")
    klass = package["klass"]
    _check_class(f"{klass.__module__}.{klass.__qualname__}", path)
    return load_model(package)  # type: ignore[no-untyped-call]


def _load_safetensors(path: Path) -> Any:
    from demucs.hf import load_safetensors_model
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
    except Exception as error:
        raise WeightFileError(
            f"{path.name} is not a safetensors file: {_first_line(error)}"
        ) from error
    missing = {"klass", "args", "kwargs"} - metadata.keys()
    if missing:
        raise WeightFileError(
            f"{path.name} is a safetensors file without Demucs metadata "
            f"(missing {', '.join(sorted(missing))})"
        )
    _check_class(metadata["klass"], path)
    if "structure" in metadata:
        _check_structure_classes(json.loads(metadata["structure"]), path)
    return load_safetensors_model(path)


def _check_structure_classes(node: Any, path: Path) -> None:
    # Nested (diffq) states may name classes; allow only those from demucs and diffq.
    if isinstance(node, dict):
        name = node.get("_class")
        if isinstance(name, str) and not name.startswith(("demucs.", "diffq.")):
            raise WeightFileError(f"{path.name} names class {name!r} in its state")
        for value in node.values():
            _check_structure_classes(value, path)
    elif isinstance(node, list):
        for value in node:
            _check_structure_classes(value, path)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def load_weight_file(path: Path) -> Any:
    """One Demucs model from a `.th` or `.safetensors` file, in eval mode."""
    if path.suffix == ".th":
        model = _load_th(path)
    elif path.suffix == ".safetensors":
        model = _load_safetensors(path)
    else:
        raise WeightFileError(f"{path.name}: expected a .th or .safetensors file")
    model.eval()
    return model


def load_bag(yaml_path: Path, weights_dir: Path | None = None) -> Any:
    """A demucs BagOfModels from a bag yaml and the weight files next to it."""
    from demucs.apply import BagOfModels

    spec = read_bag_spec(yaml_path)
    directory = weights_dir or yaml_path.parent
    models = []
    for sig in spec.models:
        weight_file = find_weight_file(directory, sig)
        if weight_file is None:
            raise WeightFileError(
                f"{yaml_path.name} lists model {sig} but neither {sig}.safetensors nor "
                f"{sig}.th is in {directory}"
            )
        try:
            models.append(load_weight_file(weight_file))
        except WeightFileError:
            raise
        except Exception as error:
            # Shapes that do not match the class, wrong state keys, ...
            raise WeightFileError(f"{weight_file.name}: {_first_line(error)}") from error
    try:
        bag = BagOfModels(models, spec.weights, spec.segment)
    except AssertionError as error:
        raise WeightFileError(
            f"{yaml_path.name}: the models of the bag do not agree on sources, sample rate, "
            "channels or weights"
        ) from error
    bag.eval()
    return bag


def describe(model: Any) -> tuple[tuple[str, ...], int, int]:
    """(sources, sample rate, audio channels) of a loaded model or bag."""
    return tuple(model.sources), int(model.samplerate), int(model.audio_channels)
