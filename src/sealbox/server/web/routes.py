"""/web: sign in, secrets, a secret's page (replace, share, delete), sessions, audit (start: web/start.py).

Every POST carries the session's CSRF token; cookies are HttpOnly, SameSite=Strict (and Secure over
HTTPS). Pages never render a value: after saving, the value exists only in the database.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets as random
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from sealbox.domain.kinds import SPECS, Kind
from sealbox.domain.names import NAME_RULE
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import SecretPatch
from sealbox.domain.times import parse_typed
from sealbox.errors import BadRequest, Forbidden, NotFound, ServiceError, Unauthenticated
from sealbox.server.context import AppContext
from sealbox.server.deps import context_of, get_context, now
from sealbox.server.web.forms import form_expiry, form_kind, form_scopes, form_value
from sealbox.server.web.oidc import FLOW_COOKIE
from sealbox.services import audit as audit_service
from sealbox.services import web_sessions
from sealbox.services.sharing import Grantee

COOKIE = "sealbox_session"
LOGIN_CSRF_COOKIE = "sealbox_login_csrf"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.autoescape = True
router = APIRouter(prefix="/web", include_in_schema=False)
PAGE = 50


class _SignIn(Exception):
    """Raised by the page dependency when nobody is signed in: the handler redirects to the sign-in page."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _page_principal(request: Request) -> tuple[Principal, str]:
    ctx = context_of(request)
    found = web_sessions.lookup(ctx.db, request.cookies.get(COOKIE, ""), now=now())
    if found is None:
        raise _SignIn()
    client = request.client.host if request.client else None
    return Principal(user=found.user, token_id=None, client_addr=client), found.csrf_token


Signed = Annotated[tuple[Principal, str], Depends(_page_principal)]
Ctx = Annotated[AppContext, Depends(get_context)]


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


async def _form(request: Request, csrf: str | None) -> dict[str, str]:
    """The form fields, after checking the CSRF token (constant time)."""
    raw = await request.form()
    form: dict[str, str] = {}
    for key in raw:
        # Without JavaScript every kind's inputs are posted: keep the one the person filled in.
        values = [v for v in raw.getlist(key) if isinstance(v, str)]
        form[key] = next((v for v in values if v != ""), "")
    if csrf is not None and not hmac.compare_digest(form.get("csrf", ""), csrf):
        raise Forbidden("the form expired or came from another site; reload the page", code="csrf")
    return form


def _errors(exc: ServiceError) -> dict[str, str]:
    return {exc.field or "_": exc.message}


def install_web(app: FastAPI) -> None:
    from fastapi.staticfiles import StaticFiles

    app.mount("/web/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    async def to_sign_in(request: Request, _: Exception) -> Response:
        return RedirectResponse("/web/login", status_code=303)

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/web") and isinstance(exc, Forbidden) and exc.code == "csrf":
            return _render(request, "error.html", 403, message=exc.message, user=None)
        from sealbox.server.errors import error_response

        assert isinstance(exc, ServiceError)
        return error_response(exc.status_code, exc.code, exc.message)

    app.add_exception_handler(_SignIn, to_sign_in)
    app.add_exception_handler(Forbidden, csrf_refused)
    from sealbox.server.web import start  # noqa: F401 -- its routes join `router` before it is included

    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=303)


# sign in and out ----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx) -> HTMLResponse:
    token = random.token_urlsafe(24)
    response = _render(
        request,
        "login.html",
        csrf=token,
        errors={},
        user=None,
        sso=ctx.oidc_login is not None,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/web/login"
    )
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ctx: Ctx) -> Response:
    form = await _form(request, request.cookies.get(LOGIN_CSRF_COOKIE, "-"))
    client = request.client.host if request.client else None
    try:
        principal = ctx.authenticator.authenticate(
            authorization=f"Bearer {form.get('token', '').strip()}", headers={}, client_addr=client, now=now()
        )
    except ServiceError as exc:
        token = random.token_urlsafe(24)
        message = (
            "that token is not valid (or has expired, or was revoked)"
            if isinstance(exc, Unauthenticated)
            else exc.message
        )
        response = _render(
            request,
            "login.html",
            exc.status_code,
            csrf=token,
            errors={"token": message},
            user=None,
            sso=ctx.oidc_login is not None,
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/web/login",
        )
        return response
    cookie = web_sessions.sign_in(ctx.db, principal, now=now())
    signed_in = RedirectResponse("/web/", status_code=303)
    signed_in.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
        max_age=int(web_sessions.WEB_SESSION_TTL.total_seconds()),
    )
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
        secure=_secure(request),
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
        user = ctx.authenticator.provision(username, external_id=subject, groups=groups, now=now())
    except ServiceError:
        return _render(
            request, "error.html", 401, message="single sign-on did not succeed; try again", user=None
        )
    cookie = web_sessions.sign_in(ctx.db, Principal(user=user, token_id=None, client_addr=client), now=now())
    # The way here began on the issuer's site: a redirect from this response would still be part of that
    # cross-site navigation, and the browser would leave out the SameSite=Strict cookie set just now (the
    # person would land on the sign-in page). A page of ours that moves on by itself starts a same-site one.
    signed_in = _render(request, "signed_in.html", user=None, username=user.name)
    signed_in.headers["Refresh"] = "0; url=/web/"
    signed_in.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
        max_age=int(web_sessions.WEB_SESSION_TTL.total_seconds()),
    )
    signed_in.delete_cookie(FLOW_COOKIE, path="/web/login")
    return signed_in


