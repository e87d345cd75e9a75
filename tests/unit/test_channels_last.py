"""Channels-last execution of Demucs models: the same outputs, the same parameters, and
activations that go from layer to layer without a layout copy."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from demucs.demucs import Demucs
from demucs.htdemucs import HTDemucs
from demucs.pretrained import demucs_unittest
from helpers.models import SMALL_HTDEMUCS_KWARGS, SOURCES
from torch import nn

from isomix.separation.channels_last import (
    ChannelsLastConv1d,
    ChannelsLastConvTranspose1d,
    ChannelsLastGroupNorm,
    _as_2d,
    to_channels_last,
)
from isomix.separation.precision import autocast, lower_weights


def _htdemucs() -> nn.Module:
    # dconv_mode 3: DConv blocks in encoders and decoders of both branches, as in htdemucs.
    return HTDemucs(sources=list(SOURCES), dconv_mode=3, **SMALL_HTDEMUCS_KWARGS)


def _hdemucs() -> nn.Module:
    model: nn.Module = demucs_unittest()  # type: ignore[no-untyped-call]
    return model


def _demucs_v2() -> nn.Module:
    return Demucs(sources=list(SOURCES), channels=8, depth=4)


BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "htdemucs": _htdemucs,
    "hdemucs": _hdemucs,
    "demucs_v2": _demucs_v2,
}


def _seeded(build: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build().eval()


def _input(model: Any, seconds: float = 2.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    length = int(seconds * model.samplerate)
    if hasattr(model, "valid_length") and not isinstance(model, HTDemucs):
        length = int(model.valid_length(length))
    return torch.randn(1, 2, length, generator=generator) * 0.3


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_converted_model_gives_the_same_output_from_the_same_parameters(name: str) -> None:
    plain = _seeded(BUILDERS[name])
    converted = copy.deepcopy(plain)
    to_channels_last(converted)
    swapped = [m for m in converted.modules() if type(m).__name__.startswith("ChannelsLast")]
    assert swapped, "nothing was converted"

    plain_state, converted_state = plain.state_dict(), converted.state_dict()
    assert plain_state.keys() == converted_state.keys()
    for key, value in plain_state.items():
        assert torch.equal(value, converted_state[key]), key

    mix = _input(plain)
    with torch.inference_mode():
        expected, got = plain(mix), converted(mix)
    # The same sums, some taken in another order.
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_bf16_weights_convert_too_and_stay_close_to_the_plain_bf16_model() -> None:
    plain = _seeded(_htdemucs)
    lower_weights(plain, "bf16", "cpu")
    converted = copy.deepcopy(plain)
    to_channels_last(converted)
    mix = _input(plain)
    with torch.inference_mode(), autocast("bf16", "cpu"):
        expected, got = plain(mix), converted(mix)
    assert got.dtype == torch.float32
    noise = float(((got - expected) ** 2).sum())
    signal = float((expected**2).sum())
    assert noise < signal * 1e-3  # both are bf16 roundings of the same maths: > 30 dB apart


def test_activations_stay_channels_last_from_layer_to_layer() -> None:
    model = nn.Sequential(
        nn.Conv1d(4, 16, 3, padding=1),
        nn.GELU(),
        nn.GroupNorm(4, 16),
        nn.Conv1d(16, 32, 1),
        nn.GLU(1),
        nn.ConvTranspose1d(16, 8, 4, stride=2),
    ).eval()
    reference = copy.deepcopy(model)
    to_channels_last(model)
    assert [type(m) for m in model] == [
        ChannelsLastConv1d, nn.GELU, ChannelsLastGroupNorm, ChannelsLastConv1d, nn.GLU,
        ChannelsLastConvTranspose1d,
    ]  # fmt: skip
    copies: list[bool] = []

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        copies.append(_as_2d(inputs[0]).data_ptr() != inputs[0].data_ptr())

    for layer in list(model)[2:]:
        if not isinstance(layer, nn.GELU | nn.GLU):
            layer.register_forward_pre_hook(record)
    mix = torch.randn(2, 4, 1000)
    with torch.inference_mode():
        got = model(mix)
        expected = reference(mix)
    assert copies == [False, False, False]  # each layer's input was already channels-last
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_a_string_padding_keeps_the_torch_class() -> None:
    conv = nn.Conv1d(2, 2, 3, padding="same")
    to_channels_last(nn.Sequential(conv))
    assert type(conv) is nn.Conv1d
