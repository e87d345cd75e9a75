"""Separation options of an upload: which model, two-stems, shifts; validated with clear errors."""

from __future__ import annotations

from dataclasses import dataclass

from isomix.api.errors import ApiError, invalid
from isomix.config import Settings
from isomix.schemas import MAX_SHIFTS
from isomix.separation import catalog, store
from isomix.separation.base import ModelNotInstalledError

DEFAULT_SHIFTS = 1


@dataclass(frozen=True)
class SeparationChoice:
    model: str
    stems: tuple[str, ...]
    two_stems: str | None
    shifts: int

    @property
    def stem_names(self) -> list[str]:
        if self.two_stems is not None:
            return [self.two_stems, f"no_{self.two_stems}"]
        return list(self.stems)


def default_model(settings: Settings) -> str:
    """The model an upload gets when it names none (see `store.default_model` for the order)."""
    return store.default_model(settings.default_model).name


def model_stems(name: str) -> tuple[str, ...]:
    """The stems of an installed model; 422 for an unknown name, 409 for a known, missing one."""
    try:
        return store.require_installed(name).sources
    except ModelNotInstalledError as error:
        if catalog.is_known(name) or isinstance(error, store.ModelDamagedError):
            raise ApiError(409, "model_not_installed", str(error)) from None
        raise invalid(str(error)) from None


def parse_shifts(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_SHIFTS
    try:
        shifts = int(raw.strip())
    except ValueError:
        raise invalid(f"shifts must be a whole number from 0 to {MAX_SHIFTS}.") from None
    if not 0 <= shifts <= MAX_SHIFTS:
        raise invalid(f"shifts must be a whole number from 0 to {MAX_SHIFTS}.")
    return shifts


def choose(
    *, model: str | None, two_stems: str | None, shifts: str | None, settings: Settings
) -> SeparationChoice:
    name = (model or "").strip() or default_model(settings)
    stems = model_stems(name)
    keep = (two_stems or "").strip() or None
    if keep is not None and keep not in stems:
        raise invalid(f"two_stems must be one of {', '.join(stems)} for model '{name}'.")
    return SeparationChoice(model=name, stems=stems, two_stems=keep, shifts=parse_shifts(shifts))
