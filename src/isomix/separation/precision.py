"""The arithmetic a model runs in: `--precision` / ISOMIX_PRECISION to a concrete precision,
and the autocast around a forward pass.

`auto` takes the fastest native path: bf16 autocast on CPUs with bf16 instructions
(avx512_bf16 or AMX), fp16 on CUDA, fp32 otherwise, never an emulated, slower one.
Autocast runs convolutions, linears and attention in the low precision (and the elementwise
work on their outputs, until a float32 operand promotes it back); float32 stay the STFT and
iSTFT (autocast's float32 list), the mixture and spectrogram normalisation (their inputs are
float32) and the model's output (float32 once the branches are denormalised and summed).
On CPU in bf16 the weights are stored in bf16 too (`lower_weights`), except the norm layers':
autocast would cast them again for every forward pass, and a float32 parameter such as a
LayerScale promotes the residual stream back to float32 after every layer, so that each
following layer converts it once more (bf16 weights took about 7% off a forward pass). The
norms keep float32 affine parameters: PyTorch's CPU norms take a bf16 input with them and
compute their statistics in float32.
Measured on an htdemucs-sized HTDemucs with real music (output 48.1 dB above its difference
from fp32; 48.5 with float32 weights under autocast), that difference builds up over all
layers: keeping the norms, the attention or the spectrogram ends in fp32 gains under 0.1 dB,
the first or the last layer of a branch 1.3-2.1 dB, all four 13 dB for about 5% more CPU
time; above the 40 dB aimed at, none is needed, so none is kept.

Importable without torch.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, cast

Precision = Literal["fp32", "bf16", "fp16"]
SETTINGS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")

# /proc/cpuinfo flags of instructions that compute in that type (not just convert to it).
_NATIVE_FLAGS: dict[Precision, frozenset[str]] = {
    "bf16": frozenset({"avx512_bf16", "amx_bf16"}),
    "fp16": frozenset({"avx512_fp16", "amx_fp16"}),
}

log = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


@functools.cache
def host_cpu_flags() -> str:
    """The flags of this machine's first CPU in /proc/cpuinfo ("" when unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return value.strip()
    return ""


def cpu_has_native(precision: Precision, cpu_flags: str | None = None) -> bool:
    """Whether the CPU computes in `precision` natively; `cpu_flags` defaults to this host's."""
    if precision == "fp32":
        return True
    flags = set((host_cpu_flags() if cpu_flags is None else cpu_flags).split())
    return bool(flags & _NATIVE_FLAGS[precision])


def resolve(setting: str, device: str, *, cpu_flags: str | None = None) -> Precision:
    """The precision `setting` (auto, fp32, bf16, fp16) means on `device` (cpu, cuda[:N]).

    An explicit low precision the CPU can only emulate is honoured, with one warning.
    """
    if setting not in SETTINGS:
        raise ValueError(f"unknown precision '{setting}': use {', '.join(SETTINGS)}")
    on_cuda = device.startswith("cuda")
    if setting == "auto":
        if on_cuda:
            return "fp16"
        return "bf16" if cpu_has_native("bf16", cpu_flags) else "fp32"
    precision = cast(Precision, setting)
    if not on_cuda and not cpu_has_native(precision, cpu_flags):
        _warn_once(
            precision,
            f"precision {precision} on a CPU without native {precision} instructions "
            f"({' or '.join(sorted(_NATIVE_FLAGS[precision]))}): it is emulated and likely "
            "slower than fp32",
        )
    return precision


def _warn_once(key: str, message: str) -> None:
    with _warned_lock:
        if (key, message) in _warned:
            return
        _warned.add((key, message))
    log.warning(message)


@contextmanager
def autocast(precision: Precision, device: Any) -> Iterator[None]:
    """Autocast to `precision` on `device` (a str or torch.device); nothing for fp32."""
    if precision == "fp32":
        yield
        return
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(torch.device(device).type, dtype=dtype):
        yield


def lower_weights(model: Any, precision: Precision, device: str) -> None:
    """Store `model`'s weights in `precision` where that saves the per-pass conversions (bf16
    on CPU), in place; norm layers keep float32 parameters (see the module's docstring).

    The model then only runs under `autocast(precision, ...)`: its float32 inputs meet bf16
    weights in the layers autocast casts for.
    """
    if precision != "bf16" or not device.startswith("cpu"):
        return
    import torch

    model.to(torch.bfloat16)
    norms = (torch.nn.LayerNorm, torch.nn.GroupNorm)
    for module in model.modules():
        if isinstance(module, norms):
            module.float()