@router.post("/logout")
async def logout(request: Request, ctx: Ctx, signed: Signed) -> Response:
    await _form(request, signed[1])
    web_sessions.sign_out(ctx.db, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/web/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# secrets ------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def secrets_page(
    request: Request, ctx: Ctx, signed: Signed, q: str = "", cursor: str | None = None
) -> HTMLResponse:
    principal, csrf = signed
    prefix = q if q and all(c.isalnum() or c in "._-" for c in q) and len(q) <= 128 else None
    try:
        page = ctx.secrets.page(principal, cursor=cursor, limit=PAGE, prefix=prefix)
    except ServiceError:
        page = ctx.secrets.page(principal, cursor=None, limit=PAGE, prefix=prefix)
    rows = []
    for s in page.items:
        rows.append(
            {
                "secret": s,
                "shared_with": _shared_with(ctx, principal, s),
                "sessions": len(ctx.launches.live_sessions_for(s.id, now=now())),
            }
        )
    return _render(
        request, "secrets.html", user=principal.user, csrf=csrf, rows=rows, q=q, next_cursor=page.next_cursor
    )


def _shared_with(ctx: AppContext, principal: Principal, s: Any) -> str:
    try:
        grants = ctx.sharing.grants(principal, s.name, owner=s.owner_name)
    except ServiceError:
        return ""
    return ", ".join(f"{g.grantee_name} ({g.level.value})" for g in grants)


@router.get("/new", response_class=HTMLResponse)
def new_secret_page(request: Request, ctx: Ctx, signed: Signed) -> HTMLResponse:
    principal, csrf = signed
    return _new_form(request, ctx, principal, csrf, {}, {})


