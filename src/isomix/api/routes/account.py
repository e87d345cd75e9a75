"""The signed-in user: who they are, their plan and usage, password, API tokens; and the
public plan table."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from isomix import billing, plans, schemas
from isomix.accounts import passwords, tokens, users
from isomix.api.auditing import record_action
from isomix.api.auth import CurrentUser
from isomix.api.deps import SessionDep, SettingsDep
from isomix.api.errors import ApiError, error_responses, not_found
from isomix.api.present_accounts import plan_out, token_out, usage_out, user_out
from isomix.models import ApiToken

router = APIRouter(tags=["account"])


@router.get("/api/plans", response_model=schemas.PlanTable)
def read_plans(settings: SettingsDep) -> schemas.PlanTable:
    """Free and Pro with their limits and prices (public)."""
    return schemas.PlanTable(
        plans=[plan_out(plan, settings) for plan in plans.plans(settings).values()],
        checkout=billing.enabled(settings),
    )


@router.get("/api/me", response_model=schemas.Me, responses=error_responses(401))
def read_me(principal: CurrentUser, session: SessionDep, settings: SettingsDep) -> schemas.Me:
    """You, your plan with its limits, today's usage and what is left."""
    user = session.merge(principal.user, load=False)
    return schemas.Me(
        user=user_out(session, user, settings),
        plan=plan_out(principal.plan, settings),
        plan_source=principal.plan_source,
        usage=usage_out(session, user, principal.plan),
        auth_mode=settings.auth_mode,
    )


@router.post("/api/me/password", status_code=204, responses=error_responses(401, 404, 422))
def change_password(
    body: schemas.PasswordChange,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    """Change your password; every sign-in ends, this one too: sign in again with the new
    password (API tokens keep working)."""
    if not settings.accounts:
        raise ApiError(404, "accounts_off", "This server has no accounts.")
    user = session.merge(principal.user)
    try:
        users.change_password(session, user, body.current_password, body.new_password)
    except (users.AccountError, passwords.WeakPasswordError) as error:
        raise ApiError(422, "invalid_options", str(error)) from None
    record_action(request, "password_changed", principal)
    return Response(status_code=204)


@router.get("/api/tokens", response_model=list[schemas.TokenOut], responses=error_responses(401))
def list_tokens(principal: CurrentUser, session: SessionDep) -> list[schemas.TokenOut]:
    """Your API tokens (their secrets are never shown again)."""
    rows = session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == principal.user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    ).all()
    return [token_out(row) for row in rows]


@router.post(
    "/api/tokens",
    status_code=201,
    response_model=schemas.TokenCreated,
    responses=error_responses(401, 422),
)
def create_token(
    body: schemas.TokenCreate,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> schemas.TokenCreated:
    """A new API token for `Authorization: Bearer`; its secret is in this answer only."""
    user = session.merge(principal.user, load=False)
    row, secret = tokens.create_api_token(session, user, body.name)
    record_action(
        request,
        "token_created",
        principal,
        object_type="token",
        object_id=row.id,
        detail={"name": row.name},
        session=session,
    )
    session.commit()
    return schemas.TokenCreated(**token_out(row).model_dump(), token=secret)


@router.delete("/api/tokens/{token_id}", status_code=204, responses=error_responses(401, 404))
def revoke_token(
    token_id: str,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    """Revoke one of your API tokens; it stops working at once."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != principal.user_id:
        raise not_found("Token")
    tokens.revoke_api_token(session, row)
    record_action(
        request,
        "token_revoked",
        principal,
        object_type="token",
        object_id=row.id,
        session=session,
    )
    session.commit()
    return Response(status_code=204)
