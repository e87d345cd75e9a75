"""Small Demucs models with random weights, saved the way demucs and IsoMix load them.

Import from tests as `from helpers.models import build_small_htdemucs_repo` (tests/ is on
sys.path through tests/conftest.py).
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
import yaml
from demucs.htdemucs import HTDemucs
from demucs.states import serialize_model
from omegaconf import OmegaConf

SOURCES = ["drums", "bass", "other", "vocals"]

# Fast on CPU (about 0.05 s per 2 s segment) while keeping every HTDemucs part: both
# branches, the cross-transformer (one layer) and the STFT path.
SMALL_HTDEMUCS_KWARGS: dict[str, Any] = {
    "channels": 8,
    "depth": 4,
    "t_layers": 1,
    "segment": Fraction(2),
}

# The published `htdemucs` architecture (about 42M parameters, 7.8 s segments).
HTDEMUCS_SIZED_KWARGS: dict[str, Any] = {
    "dconv_mode": 3,
    "bottom_channels": 512,
    "segment": Fraction(39, 5),
}


def build_htdemucs_repo(directory: Path, name: str, *, seed: int = 0, **kwargs: Any) -> Path:
    """Build an HTDemucs with random weights (seeded) and save `<directory>/<name>.th` with
    demucs.states.serialize_model, i.e. what `python -m demucs --repo DIRECTORY -n NAME`
    loads. Returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HTDemucs(sources=list(SOURCES), **kwargs)
    package = serialize_model(model, OmegaConf.create({}))
    path = directory / f"{name}.th"
    torch.save(package, path)
    return path


def build_small_htdemucs_repo(directory: Path, name: str, *, seed: int = 0) -> Path:
    """A small, fast HTDemucs saved as `<directory>/<name>.th` (see build_htdemucs_repo)."""
    return build_htdemucs_repo(directory, name, seed=seed, **SMALL_HTDEMUCS_KWARGS)


def install_model(
    models_dir: Path,
    name: str,
    members: list[Path],
    *,
    weights: list[list[float]] | None = None,
    segment: float | None = None,
) -> Path:
    """Install serialized `.th` members as IsoMix model `name`: `<models_dir>/<name>/` with
    `<name>.yaml` in demucs' bag format and one `<sig>.th` per member (sig = file stem)."""
    target = models_dir / name
    target.mkdir(parents=True, exist_ok=True)
    bag: dict[str, Any] = {"models": [member.stem for member in members]}
    if weights is not None:
        bag["weights"] = weights
    if segment is not None:
        bag["segment"] = segment
    for member in members:
        shutil.copyfile(member, target / member.name)
    (target / f"{name}.yaml").write_text(yaml.safe_dump(bag))
    return target
