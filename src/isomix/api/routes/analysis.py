"""A project's analysis: the owner's corrections of the detected tempo and key."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import update

from isomix import schemas
from isomix.api import urls
from isomix.api.auth import CurrentUser
from isomix.api.deps import ProjectDep, SessionDep, SettingsDep
from isomix.api.errors import ApiError, error_responses
from isomix.api.present import project_out
from isomix.api.present_analysis import analysis_out, corrections
from isomix.jobs.events import publish_project_changed
from isomix.models import Project

router = APIRouter(tags=["projects"])


@router.patch(
    urls.PROJECT_ANALYSIS,
    response_model=schemas.Project,
    responses=error_responses(404, 409, 422),
)
def correct_analysis(
    correction: schemas.AnalysisCorrection,
    project: ProjectDep,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentUser,
) -> schemas.Project:
    """Correct the detected BPM (halved, doubled or typed) or key; null puts that one back
    to the detected value. Kept on the project, whatever the stems' analysis says later.
    409 while the stems have no analysis yet."""
    if analysis_out(project) is None:
        raise ApiError(409, "conflict", "This project's stems have not been analysed yet.")
    kept = corrections(project)
    for field in ("bpm", "key"):
        if field in correction.model_fields_set:
            value = getattr(correction, field)
            if value is None:
                kept.pop(field, None)
            else:
                kept[field] = round(value, 2) if field == "bpm" else value
    session.execute(
        update(Project)
        .where(Project.id == project.id)
        .values(analysis_override=kept or None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    publish_project_changed(project.id)
    session.refresh(project)
    return project_out(
        project, session=session, settings=settings, lossless=principal.plan.lossless_stems
    )
