"""Our chunked inference against demucs.apply.apply_model on the same tensors."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import torch
from demucs.apply import BagOfModels
from demucs.apply import apply_model as demucs_apply_model
from demucs.states import load_model
from helpers.models import build_small_htdemucs_repo

from isomix.separation import inference
from isomix.separation.store import load_model as load_installed_model

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
    noise = 0.1 * torch.randn(2, length, generator=generator)
    return (tone + noise).float()


def _reference(model: torch.nn.Module, mix: torch.Tensor, **kwargs: object) -> torch.Tensor:
    # demucs with IsoMix's attention path (SDPA, not the MHA fast path: see
    # inference._attention_through_sdpa), so that the same sums can be compared bit for bit.
    inference._attention_through_sdpa()
    with torch.no_grad():
        result: torch.Tensor = demucs_apply_model(model, mix[None], **kwargs)[0]
    return result


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.mark.parametrize(("batch_size", "overlap"), [(1, 0.25), (3, 0.25), (1, 0.0)])
def test_split_without_shifts_matches_demucs(
    small_htdemucs: torch.nn.Module, batch_size: int, overlap: float
) -> None:
    # 5.3 s over 2 s segments: several overlapping segments and a short last one.
    mix = _mix(5.3)
    expected = _reference(small_htdemucs, mix, shifts=0, split=True, overlap=overlap)
    ours = inference.apply_model(
        small_htdemucs, mix, shifts=0, overlap=overlap, batch_size=batch_size
    )
    assert _max_diff(ours, expected) <= 1e-5
    if batch_size == 1:
        assert torch.equal(ours, expected)  # same sums in the same order


def test_normalisation_on_the_fly_matches_normalising_first(
    small_htdemucs: torch.nn.Module,
) -> None:
    mix = _mix(3.1) * 0.5 + 0.01
    ref = mix.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    expected = _reference(small_htdemucs, (mix - mean) / std, shifts=0, overlap=0.4)
    ours = inference.apply_model(
        small_htdemucs, mix, shifts=0, overlap=0.4, mix_mean=mean, mix_std=std
    )
    assert torch.equal(ours, expected)


def test_shifts_with_same_seed_match_demucs(small_htdemucs: torch.nn.Module) -> None:
    mix = _mix(3.0)
    random.seed(1234)
    expected = _reference(small_htdemucs, mix, shifts=2)
    random.seed(1234)
    ours = inference.apply_model(small_htdemucs, mix, shifts=2)
    assert _max_diff(ours, expected) <= 1e-5


def test_bag_with_weights_and_shifts_matches_demucs(tmp_path: Path) -> None:
    members = [
        load_model(build_small_htdemucs_repo(tmp_path, f"m{seed}", seed=seed)) for seed in (1, 2)
    ]
    weights = [[1.0, 0.5, 2.0, 1.0], [0.0, 1.0, 1.0, 3.0]]
    bag = BagOfModels(members, weights)
    bag.eval()
    mix = _mix(2.5, seed=3)
    random.seed(99)
    expected = _reference(bag, mix, shifts=1)
    random.seed(99)
    ours = inference.apply_model(bag, mix, shifts=1)
    assert _max_diff(ours, expected) <= 1e-5


def test_segment_override_matches_demucs(small_htdemucs: torch.nn.Module) -> None:
    mix = _mix(3.0)
    expected = _reference(small_htdemucs, mix, shifts=0, segment=1.5)
    ours = inference.apply_model(small_htdemucs, mix, shifts=0, segment=1.5, batch_size=2)
    assert _max_diff(ours, expected) <= 1e-5


def test_hdemucs_without_fixed_segment_matches_demucs() -> None:
    # demucs_unittest is an HDemucs: no training length, segments are fed as they are.
    model = load_installed_model("demucs_unittest")
    mix = _mix(1.0)
    expected = _reference(model, mix, shifts=0, segment=0.3)
    ours = inference.apply_model(model, mix, shifts=0, segment=0.3, batch_size=4)
    assert _max_diff(ours, expected) <= 1e-5


def test_progress_counts_every_segment_of_every_shift(small_htdemucs: torch.nn.Module) -> None:
    seen: list[float] = []
    inference.apply_model(small_htdemucs, _mix(3.0), shifts=2, progress=seen.append)
    assert seen[0] == 0.0
    assert seen[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(seen))
    # 3 s + up to 0.5 s of shift padding over a 1.5 s stride: 3 segments per shift.
    assert len(seen) - 1 == 6


def test_out_must_have_the_right_shape(small_htdemucs: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="out must be"):
        inference.apply_model(small_htdemucs, _mix(1.0), shifts=0, out=torch.zeros(4, 2, 10))


def test_parallel_segments_match_demucs_and_restore_threads(
    small_htdemucs: torch.nn.Module,
) -> None:
    mix = _mix(5.3)
    expected = _reference(small_htdemucs, mix, shifts=0)
    threads = torch.get_num_threads()
    seen: list[float] = []
    ours = inference.apply_model(small_htdemucs, mix, shifts=0, workers=2, progress=seen.append)
    assert torch.get_num_threads() == threads
    assert _max_diff(ours, expected) <= 1e-5
    assert seen[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(seen))


class _Cancelled(Exception):
    pass


@pytest.mark.parametrize("workers", [1, 2])
def test_a_raising_progress_callback_stops_the_separation(
    small_htdemucs: torch.nn.Module, workers: int
) -> None:
    threads = torch.get_num_threads()
    calls: list[float] = []

    def cancel(fraction: float) -> None:
        calls.append(fraction)
        if fraction > 0:
            raise _Cancelled

    with pytest.raises(_Cancelled):
        inference.apply_model(small_htdemucs, _mix(5.3), shifts=0, workers=workers, progress=cancel)
    assert len(calls) == 2  # 0.0, then the first finished segment
    assert torch.get_num_threads() == threads
