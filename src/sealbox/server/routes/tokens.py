"""/api/v1/tokens: my tokens, shown once when issued; revocable. (/api/v1/me is server/hot.py's.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from sealbox.server.bodies import body_time, struct_body
from sealbox.server.deps import ContextDep, CurrentPrincipal, now
from sealbox.server.openapi import struct_request
from sealbox.server.schemas import ErrorBody, TokenCreate, TokenIssued, TokenPublic
from sealbox.server.schemas.accounts import TokenRevokedOut
from sealbox.server.schemas.params import TokenIdPath
from sealbox.services import tokens

router = APIRouter(
    prefix="/api/v1",
    tags=["tokens"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        404: {"model": ErrorBody},
        422: {"model": ErrorBody},
    },
)
# A sealbox.protocol Struct (server.bodies), declared after the route's authentication.
TokenBody = Annotated[TokenCreate, Depends(struct_body(TokenCreate))]


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenIssued,
    openapi_extra=struct_request(TokenCreate),
)
def create_token(principal: CurrentPrincipal, ctx: ContextDep, body: TokenBody) -> TokenIssued:
    expires_at = body_time(body.expires_at, "expires_at")
    issued = tokens.issue(
        ctx.db, principal.user, name=body.name, expires_at=expires_at, now=now(), requested_by=principal
    )
    return TokenIssued(**TokenPublic.of(issued.token).model_dump(), token=issued.value)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(principal: CurrentPrincipal, ctx: ContextDep) -> list[TokenPublic]:
    return [TokenPublic.of(t) for t in tokens.list_tokens(ctx.db, principal)]


@router.delete("/tokens/{token_id}", response_model=TokenRevokedOut)
def revoke_token(token_id: TokenIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> TokenRevokedOut:
    """Revoke one of my tokens: it stops working at once, and so does every web session signed in with
    it (`web_sessions_ended` says how many were live)."""
    return TokenRevokedOut.of_revoked(tokens.revoke(ctx.db, principal, token_id[:32], now=now()))
