"""/api/v1/tokens: my tokens, shown once when issued; revocable. (/api/v1/me is server/hot.py's.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from sealbox.server.bodies import body_time, struct_body
from sealbox.server.deps import ContextDep, CurrentPrincipal, now
from sealbox.server.openapi import error_answers, struct_answer, struct_request, struct_response
from sealbox.server.schemas import TokenCreate
from sealbox.server.schemas.accounts import (
    TokenIssued,
    TokenPublic,
    TokenRevokedOut,
    token_issued,
    token_public,
    token_revoked,
)
from sealbox.server.schemas.params import TokenIdPath
from sealbox.services import tokens

router = APIRouter(
    prefix="/api/v1",
    tags=["tokens"],
    responses=error_answers(400, 401, 404, 422),
)
# A sealbox.protocol Struct (server.bodies), declared after the route's authentication.
TokenBody = Annotated[TokenCreate, Depends(struct_body(TokenCreate))]


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: struct_answer(TokenIssued)},
    openapi_extra=struct_request(TokenCreate),
)
def create_token(principal: CurrentPrincipal, ctx: ContextDep, body: TokenBody) -> Response:
    expires_at = body_time(body.expires_at, "expires_at")
    issued = tokens.issue(
        ctx.db, principal.user, name=body.name, expires_at=expires_at, now=now(), requested_by=principal
    )
    return struct_response(token_issued(issued.token, issued.value), status_code=status.HTTP_201_CREATED)


@router.get("/tokens", response_class=Response, responses={200: struct_answer(TokenPublic, many=True)})
def list_tokens(principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    return struct_response([token_public(t) for t in tokens.list_tokens(ctx.db, principal)])


@router.delete("/tokens/{token_id}", response_class=Response, responses={200: struct_answer(TokenRevokedOut)})
def revoke_token(token_id: TokenIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    """Revoke one of my tokens: it stops working at once, and so does every web session signed in with
    it (`web_sessions_ended` says how many were live)."""
    return struct_response(token_revoked(tokens.revoke(ctx.db, principal, token_id[:32], now=now())))
