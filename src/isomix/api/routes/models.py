"""Separation models: what is known, what is installed here, how fast it ran here."""

from __future__ import annotations

from fastapi import APIRouter

from isomix import schemas
from isomix.api.deps import SessionDep, SettingsDep
from isomix.api.options import default_model
from isomix.separation import catalog, store
from isomix.speed import measured_rtf

router = APIRouter(prefix="/api/models", tags=["models"])

BYTES_PER_MB = 1024 * 1024


def install_hint(name: str) -> str:
    if catalog.is_builtin(name):
        return "Built in: nothing to install."
    return (
        f"Run `isomix models pull {name}` (needs internet), or on an offline machine "
        f"`isomix models import PATH --name {name}` with the weights copied from elsewhere."
    )


@router.get("", response_model=list[schemas.ModelInfo])
def list_models(session: SessionDep, settings: SettingsDep) -> list[schemas.ModelInfo]:
    """The catalog plus any imported models, with what is installed and measured speed."""
    chosen = default_model(settings)
    installed = {model.name: model for model in store.installed_models()}
    damaged = {model.name: model for model in store.damaged_models()}
    models: list[schemas.ModelInfo] = []
    for entry in catalog.listed_entries():
        models.append(
            schemas.ModelInfo(
                name=entry.name,
                description=entry.description,
                stems=list(entry.stems),
                installed=entry.name in installed,
                default=entry.name == chosen,
                quality_sdr_db=entry.published_sdr_db,
                speed_rtf=measured_rtf(session, entry.name),
                size_mb=float(entry.size_mb),
                low_quality=entry.low_quality,
                install_hint=install_hint(entry.name),
                problem=damaged[entry.name].problem if entry.name in damaged else None,
            )
        )
    for name, model in installed.items():
        if catalog.is_known(name):
            continue
        models.append(
            schemas.ModelInfo(
                name=name,
                description=f"Imported model ({len(model.sources)} stems).",
                stems=list(model.sources),
                installed=True,
                default=name == chosen,
                quality_sdr_db=None,
                speed_rtf=measured_rtf(session, name),
                size_mb=round(model.size_bytes / BYTES_PER_MB, 1),
                low_quality=False,
                install_hint=install_hint(name),
            )
        )
    for name, broken in damaged.items():
        if catalog.is_known(name):
            continue
        models.append(
            schemas.ModelInfo(
                name=name,
                description="Imported model whose folder cannot be read.",
                stems=[],
                installed=False,
                default=False,
                quality_sdr_db=None,
                speed_rtf=None,
                size_mb=None,
                low_quality=False,
                install_hint=broken.repair_hint,
                problem=broken.problem,
            )
        )
    return models
