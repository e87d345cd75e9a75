"""The plans and their limits: the one place for every business rule of Free and Pro.

Defaults are the table of the accounts issue; `ISOMIX_PLANS_FILE` (TOML with `[free]` and
`[pro]` tables) overrides any of them. In single mode (no accounts) the one owner is on
`owner`, an unlimited plan whose size, length and retention are the server's own settings,
so the product works exactly as it did before plans existed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from isomix.audio.export_formats import EXPORT_FORMATS, MP3_BITRATES
from isomix.config import Settings

PlanName = Literal["free", "pro", "owner"]
PAID_PLANS: Final = ("pro",)
# Every model ("*"): the catalog and whatever an admin imported.
ALL_MODELS: Final = ("*",)


@dataclass(frozen=True)
class Plan:
    name: PlanName
    title: str
    max_upload_mb: float
    max_duration_minutes: float
    uploads_per_day: int | None  # None: no daily limit
    concurrent_jobs: int
    models: tuple[str, ...]
    max_shifts: int
    export_formats: tuple[str, ...]
    max_mp3_kbps: int
    retention_hours: float
    price_month: float
    price_year: float
    # Downloads of the lossless masters (FLAC stems, their ZIP); else only the MP3 previews.
    lossless_stems: bool
    # Claimed before lower numbers (Pro's jobs are queued ahead of Free's).
    priority: int

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @property
    def max_duration_seconds(self) -> float:
        return self.max_duration_minutes * 60

    def allows_model(self, name: str) -> bool:
        return self.models == ALL_MODELS or name in self.models

    def allows_format(self, name: str) -> bool:
        return name in self.export_formats


FREE: Final = Plan(
    name="free",
    title="Free",
    max_upload_mb=50,
    max_duration_minutes=10,
    uploads_per_day=3,
    concurrent_jobs=1,
    models=("htdemucs", "classic"),
    max_shifts=1,
    export_formats=("mp3",),
    max_mp3_kbps=192,
    retention_hours=24,
    price_month=0,
    price_year=0,
    lossless_stems=False,
    priority=0,
)
PRO: Final = Plan(
    name="pro",
    title="Pro",
    max_upload_mb=500,
    max_duration_minutes=60,
    uploads_per_day=100,
    concurrent_jobs=3,
    models=ALL_MODELS,
    max_shifts=10,
    export_formats=EXPORT_FORMATS,
    max_mp3_kbps=max(MP3_BITRATES),
    retention_hours=30 * 24,
    price_month=9,
    price_year=90,
    lossless_stems=True,
    priority=10,
)

# Keys a plans file may set (the list; the rest are derived).
FILE_KEYS: Final = frozenset(
    {
        "max_upload_mb",
        "max_duration_minutes",
        "uploads_per_day",
        "concurrent_jobs",
        "models",
        "max_shifts",
        "export_formats",
        "max_mp3_kbps",
        "retention_hours",
        "price_month",
        "price_year",
    }
)


class PlansFileError(ValueError):
    """ISOMIX_PLANS_FILE cannot be used; the message names the file, table and key."""


def owner_plan(settings: Settings) -> Plan:
    """Single mode's plan: no quota, every model and format, the server's own caps."""
    return replace(
        PRO,
        name="owner",
        title="Owner",
        max_upload_mb=settings.max_upload_bytes / 1_000_000,
        max_duration_minutes=settings.max_duration_seconds / 60,
        uploads_per_day=None,
        concurrent_jobs=1_000,
        retention_hours=settings.retention_hours,
        price_month=0,
        price_year=0,
    )


def _checked(path: Path, table: str, key: str, value: Any, base: Plan) -> Any:
    where = f"{path}: [{table}] {key}"
    if key not in FILE_KEYS:
        raise PlansFileError(f"{where}: unknown key; known keys: {', '.join(sorted(FILE_KEYS))}.")
    if key in ("models", "export_formats"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PlansFileError(f'{where}: must be a list of names, such as ["htdemucs"].')
        if key == "export_formats":
            unknown = sorted(set(value) - set(EXPORT_FORMATS))
            if unknown:
                raise PlansFileError(
                    f"{where}: unknown format(s) {', '.join(unknown)}; "
                    f"known: {', '.join(EXPORT_FORMATS)}."
                )
        return tuple(value)
    if key == "uploads_per_day" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PlansFileError(f"{where}: must be a number, 0 or more.")
    if not math.isfinite(value):
        raise PlansFileError(f"{where}: must be a finite number.")
    if key in ("uploads_per_day", "concurrent_jobs", "max_shifts", "max_mp3_kbps"):
        if int(value) != value:
            raise PlansFileError(f"{where}: must be a whole number.")
        value = int(value)
    if key == "concurrent_jobs" and value < 1:
        raise PlansFileError(f"{where}: at least 1 (0 would queue its jobs forever).")
    if key == "max_mp3_kbps" and value < min(MP3_BITRATES):
        raise PlansFileError(f"{where}: at least {min(MP3_BITRATES)}.")
    return value


def _overridden(path: Path, table: str, base: Plan, values: Mapping[str, Any]) -> Plan:
    changes = {key: _checked(path, table, key, value, base) for key, value in values.items()}
    plan = replace(base, **changes)
    # Lossless downloads go with the lossless export formats.
    return replace(plan, lossless_stems=bool({"wav", "flac"} & set(plan.export_formats)))


@lru_cache(maxsize=8)
def _load(path: Path | None) -> dict[str, Plan]:
    plans = {"free": FREE, "pro": PRO}
    if path is None:
        return plans
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlansFileError(f"{path}: cannot read the plans file ({error.strerror}).") from None
    except tomllib.TOMLDecodeError as error:
        raise PlansFileError(f"{path}: not valid TOML ({error}).") from None
    for table, values in document.items():
        if table not in plans:
            raise PlansFileError(f"{path}: unknown table [{table}]; use [free] and [pro].")
        if not isinstance(values, dict):
            raise PlansFileError(f"{path}: {table} must be a table ([{table}]).")
        plans[table] = _overridden(path, table, plans[table], values)
    return plans


def plans(settings: Settings) -> dict[str, Plan]:
    """The hosted plans, Free and Pro, with the plans file applied."""
    return dict(_load(settings.plans_file))


def plan_named(name: str, settings: Settings) -> Plan:
    if name == "owner":
        return owner_plan(settings)
    found = plans(settings).get(name)
    if found is None:
        raise KeyError(f"Unknown plan {name!r}; plans: {', '.join(plans(settings))}.")
    return found


def limit_names() -> tuple[str, ...]:
    """The fields of a plan, in order (for tables and the API)."""
    return tuple(field.name for field in fields(Plan))
