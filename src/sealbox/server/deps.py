"""FastAPI dependencies: the app context and the authenticated principal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from sealbox.domain.principals import Principal
from sealbox.errors import Forbidden, Unauthenticated
from sealbox.server.context import AppContext
from sealbox.services import tokens


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.sealbox
    return ctx


def now() -> datetime:
    return datetime.now(UTC)


def get_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Unauthenticated()
    client = request.client.host if request.client else None
    return tokens.authenticate(get_context(request).db, presented.strip(), now=now(), client_addr=client)


def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.user.is_admin:
        raise Forbidden("this needs an admin")
    return principal


ContextDep = Annotated[AppContext, Depends(get_context)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
AdminPrincipal = Annotated[Principal, Depends(get_admin)]
