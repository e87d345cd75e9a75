"""What every separation engine offers, and the pure helpers shared by all of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

AudioArray = npt.NDArray[np.float32]  # shape (channels, samples)
# Called with the fraction done, 0.0 to 1.0, from the thread doing the work.
ProgressCallback = Callable[[float], None]
# Progressive output: called with the first sample of a part and that part of every stem
# (float32 (channels, n), final values), in order from the start of the track with no gap,
# from the thread doing the work.
PartCallback = Callable[[int, dict[str, AudioArray]], None]


@dataclass(frozen=True)
class SeparationOptions:
    """Options with the Demucs CLI's meaning."""

    shifts: int = 1
    overlap: float = 0.25
    segment: float | None = None  # seconds; None uses the model's own


class ModelNotInstalledError(Exception):
    """A model was asked for that is not on this machine; the message says how to install it."""

    def __init__(self, name: str, known: bool = True) -> None:
        self.name = name
        # Plain words: this message reaches the browser as well as the terminal.
        shown = name if len(name) <= 60 else name[:57] + "..."
        if known:
            message = (
                f"Model '{shown}' is not installed. Install it from the model picker, or with: "
                f"isomix models pull {shown} (needs internet); offline: "
                f"isomix models import PATH --name {shown}."
            )
        else:
            message = (
                f"Unknown model '{shown}'. See: isomix models list; or install your own "
                f"weights with: isomix models import PATH --name {shown}."
            )
        super().__init__(message)


class Engine(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def sources(self) -> tuple[str, ...]: ...

    @property
    def sample_rate(self) -> int: ...

    def separate(
        self,
        mix: AudioArray,
        options: SeparationOptions,
        progress: ProgressCallback | None = None,
        on_part: PartCallback | None = None,
    ) -> dict[str, AudioArray]:
        """Split a float32 (2, n) mixture at `sample_rate` into stems named by `sources`.

        `on_part`, if the engine can, receives each part of the stems as soon as it is final
        (the stems returned are the same either way); an engine may never call it."""
        ...


def two_stems(stems: Mapping[str, AudioArray], keep: str) -> dict[str, AudioArray]:
    """Demucs' --two-stems: the kept stem and `no_<stem>`, the sum of all the others."""
    if keep not in stems:
        raise ValueError(f"stem '{keep}' is not one of {', '.join(stems)}")
    no_keep = np.zeros_like(stems[keep])
    for name, audio in stems.items():
        if name != keep:
            no_keep += audio
    return {keep: stems[keep], f"no_{keep}": no_keep}
