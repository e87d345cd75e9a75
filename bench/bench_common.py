"""Shared by the bench scripts: an htdemucs-sized model with random weights, music-like audio,
and installing a model where `isomix` finds it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 44100
SOURCES = ["drums", "bass", "other", "vocals"]
# The published htdemucs architecture: 42.0M parameters, 7.8 s segments.
HTDEMUCS_SIZED_KWARGS: dict[str, Any] = {
    "dconv_mode": 3,
    "bottom_channels": 512,
    "segment": Fraction(39, 5),
}


def build_htdemucs_sized_repo(directory: Path, name: str, seed: int = 0) -> Path:
    """Save an htdemucs-sized HTDemucs with random weights as `<directory>/<name>.th`."""
    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import serialize_model
    from omegaconf import OmegaConf

    directory.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HTDemucs(sources=list(SOURCES), **HTDEMUCS_SIZED_KWARGS)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: HTDemucs {HTDEMUCS_SIZED_KWARGS}, {parameters / 1e6:.1f}M parameters")
    path = directory / f"{name}.th"
    torch.save(serialize_model(model, OmegaConf.create({})), path)
    return path


def install_model(models_dir: Path, name: str, weights: Path) -> None:
    """`<models_dir>/<name>/<name>.yaml` (bag of one) + the weights, IsoMix's layout."""
    target = models_dir / name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, target / weights.name)
    (target / f"{name}.yaml").write_text(f"models: ['{weights.stem}']\n")


def music_like(seconds: float, seed: int = 0) -> npt.NDArray[np.float32]:
    """Stereo float32 chords, bass and noise hits, built in 10 s blocks (no float64 copy
    of the whole track)."""
    rng = np.random.default_rng(seed)
    length = int(seconds * SAMPLE_RATE)
    audio = np.empty((2, length), dtype=np.float32)
    block = 10 * SAMPLE_RATE
    for start in range(0, length, block):
        t = np.arange(start, min(start + block, length)) / SAMPLE_RATE
        chord_root = 220.0 * 2 ** ((int(t[0] / 2) % 4) / 12)  # changes every 2 s
        chord = sum(np.sin(2 * np.pi * chord_root * r * t) for r in (1.0, 1.26, 1.5)) / 3
        bass = np.sin(2 * np.pi * chord_root / 4 * t)
        hits = rng.standard_normal((2, t.size)) * np.exp(-((t * 2) % 1.0) * 30)
        audio[0, start : start + t.size] = 0.3 * chord + 0.25 * bass + 0.2 * hits[0]
        audio[1, start : start + t.size] = 0.25 * chord + 0.25 * bass + 0.2 * hits[1]
    return audio


def wait_until_ready(client: Any, server: Any, log_path: Path, timeout: float = 120.0) -> None:
    """Wait for an `isomix serve` child (subprocess.Popen) to answer /readyz on `client`
    (an httpx.Client); exit with the end of its log if it dies or takes too long."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(log_path.read_text()[-3000:])
        time.sleep(0.2)


@dataclass(frozen=True)
class Figure:
    """One measured figure for `make bench`'s side-by-side table (bench/run_all.py)."""

    name: str
    measured: str  # the value as printed, with its unit
    reference: str  # what it is compared with, measured in the same run ("" if nothing)
    target: str
    met: bool | None  # None: no target to meet


def record(figures: Iterable[Figure]) -> None:
    """Append `figures` to the JSON-lines file named by $BENCH_SUMMARY, when it is set."""
    path = os.environ.get("BENCH_SUMMARY")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as summary:
        for figure in figures:
            summary.write(json.dumps(asdict(figure)) + "\n")
