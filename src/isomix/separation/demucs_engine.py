"""The Demucs engine: a loaded Demucs model (or bag) behind the `Engine` protocol."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from demucs.apply import BagOfModels
from demucs.hdemucs import HDemucs
from demucs.htdemucs import HTDemucs

from isomix.separation import inference
from isomix.separation.base import (
    AudioArray,
    ModelNotInstalledError,
    ProgressCallback,
    SeparationOptions,
)
from isomix.separation.inference import Model

UNITTEST_MODEL = "demucs_unittest"
UNITTEST_SOURCES = ("drums", "bass", "other", "vocals")

# Segments per forward pass. Measured on 2 CPU cores with an htdemucs-sized model
# (bench/separate.py): see DEFAULT_BATCH_SIZE's note in the report; 1 keeps memory lowest.
DEFAULT_BATCH_SIZE = 1


class DemucsEngine:
    """Separates with one Demucs model or bag, loaded once, on one device."""

    def __init__(
        self,
        name: str,
        model: Model,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._name = name
        self._device = device
        self._batch_size = batch_size
        model.to(device)
        model.eval()
        self._model = model
        self._sources = tuple(str(source) for source in model.sources)
        self._sample_rate = int(model.samplerate)
        self._channels = int(model.audio_channels)

    @property
    def name(self) -> str:
        return self._name

    @property
    def sources(self) -> tuple[str, ...]:
        return self._sources

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def device(self) -> str:
        return self._device

    @property
    def model(self) -> Model:
        return self._model

    def max_segment(self) -> float:
        """Longest `segment` the model accepts (transformer models were trained on one)."""
        limits = [
            float(member.segment)
            for member in inference.bag_members(self._model)[0]
            if isinstance(member, HTDemucs)
        ]
        return min(limits, default=float("inf"))

    def separate(
        self,
        mix: AudioArray,
        options: SeparationOptions,
        progress: ProgressCallback | None = None,
    ) -> dict[str, AudioArray]:
        wav = self._as_tensor(mix)
        if options.segment is not None and options.segment > self.max_segment():
            raise ValueError(
                f"segment {options.segment} s is longer than model '{self._name}' was trained "
                f"for; the maximum is {self.max_segment():g} s"
            )
        if options.shifts < 0:
            raise ValueError("shifts must be 0 or more")
        channels, length = wav.shape
        stems = np.zeros((len(self._sources), channels, length), dtype=np.float32)
        if length < 2:  # no mixture statistics to normalise with; nothing to separate
            if progress is not None:
                progress(1.0)
            return dict(zip(self._sources, stems, strict=True))

        # Mixture normalisation exactly as demucs.api.Separator.separate_tensor.
        ref = wav.mean(0)
        mean = ref.mean()
        std = ref.std() + 1e-8
        del ref
        out = torch.from_numpy(stems)
        inference.apply_model(
            self._model,
            wav,
            shifts=options.shifts,
            overlap=options.overlap,
            segment=options.segment,
            device=self._device,
            batch_size=self._batch_size,
            mix_mean=mean,
            mix_std=std,
            out=out,
            progress=progress,
        )
        out *= std
        out += mean
        return dict(zip(self._sources, stems, strict=True))

    def _as_tensor(self, mix: AudioArray) -> torch.Tensor:
        array = np.asarray(mix)
        if array.ndim != 2:
            raise ValueError(f"mix must be (channels, samples), got shape {array.shape}")
        if array.dtype != np.float32 or not array.flags.c_contiguous:
            array = np.ascontiguousarray(array, dtype=np.float32)
        wav = torch.from_numpy(array)
        if wav.shape[0] == 1 and self._channels > 1:
            return wav.expand(self._channels, -1)  # mono: same signal on each channel, no copy
        if wav.shape[0] != self._channels:
            raise ValueError(
                f"model '{self._name}' takes {self._channels} channels, got {wav.shape[0]}"
            )
        return wav


def build_unittest_model() -> Model:
    """demucs' `demucs_unittest` (a tiny HDemucs with random weights), seeded so that every
    process gets the same weights and the same stems."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = HDemucs(channels=4, sources=list(UNITTEST_SOURCES))
    return model


def load_installed_model(name: str, models_dir: Path) -> Model:
    """Load `<models_dir>/<name>/<name>.yaml` (demucs bag format) and its member weights.

    Used until `isomix.separation.store.load_model` exists; same layout.
    """
    directory = models_dir / name
    bag_file = directory / f"{name}.yaml"
    if not bag_file.is_file():
        raise ModelNotInstalledError(name, known=_is_known(name))
    with bag_file.open() as file:
        bag: dict[str, Any] = yaml.safe_load(file) or {}
    signatures: Sequence[str] = bag.get("models") or []
    if not signatures:
        raise ModelNotInstalledError(name, known=_is_known(name))
    members = [_load_member(directory, str(signature), name) for signature in signatures]
    return BagOfModels(members, bag.get("weights"), bag.get("segment"))


def _load_member(directory: Path, signature: str, name: str) -> Model:
    from demucs.states import load_model

    safetensors_file = directory / f"{signature}.safetensors"
    if safetensors_file.is_file():
        from demucs.hf import load_safetensors_model

        model: Model = load_safetensors_model(safetensors_file)
        return model
    candidates = [directory / f"{signature}.th", *sorted(directory.glob(f"{signature}-*.th"))]
    for candidate in candidates:
        if candidate.is_file():
            return load_model(candidate)  # type: ignore[no-untyped-call]
    raise ModelNotInstalledError(name, known=_is_known(name))


def _is_known(name: str) -> bool:
    from isomix.separation.catalog import CATALOG

    return name in CATALOG


def load_model(name: str, models_dir: Path) -> Model:
    """The model called `name`: the built-in test model, or one installed under `models_dir`."""
    if name == UNITTEST_MODEL:
        return build_unittest_model()
    try:
        # Written by the model-store work; imported by name so this builds before it lands.
        store = importlib.import_module("isomix.separation.store")
    except ModuleNotFoundError as error:
        if error.name != "isomix.separation.store":
            raise
        return load_installed_model(name, models_dir)
    loader = getattr(store, "load_model", None)
    if loader is None:
        return load_installed_model(name, models_dir)
    model: Model = loader(name, models_dir)
    return model
