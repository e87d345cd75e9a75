"""Paying for Pro with Stripe: Checkout for the signed-in user, and Stripe's webhook. The
rules are in `isomix.billing`; both routes are 404 `billing_off` unless Stripe is configured
(`billing.enabled`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from isomix import billing, schemas
from isomix.api.auth import CurrentUser
from isomix.api.deps import SessionDep, SettingsDep
from isomix.api.errors import ApiError, error_responses


def billing_on(settings: SettingsDep) -> None:
    if not billing.enabled(settings):
        raise ApiError(404, "billing_off", billing.OFF_MESSAGE)


# The check is a router dependency so that it runs first: off is 404 even before sign-in.
router = APIRouter(prefix="/api/billing", tags=["billing"], dependencies=[Depends(billing_on)])


@router.post(
    "/checkout",
    response_model=schemas.CheckoutOut,
    responses=error_responses(401, 404, 409, 422, 502),
)
def checkout(
    body: schemas.CheckoutRequest,
    principal: CurrentUser,
    settings: SettingsDep,
    request: Request,
) -> schemas.CheckoutOut:
    """A Stripe Checkout page for Pro, billed monthly or yearly; open `url` in the browser.
    Stripe sends you back to the account page; Pro starts when Stripe's webhook arrives."""
    if principal.plan.name == billing.PLAN and principal.plan_source == billing.SOURCE:
        raise ApiError(409, "already_pro", "You are on Pro already.")
    base = settings.public_url or str(request.base_url)
    try:
        url = billing.start_checkout(settings, principal.user, body.interval, base)
    except billing.CheckoutFailed as error:
        raise ApiError(502, "stripe_error", str(error)) from None
    return schemas.CheckoutOut(url=url)


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature is over these bytes. (The guards cap it.)"""
    return await request.body()


@router.post("/webhook", responses=error_responses(400, 404), include_in_schema=False)
def webhook(
    payload: Annotated[bytes, Depends(raw_body)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, bool]:
    """Stripe's events, signed with the webhook secret. A 2xx tells Stripe to stop
    retrying, so every verified event is answered 200, also one naming no user of ours."""
    try:
        event = billing.verify_event(payload, request.headers.get("stripe-signature"), settings)
    except billing.BadSignature as error:
        raise ApiError(400, "bad_signature", str(error)) from None
    outcome = billing.apply_event(session, event)
    return {"received": True, "applied": outcome == "applied"}
