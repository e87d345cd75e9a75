"""Lower peak memory: the per-source iSTFT gives the same stems and runs a quarter of the
frames at a time; `isomix` processes ask glibc for one malloc arena (and pass it on)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from typing import Any

import pytest
import torch
from demucs.htdemucs import HTDemucs
from demucs.pretrained import demucs_unittest
from helpers.models import SMALL_HTDEMUCS_KWARGS, SOURCES
from torch import nn

from isomix.separation.peak_memory import LeanHDemucs, LeanHTDemucs, lower_peak_memory


def _seeded_htdemucs() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return HTDemucs(sources=list(SOURCES), **SMALL_HTDEMUCS_KWARGS).eval()


def _seeded_hdemucs() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model: nn.Module = demucs_unittest()  # type: ignore[no-untyped-call]
        return model.eval()


def _mix(model: Any) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    length = 2 * int(model.samplerate)
    if hasattr(model, "valid_length") and not isinstance(model, HTDemucs):
        length = int(model.valid_length(length))
    return torch.randn(1, 2, length, generator=generator) * 0.3


def _istft_batches(
    model: nn.Module, mix: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Run `model` on `mix` and return the batch size of every torch.istft call."""
    batches: list[int] = []
    real_istft = torch.istft

    def recording_istft(input: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        batches.append(input.shape[0])
        return real_istft(input, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch, "istft", recording_istft)
        with torch.inference_mode():
            model(mix)
    return batches


@pytest.mark.parametrize(
    ("build", "lean_class"), [(_seeded_htdemucs, LeanHTDemucs), (_seeded_hdemucs, LeanHDemucs)]
)
def test_the_lean_model_gives_the_same_stems_from_a_quarter_of_the_frames_at_a_time(
    build: Any, lean_class: type[nn.Module], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = build()
    lean = copy.deepcopy(plain)
    lower_peak_memory(lean)
    assert type(lean) is lean_class
    assert lean.state_dict().keys() == plain.state_dict().keys()
    mix = _mix(plain)
    with torch.inference_mode():
        expected, got = plain(mix), lean(mix)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)

    sources, channels = len(plain.sources), plain.audio_channels
    assert _istft_batches(plain, mix, monkeypatch) == [sources * channels]
    assert _istft_batches(lean, mix, monkeypatch) == [channels] * sources


def test_a_subclass_with_its_own_code_is_left_alone() -> None:
    class Custom(HTDemucs):  # type: ignore[misc]
        pass

    with torch.random.fork_rng(devices=[]):
        model = Custom(sources=list(SOURCES), **SMALL_HTDEMUCS_KWARGS)
    lower_peak_memory(model)
    assert type(model) is Custom


def _arena_in_child(environment: dict[str, str]) -> list[str]:
    code = (
        "import os\n"
        "from isomix.process_memory import use_one_malloc_arena\n"
        "print(use_one_malloc_arena())\n"
        "print(os.environ['MALLOC_ARENA_MAX'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_one_malloc_arena_is_asked_for_here_and_passed_on_to_children() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    # This machine's C library is glibc, which takes the setting.
    assert _arena_in_child(environment) == ["True", "1"]


def test_an_arena_limit_the_user_set_is_kept() -> None:
    assert _arena_in_child({**os.environ, "MALLOC_ARENA_MAX": "4"}) == ["False", "4"]
