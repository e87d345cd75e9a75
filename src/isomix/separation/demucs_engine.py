"""The Demucs engine: a loaded Demucs model (or bag) behind the `Engine` protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from demucs.htdemucs import HTDemucs

from isomix.separation import inference
from isomix.separation.base import (
    AudioArray,
    PartCallback,
    ProgressCallback,
    SeparationOptions,
)
from isomix.separation.channels_last import to_channels_last
from isomix.separation.inference import Model
from isomix.separation.peak_memory import lower_peak_memory
from isomix.separation.precision import Precision, lower_weights

# Segments per forward pass. On CPU, batching costs more time per segment (htdemucs-sized
# model, one thread: about 4.5 CPU-s per 7.8 s segment alone, 5.2 in twos, 6.2 in threes)
# and multiplies the working memory, so one at a time.
DEFAULT_BATCH_SIZE = 1
# Segments run at once on CPU, each with its share of torch's threads. On idle cores this is
# on par with one segment on all threads (2 cores: 13.8 s vs 14.2 s, bench/segment_workers.py;
# `isomix separate` vs `python -m demucs`: ratio 1.02); when the cores are shared with other
# work (other jobs, encoders, the web server), threads of one segment wait on each other and
# two single-threaded segments were 2x faster (ratio 0.49, half the CPU time). Each costs the
# model's working memory (about 1 GB for htdemucs), so long tracks go one at a time: up to
# the limit, peak RSS measured 3.35 GB (9.4 min); a 20 min track 3.28 GB
# (bench/long_file_memory.py). In fp32, whose activations are twice bf16's, two segments
# peaked above a sequential `python -m demucs` run (1.95 against 1.51 GB, 60 s) while one
# at a time peaked at 1.34 GB in the same time (23.1-24.3 s against 23.9 s), so fp32 runs
# one segment at a time.
PARALLEL_SEGMENTS = 2
PARALLEL_MAX_STEM_BYTES = 768 << 20  # 4 stereo float32 stems of about 9.5 minutes


class DemucsEngine:
    """Separates with one Demucs model or bag, loaded once, on one device."""

    def __init__(
        self,
        name: str,
        model: Model,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        precision: Precision = "fp32",
    ) -> None:
        self._name = name
        self._device = device
        self._batch_size = batch_size
        self._precision = precision
        model.to(device)
        model.eval()
        # The engine owns the model from here: its weights may change type (bf16 on CPU)
        # and layout (channels-last, what the CPU's convolution kernels compute in).
        lower_weights(model, precision, device)
        lower_peak_memory(model)
        if device == "cpu":
            to_channels_last(model)
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
    def precision(self) -> Precision:
        """The arithmetic of the model's layers (the output is float32 whatever it is)."""
        return self._precision

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
        on_part: PartCallback | None = None,
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
            workers=self._segment_workers(stems.nbytes),
            on_final=None if on_part is None else self._parts_to(on_part, out, mean, std),
            precision=self._precision,
        )
        out *= std
        out += mean
        return dict(zip(self._sources, stems, strict=True))

    def _parts_to(
        self, on_part: PartCallback, out: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
    ) -> inference.FinalCallback:
        """inference's `on_final(end)` as parts of denormalised stems: the same float32
        operations as the `out *= std; out += mean` after the whole track, on a copy."""
        reported = 0

        def on_final(end: int) -> None:
            nonlocal reported
            part = (out[..., reported:end] * std + mean).numpy()
            start, reported = reported, end
            on_part(start, dict(zip(self._sources, part, strict=True)))

        return on_final

    def _segment_workers(self, stem_bytes: int) -> int:
        if self._device != "cpu" or torch.get_num_threads() < PARALLEL_SEGMENTS:
            return 1
        if self._precision == "fp32":
            return 1  # see PARALLEL_SEGMENTS
        return PARALLEL_SEGMENTS if stem_bytes <= PARALLEL_MAX_STEM_BYTES else 1

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


def load_model(name: str, models_dir: Path) -> Model:
    """The model called `name` (built-in `demucs_unittest` or installed under `models_dir`),
    via the model store; raises ModelNotInstalledError when it is not installed."""
    from isomix.separation import store

    return store.load_model(name, models_dir)
