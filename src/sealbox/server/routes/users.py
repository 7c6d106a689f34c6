"""/api/v1/users: admins add users (each gets a first token) and list them."""

from __future__ import annotations

from fastapi import APIRouter, status

from sealbox.server.deps import AdminPrincipal, ContextDep, now
from sealbox.server.schemas import ErrorBody, UserCreate, UserCreated, UserPublic
from sealbox.services import tokens, users

router = APIRouter(
    prefix="/api/v1/users",
    tags=["users"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        409: {"model": ErrorBody},
        422: {"model": ErrorBody},
    },
)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserCreated)
def create_user(body: UserCreate, principal: AdminPrincipal, ctx: ContextDep) -> UserCreated:
    at = now()
    user = users.create_user(
        ctx.db, ctx.keys.master, name=body.name, is_admin=body.is_admin, now=at, requested_by=principal
    )
    issued = tokens.issue(ctx.db, user, name="first token", expires_at=None, now=at, requested_by=principal)
    return UserCreated(user=UserPublic.of(user), token=issued.value)


@router.get("", response_model=list[UserPublic])
def list_users(_: AdminPrincipal, ctx: ContextDep) -> list[UserPublic]:
    return [UserPublic.of(u) for u in users.list_users(ctx.db)]
