"""FastAPI dependencies: the app context and the authenticated principal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from sealbox.domain.principals import Principal
from sealbox.errors import Forbidden
from sealbox.server.context import AppContext


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.sealbox
    return ctx


async def get_context(request: Request) -> AppContext:
    """As a dependency: async, so FastAPI does not spend a threadpool hop on a lookup."""
    return context_of(request)


def now() -> datetime:
    return datetime.now(UTC)


async def get_principal(request: Request) -> Principal:
    """Async on purpose: the token lookup is one indexed read, cheaper inline than a threadpool hop."""
    client = request.client.host if request.client else None
    ctx = context_of(request)
    header = ctx.authenticator.settings.proxy_user_header
    proxied = request.headers.get(header)
    return ctx.authenticator.authenticate(
        authorization=request.headers.get("authorization"),
        headers={header: proxied} if proxied else {},
        client_addr=client,
        now=now(),
    )


async def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.user.is_admin:
        raise Forbidden("this needs an admin")
    return principal


ContextDep = Annotated[AppContext, Depends(get_context)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
AdminPrincipal = Annotated[Principal, Depends(get_admin)]
