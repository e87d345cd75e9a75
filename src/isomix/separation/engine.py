"""Engine registry: `get_engine(name, device=..., precision=...)` loads a model once per
process.

Torch is imported lazily here so that `isomix serve` can import this module torch-free.
"""

from __future__ import annotations

import importlib
import threading
from typing import Literal

from isomix import storage
from isomix.config import get_settings
from isomix.separation.base import Engine
from isomix.separation.precision import Precision
from isomix.separation.precision import resolve as resolve_precision

CLASSIC_ENGINE = "classic"

# Keyed by (name, device, precision, models_dir): a process that changes data dir (tests)
# gets fresh ones.
_engines: dict[tuple[str, str, str, str], Engine] = {}
_lock = threading.Lock()
_threads_configured = False


class DeviceUnavailableError(RuntimeError):
    """The device asked for is not usable on this machine."""


def resolve_device(device: Literal["cpu", "cuda", "auto"] | str) -> str:
    """`cpu`, `cuda` (or `cuda:N`) when present, `auto` = cuda if available else cpu."""
    if device == "cpu":
        return "cpu"
    if device != "auto" and device != "cuda" and not device.startswith("cuda:"):
        raise ValueError(f"unknown device '{device}': use cpu, cuda or auto")
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise DeviceUnavailableError(
            f"device '{device}' was asked for but torch sees no CUDA GPU "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). "
            "Use --device cpu, or install a CUDA build of torch."
        )
    if device.startswith("cuda:"):
        index = int(device.split(":", 1)[1])
        if not 0 <= index < torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"device '{device}' does not exist; this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    return device


def get_engine(name: str, *, device: str = "cpu", precision: str | None = None) -> Engine:
    """The engine for model `name` on `device`, loaded on first use and then reused.

    `precision` (auto, fp32, bf16, fp16; default: the precision setting) is resolved by
    `separation.precision.resolve`. Raises ModelNotInstalledError when `name` is not
    installed, DeviceUnavailableError when the device is not there, ValueError for an
    unknown precision.
    """
    # The classic engine is plain numpy: one instance serves every device and precision.
    arithmetic: Precision = "fp32"
    if name == CLASSIC_ENGINE:
        resolved = "cpu"
    else:
        resolved = resolve_device(device)
        setting = get_settings().precision if precision is None else precision
        arithmetic = resolve_precision(setting, resolved)
    key = (name, resolved, arithmetic, str(storage.models_dir()))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _load(name, resolved, arithmetic)
            _engines[key] = engine
        return engine


def clear_engine_cache() -> None:
    """Forget loaded engines (tests; freeing memory)."""
    with _lock:
        _engines.clear()


def _load(name: str, device: str, precision: Precision) -> Engine:
    if name == CLASSIC_ENGINE:
        # Written by the classic-engine work; imported by name so this builds before it lands.
        classic = importlib.import_module("isomix.separation.classic")
        engine: Engine = classic.ClassicEngine()
        return engine
    _configure_torch_threads()
    from isomix.separation.demucs_engine import DemucsEngine, load_model

    model = load_model(name, storage.models_dir())
    return DemucsEngine(name, model, device=device, precision=precision)


def _configure_torch_threads() -> None:
    # torch's own default (one thread per core) unless the settings ask for a number.
    global _threads_configured
    if _threads_configured:
        return
    threads = get_settings().torch_threads
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    _threads_configured = True
