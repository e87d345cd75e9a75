"""Sign-up, sign-in, refresh, sign-out (accounts mode).

Sign-in answers a short-lived access token (JSON, kept in memory by the UI) and sets the
refresh token in an `HttpOnly; Secure; SameSite=Strict` cookie scoped to /api/auth. Refresh
rotates it (a reused one revokes the sign-in) and needs a same-site Origin.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from isomix import audit, schemas
from isomix.accounts import access, passwords, tokens, users
from isomix.api.client_ip import client_ip_of
from isomix.api.deps import SessionDep, SettingsDep
from isomix.api.errors import ApiError, error_responses
from isomix.api.limits import rate_limited
from isomix.config import Settings
from isomix.models import User, utcnow
from isomix.ratelimit import Rule, get_rate_limits

router = APIRouter(prefix="/api/auth", tags=["auth"])

REFRESH_COOKIE = "isomix_refresh"
COOKIE_PATH = "/api/auth"
BAD_CREDENTIALS = "The email or password is not right."


def _accounts_only(settings: Settings) -> None:
    if not settings.accounts:
        raise ApiError(
            404,
            "accounts_off",
            "This server has no accounts (ISOMIX_AUTH_MODE=single): nothing to sign in to.",
        )


def _limit(settings: Settings, rule: Rule, key: str, detail: str) -> None:
    wait = get_rate_limits(settings).hit(rule, key)
    if wait is not None:
        raise rate_limited(rule, wait, detail)


def _signed_in(
    session: Session, user: User, response: Response, settings: Settings
) -> schemas.AccessToken:
    refresh = tokens.start_session(session, user, settings)
    session.commit()
    _set_cookie(response, refresh.secret, settings)
    token, lifetime = access.issue(user.id, settings, now=utcnow())
    return schemas.AccessToken(access_token=token, expires_in=lifetime)


def _set_cookie(response: Response, secret: str, settings: Settings) -> None:
    response.set_cookie(
        REFRESH_COOKIE,
        secret,
        max_age=settings.refresh_token_days * 24 * 3600,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def _clear_cookie(response: Response) -> None:
    response.delete_cookie(
        REFRESH_COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict"
    )


@router.post(
    "/signup",
    status_code=201,
    response_model=schemas.AccessToken,
    responses=error_responses(403, 404, 409, 422, 429),
)
def signup(
    body: schemas.Credentials,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.AccessToken:
    """Make an account on the Free plan and sign in."""
    _accounts_only(settings)
    if not settings.signup:
        raise ApiError(403, "signup_off", "Sign-up is off on this server; ask its admin.")
    ip = client_ip_of(request, settings)
    _limit(settings, "signup_ip", ip, "Too many sign-ups from this address.")
    # Per account too: sign-up answers whether an email has an account (409), so it is
    # counted with the sign-ins of that email.
    _limit(
        settings,
        "login_account",
        body.email.strip().lower(),
        "Too many attempts for this account.",
    )
    try:
        user = users.create(session, body.email, body.password, settings=settings)
    except users.EmailTakenError as error:
        raise ApiError(409, "email_taken", str(error)) from None
    except (users.AccountError, passwords.WeakPasswordError) as error:
        raise ApiError(422, "invalid_options", str(error)) from None
    audit.record("signup", user=user, ip=ip, session=session)
    return _signed_in(session, user, response, settings)


@router.post(
    "/login",
    response_model=schemas.AccessToken,
    responses=error_responses(401, 404, 429),
)
def login(
    body: schemas.Credentials,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.AccessToken:
    """Sign in: an access token in the body, the refresh token in a cookie."""
    _accounts_only(settings)
    ip = client_ip_of(request, settings)
    _limit(settings, "login_ip", ip, "Too many sign-in attempts from this address.")
    _limit(
        settings,
        "login_account",
        body.email.strip().lower(),
        "Too many sign-in attempts for this account.",
    )
    user = users.authenticate(session, body.email, body.password)
    if user is None:
        audit.record("login_failed", email=body.email.strip().lower()[:320], ip=ip)
        raise ApiError(401, "bad_credentials", BAD_CREDENTIALS)
    audit.record("login", user=user, ip=ip, session=session)
    return _signed_in(session, user, response, settings)


@router.post(
    "/refresh",
    response_model=schemas.AccessToken,
    responses=error_responses(401, 403, 404, 429),
)
def refresh(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> schemas.AccessToken:
    """A new access token for the refresh cookie, which is replaced by a new one.

    Only from the UI's own pages: the request must carry an Origin (which the guards check
    against the server's own), so another site cannot make a signed-in browser call it."""
    _accounts_only(settings)
    if "origin" not in request.headers:
        raise ApiError(403, "cross_origin", "A refresh must come from the IsoMix page itself.")
    ip = client_ip_of(request, settings)
    _limit(settings, "refresh_ip", ip, "Too many refreshes from this address.")
    secret = request.cookies.get(REFRESH_COOKIE)
    if not secret:
        raise ApiError(401, "unauthenticated", "Not signed in.")
    try:
        fresh = tokens.rotate(session, secret, settings)
    except tokens.RefreshRefused as refused:
        if str(refused) == "reused":
            audit.record("refresh_reused", ip=ip)
        _clear_cookie(response)
        raise ApiError(
            401,
            "unauthenticated",
            "The sign-in has ended; sign in again.",
            headers={"Set-Cookie": response.headers["set-cookie"]},
        ) from None
    _set_cookie(response, fresh.secret, settings)
    token, lifetime = access.issue(fresh.user_id, settings, now=utcnow())
    return schemas.AccessToken(access_token=token, expires_in=lifetime)


@router.post("/logout", status_code=204, responses=error_responses(404))
def logout(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> Response:
    """Sign out: this sign-in's refresh tokens stop working at once."""
    _accounts_only(settings)
    secret = request.cookies.get(REFRESH_COOKIE)
    user_id = tokens.end_session(session, secret) if secret else None
    if user_id is not None:
        audit.record("logout", user_id=user_id, ip=client_ip_of(request, settings))
    answer = Response(status_code=204)
    _clear_cookie(answer)
    return answer
