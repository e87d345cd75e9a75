"""Users, plans, tokens and usage -> API bodies."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from isomix import plans, schemas
from isomix.accounts import usage, users
from isomix.config import Settings
from isomix.models import ApiToken, JobStatus, Project, User, as_utc, utcnow


def plan_out(plan: plans.Plan, settings: Settings) -> schemas.PlanOut:
    return schemas.PlanOut(
        name=plan.name,
        title=plan.title,
        max_upload_mb=plan.max_upload_mb,
        max_duration_minutes=plan.max_duration_minutes,
        uploads_per_day=plan.uploads_per_day,
        concurrent_jobs=plan.concurrent_jobs,
        models=list(plan.models),
        max_shifts=plan.max_shifts,
        export_formats=list(plan.export_formats),
        max_mp3_kbps=plan.max_mp3_kbps,
        lossless_stems=plan.lossless_stems,
        retention_hours=plan.retention_hours,
        price_month=plan.price_month,
        price_year=plan.price_year,
        currency=settings.currency.upper(),
    )


def user_out(session: Session, user: User, settings: Settings) -> schemas.UserOut:
    state = users.plan_of(session, user, settings)
    return schemas.UserOut(
        id=user.id,
        email=user.email,
        is_admin=user.is_admin,
        disabled=user.disabled_at is not None,
        created_at=as_utc(user.created_at),
        plan=state.plan.name,
        plan_until=state.until,
    )


def usage_out(session: Session, user: User, plan: plans.Plan) -> schemas.Usage:
    now = utcnow()
    today = usage.uploads_today(session, user.id, now=now)
    live = (Project.owner_id == user.id, Project.status != JobStatus.expired)
    stored = session.execute(
        select(func.count(), func.coalesce(func.sum(Project.size_bytes), 0)).where(*live)
    ).one()
    running = session.scalar(
        select(func.count()).where(
            Project.owner_id == user.id, Project.status == JobStatus.processing
        )
    )
    left = None if plan.uploads_per_day is None else max(0, plan.uploads_per_day - today)
    return schemas.Usage(
        uploads_today=today,
        uploads_left=left,
        resets_at=usage.next_reset(now),
        jobs_running=running or 0,
        storage_bytes=int(stored[1]),
        projects=int(stored[0]),
    )


def token_out(token: ApiToken) -> schemas.TokenOut:
    return schemas.TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created_at=as_utc(token.created_at),
        last_used_at=as_utc(token.last_used_at) if token.last_used_at else None,
        revoked=token.revoked_at is not None,
    )
