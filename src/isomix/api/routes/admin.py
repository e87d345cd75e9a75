"""Admin routes: the users, their plans, disabling, tokens for them. Admins only (403 for
anyone else); the first admin comes from the CLI (`isomix users create --admin`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from isomix import schemas
from isomix.accounts import passwords, tokens, users
from isomix.api.auditing import record_action
from isomix.api.auth import AdminUser
from isomix.api.deps import SessionDep, SettingsDep
from isomix.api.errors import ApiError, error_responses, not_found
from isomix.api.present_accounts import token_out, user_out
from isomix.models import LOCAL_OWNER_ID, User, utcnow

router = APIRouter(prefix="/api/admin", tags=["admin"])


def _user(session: SessionDep, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.id == LOCAL_OWNER_ID:
        raise not_found("User")
    return user


@router.get("/users", response_model=list[schemas.UserOut], responses=error_responses(401, 403))
def list_users(
    admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> list[schemas.UserOut]:
    rows = session.scalars(
        select(User).where(User.id != LOCAL_OWNER_ID).order_by(User.created_at, User.email)
    ).all()
    return [user_out(session, row, settings) for row in rows]


@router.post(
    "/users",
    status_code=201,
    response_model=schemas.UserOut,
    responses=error_responses(401, 403, 409, 422),
)
def create_user(
    body: schemas.AdminUserCreate,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> schemas.UserOut:
    try:
        user = users.create(
            session, body.email, body.password, plan=body.plan, admin=body.admin, settings=settings
        )
    except users.EmailTakenError as error:
        raise ApiError(409, "email_taken", str(error)) from None
    except (users.AccountError, passwords.WeakPasswordError) as error:
        raise ApiError(422, "invalid_options", str(error)) from None
    record_action(
        request,
        "user_created",
        admin,
        object_type="user",
        object_id=user.id,
        detail={"email": user.email, "plan": body.plan, "admin": body.admin},
    )
    return user_out(session, user, settings)


@router.post(
    "/users/{user_id}/plan",
    response_model=schemas.UserOut,
    responses=error_responses(401, 403, 404, 422),
)
def set_plan(
    user_id: str,
    body: schemas.PlanChange,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> schemas.UserOut:
    """Put a user on a plan from now on (until a date, or open-ended)."""
    user = _user(session, user_id)
    if body.until is not None and body.until <= utcnow():
        raise ApiError(422, "invalid_options", "`until` must be in the future.")
    users.set_plan(session, user, body.plan, until=body.until, source="admin")
    record_action(
        request,
        "plan_changed",
        admin,
        object_type="user",
        object_id=user.id,
        detail={
            "email": user.email,
            "plan": body.plan,
            "until": body.until.isoformat() if body.until else None,
        },
        session=session,
    )
    session.commit()
    return user_out(session, user, settings)


@router.post(
    "/users/{user_id}/disable",
    response_model=schemas.UserOut,
    responses=error_responses(401, 403, 404, 409),
)
def disable_user(
    user_id: str,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> schemas.UserOut:
    """The user can no longer sign in; their sign-ins and API tokens stop working now."""
    user = _user(session, user_id)
    if user.id == admin.user_id:
        raise ApiError(409, "conflict", "You cannot disable yourself.")
    users.disable(session, user)
    record_action(
        request,
        "user_disabled",
        admin,
        object_type="user",
        object_id=user.id,
        detail={"email": user.email},
    )
    return user_out(session, user, settings)


@router.post(
    "/users/{user_id}/tokens",
    status_code=201,
    response_model=schemas.TokenCreated,
    responses=error_responses(401, 403, 404, 409),
)
def create_token_for(
    user_id: str,
    body: schemas.TokenCreate,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> schemas.TokenCreated:
    """An API token for a user (shown once), e.g. for a script run on their behalf."""
    user = _user(session, user_id)
    if user.disabled_at is not None:
        raise ApiError(409, "conflict", "The user is disabled; a token would not work.")
    row, secret = tokens.create_api_token(session, user, body.name)
    record_action(
        request,
        "token_created",
        admin,
        object_type="token",
        object_id=row.id,
        detail={"for": user.email, "name": row.name, "by_admin": True},
        session=session,
    )
    session.commit()
    return schemas.TokenCreated(**token_out(row).model_dump(), token=secret)
