"""/web sign-in and sign-out: with a personal access token, or with single sign-on (OpenID Connect).

A web session lasts at most 12 hours and ends earlier when the token it was signed in with is revoked
or expires, or when its user is disabled (services/web_sessions.py checks on every request). The form
takes personal access tokens only, not an identity provider's JWT, so that every web session signed in
with a token names it; service accounts' tokens do not sign in here: the pages are for people.
"""

from __future__ import annotations

import secrets as random

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sealbox.domain.principals import Principal
from sealbox.errors import ServiceError, Unauthenticated
from sealbox.server.deps import now
from sealbox.server.web.oidc import FLOW_COOKIE
from sealbox.server.web.pages import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    Ctx,
    Signed,
    form_fields,
    render,
    secure,
)
from sealbox.services import web_sessions

router = APIRouter(prefix="/web", include_in_schema=False)

# What the sign-in page says for a token it refuses: the same for an unknown, a revoked and an expired
# token, and for a disabled user's, so that the page tells nobody which token ids exist.
REFUSAL = "that token is not valid (or has expired, or was revoked, or its user is disabled)"


def _login_form(request: Request, ctx: Ctx, status: int, error: str | None) -> HTMLResponse:
    token = random.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status,
        csrf=token,
        errors={"token": error} if error else {},
        user=None,
        sso=ctx.oidc_login is not None,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/web/login"
    )
    return response


def _signed_in(response: Response, request: Request, cookie: str) -> Response:
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path="/",
        max_age=int(web_sessions.WEB_SESSION_TTL.total_seconds()),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx) -> HTMLResponse:
    return _login_form(request, ctx, 200, None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ctx: Ctx) -> Response:
    form = await form_fields(request, request.cookies.get(LOGIN_CSRF_COOKIE, "-"))
    client = request.client.host if request.client else None
    try:
        principal = ctx.authenticator.authenticate(
            authorization=f"Bearer {form.get('token', '').strip()}", headers={}, client_addr=client, now=now()
        )
        if principal.token_id is None:
            # An identity provider's JWT pasted here: the web session could not end with it. Single
            # sign-on is the way in for those.
            raise Unauthenticated()
        cookie = web_sessions.sign_in(ctx.db, principal, now=now())
    except ServiceError as exc:
        message = REFUSAL if isinstance(exc, Unauthenticated) else exc.message
        return _login_form(request, ctx, exc.status_code, message)
    signed_in = _signed_in(RedirectResponse("/web/", status_code=303), request, cookie)
    signed_in.delete_cookie(LOGIN_CSRF_COOKIE, path="/web/login")
    return signed_in


@router.get("/login/oidc")
def oidc_start(request: Request, ctx: Ctx) -> Response:
    if ctx.oidc_login is None:
        return RedirectResponse("/web/login", status_code=303)
    target, flow = ctx.oidc_login.start(str(request.url_for("oidc_callback")))
    response = RedirectResponse(target, status_code=303)
    # Lax, not Strict: it must come back with the issuer's cross-site redirect.
    response.set_cookie(
        FLOW_COOKIE,
        flow,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/web/login",
        max_age=600,
    )
    return response


@router.get("/login/callback", name="oidc_callback")
def oidc_callback(request: Request, ctx: Ctx, code: str = "", state: str = "") -> Response:
    if ctx.oidc_login is None:
        return RedirectResponse("/web/login", status_code=303)
    client = request.client.host if request.client else None
    try:
        username, subject, groups = ctx.oidc_login.finish(
            code=code[:2048],
            state=state[:256],
            cookie=request.cookies.get(FLOW_COOKIE, ""),
            redirect_uri=str(request.url_for("oidc_callback")),
        )
        # Refuses a disabled user, and a name that belongs to another identity or a service account.
        user = ctx.authenticator.provision(username, external_id=subject, groups=groups, now=now())
        cookie = web_sessions.sign_in(
            ctx.db, Principal(user=user, token_id=None, client_addr=client), now=now()
        )
    except ServiceError:
        return render(
            request, "error.html", 401, message="single sign-on did not succeed; try again", user=None
        )
    # The way here began on the issuer's site: a redirect from this response would still be part of that
    # cross-site navigation, and the browser would leave out the SameSite=Strict cookie set just now (the
    # person would land on the sign-in page). A page of ours that moves on by itself starts a same-site one.
    signed_in = _signed_in(render(request, "signed_in.html", user=None, username=user.name), request, cookie)
    signed_in.headers["Refresh"] = "0; url=/web/"
    signed_in.delete_cookie(FLOW_COOKIE, path="/web/login")
    return signed_in


@router.post("/logout")
async def logout(request: Request, ctx: Ctx, signed: Signed) -> Response:
    await form_fields(request, signed[1])
    web_sessions.sign_out(ctx.db, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/web/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
