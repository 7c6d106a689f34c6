"""/web/deleted: the recently deleted secrets (in their recovery window) and a Restore button for each.

It lists what GET /api/v1/deleted-secrets lists for the same person (own, and shared with `manage`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sealbox.errors import NotFound, ServiceError
from sealbox.server.deps import now
from sealbox.server.web.pages import Ctx, Signed, form_fields, render

router = APIRouter(prefix="/web", include_in_schema=False)


@router.get("/deleted", response_class=HTMLResponse)
def deleted_page(request: Request, ctx: Ctx, signed: Signed) -> HTMLResponse:
    principal, csrf = signed
    items = ctx.deletion.deleted(principal, now=now())
    return render(request, "deleted.html", user=principal.user, csrf=csrf, items=items, error=None)


@router.post("/deleted/{owner}/{name}/restore")
async def restore(request: Request, owner: str, name: str, ctx: Ctx, signed: Signed) -> Response:
    principal, csrf = signed
    await form_fields(request, csrf)
    try:
        ctx.deletion.restore(principal, name, now=now(), owner=owner)
    except NotFound:  # as for one that never existed: back to the list
        return RedirectResponse("/web/deleted", status_code=303)
    except ServiceError as exc:
        items = ctx.deletion.deleted(principal, now=now())
        return render(
            request,
            "deleted.html",
            exc.status_code,
            user=principal.user,
            csrf=csrf,
            items=items,
            error=exc.message,
        )
    return RedirectResponse(f"/web/s/{owner}/{name}?restored=1", status_code=303)
