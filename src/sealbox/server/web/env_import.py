"""/web/import: import a .env file, each KEY=VALUE line a secret (services/dotenv_import.py parses and plans).

The file is posted once. Without "Import now" ticked the page shows the plan (line, action, name: never a
value) and changes nothing; with it, the secrets are created or replaced and the page shows what was done.
A value goes from the posted file into the store only: it is never rendered, so the form that follows a
plan has an empty file field, and importing means choosing the file again with the box ticked.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import Principal
from sealbox.errors import ServiceError
from sealbox.server.context import AppContext
from sealbox.server.deps import now
from sealbox.server.web.pages import Ctx, Signed, form_fields, render
from sealbox.services.dotenv_import import MAX_FILE_BYTES, Step, own_kinds, parse_env, plan
from sealbox.services.secrets import SecretValue

router = APIRouter(prefix="/web", include_in_schema=False)
DONE = {"create": "created", "replace": "replaced", "skip": "skipped"}


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, signed: Signed) -> HTMLResponse:
    principal, csrf = signed
    return render(request, "import.html", user=principal.user, csrf=csrf, parsed=None, rows=[], applied=False)


@router.post("/import", response_class=HTMLResponse)
async def import_env(request: Request, ctx: Ctx, signed: Signed) -> HTMLResponse:
    principal, csrf = signed
    fields = await form_fields(request, csrf)
    upload = (await request.form()).get("file")
    data = await upload.read(MAX_FILE_BYTES + 1) if isinstance(upload, UploadFile) else b""
    parsed = parse_env(data)
    steps = plan(parsed.entries, own_kinds(ctx.db, principal, [e.name for e in parsed.entries]))
    apply = fields.get("apply") == "yes"
    rows = _apply(ctx, principal, steps) if apply else [_row(s, s.action, s.reason) for s in steps]
    if apply and ctx.converter:
        ctx.converter.poke()
    return render(
        request, "import.html", user=principal.user, csrf=csrf, parsed=parsed, rows=rows, applied=apply
    )


def _row(step: Step, action: str, note: str) -> dict[str, object]:
    e = step.entry
    return {"line": e.line, "action": action, "name": e.name, "key": e.key, "note": note}


def _apply(ctx: AppContext, principal: Principal, steps: list[Step]) -> list[dict[str, object]]:
    """Each step done in its own transaction; one that fails is reported on its line, the others go on."""
    rows = []
    for step in steps:
        entry, at = step.entry, now()
        value = SecretValue(text=entry.value)
        try:
            if step.action == "create":
                ctx.secrets.create(
                    principal,
                    name=entry.name,
                    kind=Kind.GENERIC,
                    value=value,
                    description="from a .env file",
                    expires_at=None,
                    now=at,
                )
            elif step.action == "replace":
                ctx.secrets.replace(principal, entry.name, value=value, if_match=None, now=at)
        except ServiceError as exc:  # its message names rules, never a value
            rows.append(_row(step, "failed", exc.message))
            continue
        rows.append(_row(step, DONE[step.action], step.reason))
    return rows
