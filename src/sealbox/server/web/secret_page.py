"""/web/s/{owner}/{name}: a secret's page (metadata, versions, the sessions that mount it, its usage) and
its forms (replace, details, share, revoke, delete). It shows what the API shows the same person."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sealbox.domain.kinds import SPECS
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import SecretPatch
from sealbox.errors import BadRequest, ServiceError
from sealbox.server.context import AppContext
from sealbox.server.deps import now
from sealbox.server.web.forms import form_expiry, form_scopes, form_value
from sealbox.server.web.pages import Ctx, Signed, field_errors, form_fields, render
from sealbox.services.sharing import Grantee

router = APIRouter(prefix="/web", include_in_schema=False)
USES_SHOWN = 50  # sessions on the page's Usage part; `sealbox secret usage --limit` shows up to 500


def _secret_context(ctx: AppContext, principal: Principal, owner: str, name: str) -> dict[str, Any]:
    # The same call as GET /api/v1/secrets/{name}: a `use` or `write` grantee sees only their own sessions.
    secret, sessions = ctx.secrets.get_with_sessions(principal, name, owner=owner, now=now())
    return {
        "secret": secret,
        "grants": ctx.sharing.grants(principal, name, owner=owner),
        "sessions": sessions,
        # The same call as GET /api/v1/secrets/{name}/usage: a `use` or `write` grantee sees their own uses.
        "usage": ctx.usage.usage(principal, name, owner=owner, now=now(), limit=USES_SHOWN),
        "spec": SPECS[secret.kind],
        "expired": secret.expires_at is not None and secret.expires_at <= now(),
    }


@router.get("/s/{owner}/{name}", response_class=HTMLResponse)
def secret_page(
    request: Request, owner: str, name: str, ctx: Ctx, signed: Signed, saved: int = 0
) -> HTMLResponse:
    principal, csrf = signed
    try:
        data = _secret_context(ctx, principal, owner[:64], name[:200])
    except ServiceError as exc:
        return render(request, "error.html", exc.status_code, message=exc.message, user=principal.user)
    return render(
        request, "secret.html", user=principal.user, csrf=csrf, errors={}, saved=bool(saved), **data
    )


async def _secret_action(
    request: Request, ctx: AppContext, signed: tuple[Principal, str], owner: str, name: str, action: Any
) -> Response:

    principal, csrf = signed
    form = await form_fields(request, csrf)
    try:
        result = action(principal, form)
    except ServiceError as exc:
        try:
            data = _secret_context(ctx, principal, owner, name)
        except ServiceError:
            return RedirectResponse("/web/", status_code=303)
        return render(
            request,
            "secret.html",
            exc.status_code,
            user=principal.user,
            csrf=csrf,
            errors=field_errors(exc),
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
        force = form.get("force") == "1"  # the page's box: delete although live sessions hold it
        ctx.deletion.delete(principal, name, now=now(), owner=owner, force=force)
        return RedirectResponse("/web/?deleted=1", status_code=303)

    return await _secret_action(request, ctx, signed, owner, name, act)
