"""What every /web page shares: the signed-in person (or a redirect to sign in), rendering, forms.

Each page module (routes.py, secret_page.py, signin.py, start.py) has its own router and imports this
module; none imports another, and routes.py's `install_web` includes them all.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from sealbox.domain.principals import Principal
from sealbox.errors import Forbidden, ServiceError
from sealbox.server.context import AppContext
from sealbox.server.deps import context_of, get_context, now
from sealbox.services import web_sessions

COOKIE = "sealbox_session"
LOGIN_CSRF_COOKIE = "sealbox_login_csrf"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.autoescape = True


class _SignIn(Exception):
    """Raised by the page dependency when nobody is signed in: the handler redirects to the sign-in page."""


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def page_principal(request: Request) -> tuple[Principal, str]:
    ctx = context_of(request)
    found = web_sessions.lookup(ctx.db, request.cookies.get(COOKIE, ""), now=now())
    if found is None:
        raise _SignIn()
    client = request.client.host if request.client else None
    return Principal(user=found.user, token_id=found.token_id, client_addr=client), found.csrf_token


Signed = Annotated[tuple[Principal, str], Depends(page_principal)]
Ctx = Annotated[AppContext, Depends(get_context)]


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


async def form_fields(request: Request, csrf: str | None) -> dict[str, str]:
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


def field_errors(exc: ServiceError) -> dict[str, str]:
    return {exc.field or "_": exc.message}


def install_sign_in_redirect(app: FastAPI) -> None:
    """A page asked for without a signed-in person redirects to the sign-in page."""

    async def to_sign_in(request: Request, _: Exception) -> Response:
        return RedirectResponse("/web/login", status_code=303)

    app.add_exception_handler(_SignIn, to_sign_in)
