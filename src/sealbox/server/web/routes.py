"""/web: secrets, a secret's page (replace, share, delete), sessions, audit (sign-in: web/signin.py; start:
web/start.py).

Every POST carries the session's CSRF token; cookies are HttpOnly, SameSite=Strict (and Secure over
HTTPS). Pages never render a value: after saving, the value exists only in the database.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from sealbox.domain.kinds import SPECS, Kind
from sealbox.domain.names import NAME_RULE
from sealbox.domain.principals import Principal
from sealbox.domain.times import parse_typed
from sealbox.errors import Forbidden, NotFound, ServiceError
from sealbox.server.context import AppContext
from sealbox.server.deps import now
from sealbox.server.errors import error_response
from sealbox.server.web import deleted, env_import, secret_page, signin, start
from sealbox.server.web.forms import form_expiry, form_kind, form_scopes, form_value
from sealbox.server.web.pages import (
    Ctx,
    Signed,
    field_errors,
    form_fields,
    install_sign_in_redirect,
    render,
)
from sealbox.services import audit as audit_service
from sealbox.services.access import visible_sessions

router = APIRouter(prefix="/web", include_in_schema=False)
PAGE = 50
EXPIRING_SOON = timedelta(days=30)  # the list badges secrets that expire within this


def install_web(app: FastAPI) -> None:
    app.mount("/web/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/web") and isinstance(exc, Forbidden) and exc.code == "csrf":
            return render(request, "error.html", 403, message=exc.message, user=None)
        assert isinstance(exc, ServiceError)
        return error_response(exc.status_code, exc.code, exc.message)

    install_sign_in_redirect(app)
    app.add_exception_handler(Forbidden, csrf_refused)
    for page in (router, secret_page.router, deleted.router, signin.router, start.router, env_import.router):
        app.include_router(page)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=303)


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
                "sessions": len(
                    visible_sessions(s, principal, ctx.sessions.live_sessions_for(s.id, now=now()))
                ),
            }
        )
    return render(
        request,
        "secrets.html",
        user=principal.user,
        csrf=csrf,
        rows=rows,
        q=q,
        next_cursor=page.next_cursor,
        now=now(),
        soon=now() + EXPIRING_SOON,
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
    return render(
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
    form = await form_fields(request, csrf)
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
        return _new_form(request, ctx, principal, csrf, field_errors(exc), kept, status=exc.status_code)
    if ctx.converter:
        ctx.converter.poke()
    return RedirectResponse(f"/web/s/{secret.owner_name}/{secret.name}?saved=1", status_code=303)


# sessions and audit -------------------------------------------------------------------------------


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, ctx: Ctx, signed: Signed) -> HTMLResponse:
    principal, csrf = signed
    return render(
        request,
        "sessions.html",
        user=principal.user,
        csrf=csrf,
        sessions=ctx.sessions.list_sessions(principal, live_only=True, now=now()),
    )


@router.post("/sessions/{session_id}/end")
async def end_session(request: Request, session_id: str, ctx: Ctx, signed: Signed) -> Response:
    principal, csrf = signed
    form = await form_fields(request, csrf)
    with contextlib.suppress(NotFound):
        ctx.sessions.end(principal, session_id[:64], now=now())
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
        errors = field_errors(exc)
    except ValueError:
        errors = {"since": "not a date"}
    return render(
        request,
        "audit.html",
        user=principal.user,
        csrf=csrf,
        records=records,
        secret=secret,
        since=since,
        errors=errors,
    )
