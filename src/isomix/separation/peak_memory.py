"""Keep a separation's peak memory down: what one forward pass holds at its highest (the
C allocator's share is `isomix.process_memory`'s).

The iSTFT at the end of a hybrid Demucs forward pass turns every source at once back into
samples: on a 7.8 s segment of htdemucs that is a padded complex copy of the spectrogram and
two frame buffers, 45 MB each, for all four sources together. It was the top of the pass
(306 MB of tensors live, measured with torch's profiler, bf16). Run source by source, the
same frames exist a quarter at a time; each source's samples are the same operations on
the same values.
"""

from __future__ import annotations

from typing import Any

import torch
from demucs.hdemucs import HDemucs
from demucs.htdemucs import HTDemucs


class _ISpecPerSource:
    """`_ispec` of a hybrid Demucs model, one source at a time ((batch, sources, channels,
    freqs, frames) in, (batch, sources, channels, samples) out)."""

    def _ispec(self, z: torch.Tensor, length: int | None = None, scale: int = 0) -> torch.Tensor:
        whole = super()._ispec  # type: ignore[misc]
        if z.dim() != 5 or z.shape[1] == 1:
            return whole(z, length, scale)  # type: ignore[no-any-return]
        return torch.cat(
            [whole(z[:, index : index + 1], length, scale) for index in range(z.shape[1])],
            dim=1,
        )


class LeanHTDemucs(_ISpecPerSource, HTDemucs):
    pass


class LeanHDemucs(_ISpecPerSource, HDemucs):
    pass


_SWAPS: dict[type[torch.nn.Module], type[torch.nn.Module]] = {
    HTDemucs: LeanHTDemucs,
    HDemucs: LeanHDemucs,
}


def lower_peak_memory(model: Any) -> None:
    """Swap the class of every hybrid Demucs in `model` (a model or a bag) for its lean
    subclass, in place. Only the exact classes: a subclass may have its own `_ispec`."""
    for module in model.modules():
        swap = _SWAPS.get(type(module))
        if swap is not None:
            module.__class__ = swap