def _new_form(
    request: Request,
    ctx: AppContext,
    principal: Principal,
    csrf: str,
    errors: dict[str, str],
    kept: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    return _render(
        request,
        "secret_new.html",
        status,
        user=principal.user,
        csrf=csrf,
        errors=errors,
        kept=kept,
        kinds=[(k.value, SPECS[k]) for k in Kind],
        name_rule=NAME_RULE,
        projects=ctx.sharing.my_projects(principal),
    )


@router.post("/new", response_class=HTMLResponse)
async def create_secret(request: Request, ctx: Ctx, signed: Signed) -> Response:
    principal, csrf = signed
    form = await _form(request, csrf)
    # Re-render keeps what the person typed except values: those are never sent back to the browser.
    kept = {k: form.get(k, "") for k in ("name", "kind", "description", "expires_at", "project", "scopes")}
    try:
        kind = form_kind(form)
        secret = ctx.secrets.create(
            principal,
            name=form.get("name", "").strip(),
            kind=kind,
            value=form_value(form, kind),
            description=form.get("description", ""),
            expires_at=form_expiry(form.get("expires_at", "")),
            now=now(),
            project=form.get("project") or None,
            scopes=form_scopes(form.get("scopes", "")),
        )
    except ServiceError as exc:
        return _new_form(request, ctx, principal, csrf, _errors(exc), kept, status=exc.status_code)
    if ctx.converter:
        ctx.converter.poke()
    return RedirectResponse(f"/web/s/{secret.owner_name}/{secret.name}?saved=1", status_code=303)


def _secret_context(ctx: AppContext, principal: Principal, owner: str, name: str) -> dict[str, Any]:
    secret = ctx.secrets.get(principal, name, owner=owner)
    return {
        "secret": secret,
        "grants": ctx.sharing.grants(principal, name, owner=owner),
        "sessions": ctx.launches.live_sessions_for(secret.id, now=now()),
        "spec": SPECS[secret.kind],
    }


@router.get("/s/{owner}/{name}", response_class=HTMLResponse)
def secret_page(
    request: Request, owner: str, name: str, ctx: Ctx, signed: Signed, saved: int = 0
) -> HTMLResponse:
    principal, csrf = signed
    try:
        data = _secret_context(ctx, principal, owner[:64], name[:200])
    except ServiceError as exc:
        return _render(request, "error.html", exc.status_code, message=exc.message, user=principal.user)
    return _render(
        request, "secret.html", user=principal.user, csrf=csrf, errors={}, saved=bool(saved), **data
    )


async def _secret_action(
    request: Request, ctx: AppContext, signed: tuple[Principal, str], owner: str, name: str, action: Any
) -> Response:
    principal, csrf = signed
    form = await _form(request, csrf)
    try:
        result = action(principal, form)
    except ServiceError as exc:
        try:
            data = _secret_context(ctx, principal, owner, name)
        except ServiceError:
            return RedirectResponse("/web/", status_code=303)
        return _render(
            request,
            "secret.html",
            exc.status_code,
            user=principal.user,
            csrf=csrf,
            errors=_errors(exc),
            saved=False,
            **data,
        )
    if isinstance(result, Response):
        return result
    return RedirectResponse(f"/web/s/{owner}/{name}", status_code=303)


@router.post("/s/{owner}/{name}/replace")
async def replace_value(request: Request, owner: str, name: str, ctx: Ctx, signed: Signed) -> Response:
    def act(principal: Principal, form: dict[str, str]) -> None:
        current = ctx.secrets.get(principal, name, owner=owner)
        expected = int(form["version"]) if form.get("version", "").isdigit() else None
        ctx.secrets.replace(
            principal, name, value=form_value(form, current.kind), if_match=expected, now=now(), owner=owner
        )
        if ctx.converter:
            ctx.converter.poke()

    return await _secret_action(request, ctx, signed, owner, name, act)


@router.post("/s/{owner}/{name}/update")
async def update_secret(request: Request, owner: str, name: str, ctx: Ctx, signed: Signed) -> Response:
    def act(principal: Principal, form: dict[str, str]) -> None:
        expiry = form_expiry(form.get("expires_at", ""))
        ctx.secrets.update(
            principal,
            name,
            SecretPatch(
                description=form.get("description", ""),
                expires_at=expiry,
                clear_expiry=expiry is None,
                scopes=form_scopes(form.get("scopes", "")),
            ),
            now=now(),
            owner=owner,
        )

    return await _secret_action(request, ctx, signed, owner, name, act)


@router.post("/s/{owner}/{name}/share")
async def share(request: Request, owner: str, name: str, ctx: Ctx, signed: Signed) -> Response:
    def act(principal: Principal, form: dict[str, str]) -> None:
        kind = "group" if form.get("grantee_type") == "group" else "user"
        ctx.sharing.share(
            principal,
            name,
            owner=owner,
            grantee=Grantee(kind=kind, name=form.get("grantee", "")),
            level=form.get("level", ""),
            now=now(),
        )

    return await _secret_action(request, ctx, signed, owner, name, act)


@router.post("/s/{owner}/{name}/unshare")
async def unshare(request: Request, owner: str, name: str, ctx: Ctx, signed: Signed) -> Response:
    def act(principal: Principal, form: dict[str, str]) -> None:
        kind = "group" if form.get("grantee_type") == "group" else "user"
        ctx.sharing.unshare(
            principal, name, owner=owner, grantee=Grantee(kind=kind, name=form.get("grantee", "")), now=now()
        )

    return await _secret_action(request, ctx, signed, owner, name, act)


@router.post("/s/{owner}/{name}/delete")
async def delete_secret(request: Request, owner: str, name: str, ctx: Ctx, signed: Signed) -> Response:
    def act(principal: Principal, form: dict[str, str]) -> Response:
        if form.get("confirm") != name:
            raise BadRequest("type the secret's name to confirm", code="confirm", field="confirm")
        ctx.secrets.delete(principal, name, now=now(), owner=owner)
        return RedirectResponse("/web/?deleted=1", status_code=303)

    return await _secret_action(request, ctx, signed, owner, name, act)


# sessions and audit -------------------------------------------------------------------------------


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, ctx: Ctx, signed: Signed) -> HTMLResponse:
    principal, csrf = signed
    return _render(
        request,
        "sessions.html",
        user=principal.user,
        csrf=csrf,
        sessions=ctx.launches.list_sessions(principal, live_only=True, now=now()),
    )


@router.post("/sessions/{session_id}/end")
async def end_session(request: Request, session_id: str, ctx: Ctx, signed: Signed) -> Response:
    principal, csrf = signed
    form = await _form(request, csrf)
    with contextlib.suppress(NotFound):
        ctx.launches.end(principal, session_id[:64], now=now())
    # Back to the page the form was on: only a path of ours (never a URL someone else chose).
    back = form.get("next", "")
    safe = back.startswith("/web/") and "//" not in back and "\\" not in back
    return RedirectResponse(back if safe else "/web/sessions", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
# `secret` is the name of a secret to filter the records by, never a value.
def audit_page(request: Request, ctx: Ctx, signed: Signed, secret: str = "", since: str = "") -> HTMLResponse:  # nosec B107
    principal, csrf = signed
    errors: dict[str, str] = {}
    records: list[Any] = []
    try:
        since_at = parse_typed(since) if since else None
        records = audit_service.list_records(
            ctx.db, principal, secret=secret or None, session_id=None, since=since_at, cursor=None, limit=200
        )
    except ServiceError as exc:
        errors = _errors(exc)
    except ValueError:
        errors = {"since": "not a date"}
    return _render(
        request,
        "audit.html",
        user=principal.user,
        csrf=csrf,
        records=records,
        secret=secret,
        since=since,
        errors=errors,
    )
