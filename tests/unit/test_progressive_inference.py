"""Progressive output of the chunked inference: `on_final` and the engine's `on_part`."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from demucs.apply import BagOfModels
from demucs.states import load_model
from helpers.models import build_small_htdemucs_repo

from isomix.separation import inference
from isomix.separation.base import AudioArray, SeparationOptions
from isomix.separation.demucs_engine import DemucsEngine

SAMPLE_RATE = 44100


@pytest.fixture(scope="module")
def small_htdemucs(tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    directory = tmp_path_factory.mktemp("repo")
    model = load_model(build_small_htdemucs_repo(directory, "small"))
    model.eval()
    return model


def _mix(seconds: float, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    length = int(seconds * SAMPLE_RATE)
    time = torch.arange(length) / SAMPLE_RATE
    tone = 0.3 * torch.sin(2 * torch.pi * 220 * time) + 0.2 * torch.sin(2 * torch.pi * 55 * time)
    return (tone + 0.1 * torch.randn(2, length, generator=generator)).float()


def _run(
    model: torch.nn.Module, mix: torch.Tensor, **kwargs: object
) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """The output, and each reported end with a copy of `out[..., :end]` at report time."""
    out = torch.zeros(len(model.sources), *mix.shape)
    reports: list[tuple[int, torch.Tensor]] = []

    def on_final(end: int) -> None:
        reports.append((end, out[..., :end].clone()))

    inference.apply_model(model, mix, out=out, on_final=on_final, **kwargs)  # type: ignore[arg-type]
    return out, reports


@pytest.mark.parametrize(
    ("shifts", "workers", "overlap"), [(0, 1, 0.25), (1, 1, 0.25), (0, 2, 0.25), (0, 1, 0.0)]
)
def test_single_pass_reports_final_samples_in_order_up_to_the_end(
    small_htdemucs: torch.nn.Module, shifts: int, workers: int, overlap: float
) -> None:
    mix = _mix(7.3)
    random.seed(5)
    out, reports = _run(small_htdemucs, mix, shifts=shifts, workers=workers, overlap=overlap)
    ends = [end for end, _ in reports]
    assert len(ends) >= 3  # several parts, not just the end
    assert ends == sorted(set(ends)) and ends[0] > 0
    assert ends[-1] == mix.shape[-1]
    for end, seen in reports:
        # What was reported final never changed afterwards.
        assert torch.equal(seen, out[..., :end])


def test_progressive_output_changes_nothing(small_htdemucs: torch.nn.Module) -> None:
    mix = _mix(6.1)
    random.seed(9)
    plain = inference.apply_model(small_htdemucs, mix, shifts=1)
    random.seed(9)
    out, _ = _run(small_htdemucs, mix, shifts=1)
    assert torch.equal(plain, out)


def test_first_part_comes_after_the_first_segment(small_htdemucs: torch.nn.Module) -> None:
    # Samples before the second segment's offset are final once the first segment is in.
    mix = _mix(9.0)
    segments: list[int] = []
    progress_at_first: list[float] = []
    fractions: list[float] = []

    def on_final(end: int) -> None:
        segments.append(end)
        if len(segments) == 1:
            progress_at_first.append(fractions[-1])

    inference.apply_model(
        small_htdemucs, mix, shifts=0, progress=fractions.append, on_final=on_final
    )
    segment_length = int(small_htdemucs.segment * SAMPLE_RATE)
    stride = int(0.75 * segment_length)
    assert segments[0] == stride
    # Reported while the first segment is blended, before its progress (so only 0.0 so far).
    assert progress_at_first == [0.0]


def test_multi_pass_jobs_report_nothing_early(
    small_htdemucs: torch.nn.Module, tmp_path: Path
) -> None:
    mix = _mix(5.0)
    _, reports = _run(small_htdemucs, mix, shifts=2)
    assert reports == []
    other = load_model(build_small_htdemucs_repo(tmp_path, "other", seed=1))
    bag = BagOfModels([small_htdemucs, other])
    _, reports = _run(bag, mix, shifts=0)
    assert reports == []
    weighted = BagOfModels([small_htdemucs], weights=[[2.0, 1.0, 1.0, 1.0]])
    _, reports = _run(weighted, mix, shifts=0)
    assert reports == []


def test_engine_parts_are_the_final_stems(small_htdemucs: torch.nn.Module) -> None:
    engine = DemucsEngine("small", small_htdemucs)
    mix = (_mix(6.7).numpy() * 0.7 + 0.02).astype(np.float32)
    parts: list[tuple[int, dict[str, AudioArray]]] = []
    random.seed(3)
    stems = engine.separate(
        mix, SeparationOptions(shifts=1), on_part=lambda s, p: parts.append((s, p))
    )
    random.seed(3)
    plain = engine.separate(mix, SeparationOptions(shifts=1))
    starts = [start for start, _ in parts]
    lengths = [next(iter(part.values())).shape[-1] for _, part in parts]
    assert starts == [sum(lengths[:i]) for i in range(len(parts))]
    assert sum(lengths) == mix.shape[-1]
    for name in engine.sources:
        assert np.array_equal(stems[name], plain[name])
        joined = np.concatenate([part[name] for _, part in parts], axis=1)
        assert joined.dtype == np.float32
        assert np.array_equal(joined, stems[name])  # same denormalised floats, exactly
