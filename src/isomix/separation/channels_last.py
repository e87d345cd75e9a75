"""Run a Demucs model's convolutions on channels-last activations (CPU).

oneDNN, behind PyTorch's CPU convolutions, computes in channels-last order (NHWC: the
channels of one sample next to each other). On PyTorch's default layout (NCHW) every
convolution of a Demucs model converts its output back, and a Conv1d's input is not even
eligible for the channels-last kernels. One Conv1d of htdemucs' time branch (96 -> 192
channels, 3 taps, 86,000 samples) took 66 ms in bf16 on NCHW, of which 48 ms was the
conversion, and 14 ms on channels-last (fp32: 62 and 42 ms). Whole forward passes of an
htdemucs-sized model, one 7.8 s segment, 2 threads: bf16 1.45 s -> 1.04 s, fp32 2.12 s ->
1.93 s.

So the model's layers keep their activations channels-last from one layer to the next:
- 4-D weights (Conv2d, ConvTranspose2d) are stored channels-last, so the frequency branch's
  convolutions take and give channels-last tensors;
- Conv1d, ConvTranspose1d and GroupNorm on 3-D tensors (batch, channels, time) run as their
  2-D versions on a (batch, channels, 1, time) view. A 3-D tensor that came out of such a
  layer has strides (time * channels, 1, channels), so the view is channels-last without a
  copy, and the elementwise layers between (GELU, GLU, LayerScale, residual sums) keep that
  order. The 1-D weights are stored in the matching order, viewed the same way.
The reshapes Demucs does between the layers (the frequency branch folding its frequencies
into the batch for its DConv blocks) stay views of channels-last tensors; the few that cannot
(into the transformer) copy as before. Values are the same maths; sums can be taken in another
order (fp32 htdemucs-sized: max |diff| 4.8e-7 against the plain layout).

The swap changes each module's class to a subclass that only overrides `forward`, so the
model's parameters, buffers and state dict stay as they are.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_CHANNELS_LAST = torch.channels_last


def _as_2d(tensor: torch.Tensor) -> torch.Tensor:
    """(batch, channels, time) as a channels-last (batch, channels, 1, time) tensor: a view
    when `tensor` already has channels-last strides, else a copy into that order."""
    return tensor.unsqueeze(2).contiguous(memory_format=_CHANNELS_LAST)


def _time_padding(module: nn.Conv1d | nn.ConvTranspose1d) -> int:
    padding = module.padding
    if isinstance(padding, str):  # such modules are not converted (see _convertible)
        raise TypeError(f"padding {padding!r} is not a number")
    return int(padding[0])


class ChannelsLastConv1d(nn.Conv1d):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() != 3:
            return super().forward(input)
        output = F.conv2d(
            _as_2d(input),
            self.weight.unsqueeze(2),
            self.bias,
            (1, self.stride[0]),
            (0, _time_padding(self)),
            (1, self.dilation[0]),
            self.groups,
        )
        return output.squeeze(2)


class ChannelsLastConvTranspose1d(nn.ConvTranspose1d):
    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if input.dim() != 3 or output_size is not None:
            return super().forward(input, output_size)
        output = F.conv_transpose2d(
            _as_2d(input),
            self.weight.unsqueeze(2),
            self.bias,
            (1, self.stride[0]),
            (0, _time_padding(self)),
            (0, self.output_padding[0]),
            self.groups,
            (1, self.dilation[0]),
        )
        return output.squeeze(2)


class ChannelsLastGroupNorm(nn.GroupNorm):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() != 3:
            return super().forward(input)
        output = F.group_norm(_as_2d(input), self.num_groups, self.weight, self.bias, self.eps)
        return output.squeeze(2)


_SWAPS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: ChannelsLastConv1d,
    nn.ConvTranspose1d: ChannelsLastConvTranspose1d,
    nn.GroupNorm: ChannelsLastGroupNorm,
}


def _convertible(module: nn.Module) -> bool:
    if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
        return module.padding_mode == "zeros" and not isinstance(module.padding, str)
    return True


def _store_channels_last(parameter: torch.Tensor) -> None:
    """A 3-D weight (out, in, taps) laid out so that `unsqueeze(2)` is channels-last."""
    parameter.data = parameter.data.transpose(1, 2).contiguous().transpose(1, 2)


def to_channels_last(model: Any) -> None:
    """Make `model` (a torch module: a Demucs model or a bag) compute channels-last, in place.

    Only the exact torch classes are swapped (a subclass may have its own forward).
    """
    model.to(memory_format=_CHANNELS_LAST)  # the 4-D weights
    for module in model.modules():
        swap = _SWAPS.get(type(module))
        if swap is None or not _convertible(module):
            continue
        if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
            _store_channels_last(module.weight)
        module.__class__ = swap
