"""Separation models: what is known, what is installed here, how fast it ran here, and
installing a catalog model from the model hub."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi import Path as PathParam

from isomix import schemas
from isomix.api.auth import AdminUser, current_principal
from isomix.api.deps import SessionDep, SettingsDep
from isomix.api.errors import ApiError, error_responses, not_found
from isomix.api.options import default_model
from isomix.separation import catalog, store
from isomix.speed import measured_rtf

# Signed in to see the models; an admin to install them.
router = APIRouter(prefix="/api/models", tags=["models"], dependencies=[Depends(current_principal)])


def cli_command() -> str:
    """How to run the isomix CLI, as the server itself was started: `isomix` when that is
    what the PATH finds, else the path of the one beside this Python (`.venv/bin/isomix` when
    run from the repository, as the README writes it)."""
    launched = Path(sys.argv[0])
    script = launched if launched.name == "isomix" else Path(sys.executable).parent / "isomix"
    if not script.is_file():
        return "isomix"
    on_path = shutil.which("isomix")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "isomix"
    absolute = script if script.is_absolute() else Path.cwd() / script
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def install_hint(entry: catalog.CatalogEntry | None) -> str:
    if entry is not None and entry.builtin:
        return "Built in: nothing to install."
    if entry is not None and entry.hub_repo is not None:
        return (
            f"{entry.name} is not installed. Download it from the model hub (needs internet) "
            "or, on a server without internet, import its files fetched elsewhere:"
        )
    return "Imported on this server."


def repair_hint(name: str) -> str:
    return f"The folder of {name} cannot be used. Reinstall or delete it:"


def install_commands(entry: catalog.CatalogEntry | None, cli: str) -> list[str]:
    if entry is None or entry.hub_repo is None:
        return []
    return [f"{cli} models pull {entry.name}", f"{cli} models import FOLDER --name {entry.name}"]


def install_out(pull: store.BackgroundPull, cli: str) -> schemas.ModelInstall:
    state = pull.status()
    progress = state.progress
    return schemas.ModelInstall(
        model=state.name,
        state=state.state,
        phase=progress.phase,
        files_done=progress.files_done,
        files_total=progress.files_total,
        bytes_done=progress.bytes_done,
        bytes_total=progress.bytes_total,
        error=state.error,
        commands=[f"{cli} models import FOLDER --name {state.name}"] if state.offline else [],
        started_at=state.started_at,
        finished_at=state.finished_at,
    )


@router.get("", response_model=list[schemas.ModelInfo])
def list_models(session: SessionDep, settings: SettingsDep) -> list[schemas.ModelInfo]:
    """The catalog plus any imported models, with what is installed and measured speed."""
    chosen = default_model(settings)
    cli = cli_command()
    installed = {model.name: model for model in store.installed_models()}
    damaged = {model.name: model for model in store.damaged_models()}
    models: list[schemas.ModelInfo] = []
    for entry in catalog.listed_entries():
        model = installed.get(entry.name)
        if entry.builtin:
            size_mb, size_text = 0.0, None
        elif model is not None:
            size_mb = round(model.size_bytes / catalog.BYTES_PER_MB, 1)
            size_text = catalog.format_size(model.size_bytes)
        else:
            size_mb = float(entry.size_mb)
            size_text = catalog.format_size(entry.size_mb * catalog.BYTES_PER_MB, approximate=True)
        broken = damaged.get(entry.name)
        pull = store.background_pull(entry.name)
        models.append(
            schemas.ModelInfo(
                name=entry.name,
                description=entry.description,
                stems=list(entry.stems),
                installed=model is not None,
                default=entry.name == chosen,
                quality_sdr_db=entry.sdr_db,
                quality_source=entry.sdr_source,
                speed_rtf=measured_rtf(session, entry.name),
                size_mb=size_mb,
                size_text=size_text,
                low_quality=entry.low_quality,
                install_hint=(
                    repair_hint(entry.name) if broken is not None else install_hint(entry)
                ),
                install_commands=(
                    broken.repair_commands(cli)
                    if broken is not None
                    else install_commands(entry, cli)
                ),
                installable=entry.hub_repo is not None and model is None,
                install=install_out(pull, cli) if pull is not None else None,
                problem=broken.problem if broken is not None else None,
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
                quality_source="none: imported here, not in the catalog",
                speed_rtf=measured_rtf(session, name),
                size_mb=round(model.size_bytes / catalog.BYTES_PER_MB, 1),
                size_text=catalog.format_size(model.size_bytes),
                low_quality=False,
                install_hint=install_hint(None),
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
                install_hint=repair_hint(name),
                install_commands=broken.repair_commands(cli),
                problem=broken.problem,
            )
        )
    return models


def installable_model(
    name: Annotated[str, PathParam(max_length=64)],
    admin: AdminUser,
) -> catalog.CatalogEntry:
    """The catalog model an install route is about; 404 for any name the hub has no model
    for. Installing is for administrators (403 for anyone else; single mode's owner is
    one): the one dependency of the install routes."""
    entry = catalog.get_entry(name)
    if entry is None or entry.hidden or entry.hub_repo is None:
        if entry is not None and entry.builtin:
            raise ApiError(409, "already_installed", f"{name} is built in: nothing to install.")
        raise not_found("Model")
    return entry


InstallableDep = Annotated[catalog.CatalogEntry, Depends(installable_model)]


@router.post(
    "/{name}/install",
    response_model=schemas.ModelInstall,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 404, 409, 422),
)
def install_model(entry: InstallableDep) -> schemas.ModelInstall:
    """Start the verified pull of `isomix models pull NAME` in the background; follow it with
    GET /api/models/{name}/install. 409 while one of that model runs, or when it is installed.
    Without a reachable hub it fails within seconds, saying how to import the files instead."""
    if store.is_installed(entry.name):
        raise ApiError(409, "already_installed", f"{entry.name} is already installed.")
    try:
        pull = store.start_pull(entry.name)
    except store.PullRunningError as error:
        raise ApiError(409, "install_running", str(error)) from None
    return install_out(pull, cli_command())


@router.get(
    "/{name}/install",
    response_model=schemas.ModelInstall,
    responses=error_responses(401, 403, 404, 409, 422),
)
def read_install(entry: InstallableDep) -> schemas.ModelInstall:
    """The install of `name` started here: its progress, then its outcome."""
    pull = store.background_pull(entry.name)
    if pull is None:
        raise not_found("Install")
    return install_out(pull, cli_command())
