"""/api/v1/users: admins add users (each gets a first token), list them, and disable or enable them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from sealbox.server.bodies import struct_body
from sealbox.server.deps import AdminPrincipal, ContextDep, now
from sealbox.server.openapi import error_answers, struct_answer, struct_request, struct_response
from sealbox.server.schemas import UserCreate
from sealbox.server.schemas.accounts import (
    UserCreated,
    UserDisabledOut,
    UserStatus,
    user_disabled,
    user_public,
    user_status,
)
from sealbox.server.schemas.params import UserPath
from sealbox.services import tokens, users

router = APIRouter(
    prefix="/api/v1/users",
    tags=["users"],
    responses=error_answers(400, 401, 403, 409, 422),
)
# A sealbox.protocol Struct (server.bodies), declared after the route's authentication.
UserBody = Annotated[UserCreate, Depends(struct_body(UserCreate))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: struct_answer(UserCreated)},
    openapi_extra=struct_request(UserCreate),
)
def create_user(principal: AdminPrincipal, ctx: ContextDep, body: UserBody) -> Response:
    at = now()
    user = users.create_user(
        ctx.db, ctx.keys.master, name=body.name, is_admin=body.is_admin, now=at, requested_by=principal
    )
    issued = tokens.issue(ctx.db, user, name="first token", expires_at=None, now=at, requested_by=principal)
    created = UserCreated(user=user_public(user), token=issued.value)
    return struct_response(created, status_code=status.HTTP_201_CREATED)


@router.get("", response_class=Response, responses={200: struct_answer(UserStatus, many=True)})
def list_users(_: AdminPrincipal, ctx: ContextDep) -> Response:
    return struct_response([user_status(u) for u in users.list_users(ctx.db)])


@router.post(
    "/{name}/disable",
    response_class=Response,
    responses={200: struct_answer(UserDisabledOut), **error_answers(404)},
)
def disable_user(name: UserPath, principal: AdminPrincipal, ctx: ContextDep) -> Response:
    """Disable a user (or service account): at once, none of their tokens, web sessions or single
    sign-on and proxy sign-ins works; their web sessions are deleted and their live sessions ended.
    Their secrets and grants stay. An admin cannot disable themselves here (409)."""
    disabled = users.disable_user(ctx.db, name[:64], now=now(), requested_by=principal)
    return struct_response(user_disabled(disabled))


@router.post(
    "/{name}/enable",
    response_class=Response,
    responses={200: struct_answer(UserStatus), **error_answers(404)},
)
def enable_user(name: UserPath, principal: AdminPrincipal, ctx: ContextDep) -> Response:
    """Enable a disabled user again: their tokens that are neither revoked nor expired work again."""
    return struct_response(
        user_status(users.enable_user(ctx.db, name[:64], now=now(), requested_by=principal))
    )
