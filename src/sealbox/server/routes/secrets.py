"""/api/v1/secrets: create, list, show, replace, update, delete, share. No route returns a value.

A secret shared with me is addressed with `?owner=<its owner>`; without it, a name is my own.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from sealbox.domain.names import is_valid_user_name
from sealbox.domain.secrets import SecretPatch
from sealbox.errors import BadRequest, NotFound
from sealbox.protocol.api_fields import BASE64_RE
from sealbox.server.bodies import body_time, struct_body
from sealbox.server.deps import ContextDep, CurrentPrincipal, now
from sealbox.server.hot import etag
from sealbox.server.openapi import error_answers, struct_answer, struct_request, struct_response
from sealbox.server.schemas import GrantIn, SecretCreate, SecretReplace, SecretUpdate, SecretValue
from sealbox.server.schemas.params import (
    GranteePath,
    GranteeTypePath,
    IfMatch,
    OwnerQuery,
    SecretNamePath,
)
from sealbox.server.schemas.secrets import (
    DeletedSecrets,
    SecretPublic,
    UnshareOut,
    deleted_secret_public,
    mounting_session,
    secret_public,
)
from sealbox.server.schemas.sharing import GrantPublic, grant_public
from sealbox.services import secrets as secret_service
from sealbox.services.access import visible_sessions
from sealbox.services.sharing import Grantee

if TYPE_CHECKING:
    from sealbox.domain.principals import Principal
    from sealbox.domain.secrets import Secret
    from sealbox.server.context import AppContext

router = APIRouter(
    prefix="/api/v1/secrets",
    tags=["secrets"],
    responses=error_answers(400, 401, 403, 404, 409, 413, 422, 429),
)
deleted_router = APIRouter(
    prefix="/api/v1/deleted-secrets",
    tags=["secrets"],
    responses=error_answers(401, 429),
)
_IF_MATCH = re.compile(r'(?:W/)?"?([0-9]{1,9})"?')
NamePath = SecretNamePath
# Bodies are sealbox.protocol Structs (server.bodies); each is declared after the route's authentication.
CreateBody = Annotated[SecretCreate, Depends(struct_body(SecretCreate))]
ReplaceBody = Annotated[SecretReplace, Depends(struct_body(SecretReplace))]
UpdateBody = Annotated[SecretUpdate, Depends(struct_body(SecretUpdate))]
GrantBody = Annotated[GrantIn, Depends(struct_body(GrantIn))]


def secret_value(body: SecretValue) -> secret_service.SecretValue:
    raw: bytes | None = None
    if body.value_base64 is not None:
        try:
            if not BASE64_RE.fullmatch(body.value_base64):
                raise ValueError
            raw = base64.b64decode(body.value_base64, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(
                "value_base64 is not valid base64", code="invalid_value", field="value_base64"
            ) from None
    return secret_service.SecretValue(text=body.value, raw=raw, fields=body.fields)


def if_match_version(if_match: str | None) -> int | None:
    """The version an If-Match header names; None for none or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _IF_MATCH.fullmatch(if_match.strip())
    if match is None:
        raise BadRequest(
            'If-Match must be a version number such as "3"', code="invalid_if_match", field="If-Match"
        )
    return int(match.group(1))


def _grantee(body: GrantIn) -> Grantee:
    if (body.user is None) == (body.group is None):
        raise BadRequest("give exactly one of user or group", code="invalid_grantee", field="user")
    return Grantee(kind="user", name=body.user) if body.user else Grantee(kind="group", name=str(body.group))


# The reads (GET of the list and of one secret) are server/hot.py's: one handler each, routes of their own.
# Create and replace are answered by server/hot_writes.py ahead of FastAPI (the same calls, in the same
# order); these routes declare them and answer what it hands on.
# What a change answers is the same SecretPublic Struct a read answers with, encoded by msgspec.


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: struct_answer(SecretPublic)},
    openapi_extra=struct_request(SecretCreate),
)
def create_secret(principal: CurrentPrincipal, ctx: ContextDep, body: CreateBody) -> Response:
    secret = created_secret(ctx, principal, body)
    return struct_response(
        secret_public(secret, with_versions=True),
        status_code=status.HTTP_201_CREATED,
        headers={"Location": f"/api/v1/secrets/{secret.name}", "ETag": etag(secret.current_version)},
    )


def created_secret(ctx: AppContext, principal: Principal, body: SecretCreate) -> Secret:
    """The create, as this route and the hot write front (server/hot_writes.py) both do it."""
    secret = ctx.secrets.create(
        principal,
        name=body.name,
        kind=body.kind,
        value=secret_value(body),
        description=body.description,
        expires_at=body_time(body.expires_at, "expires_at"),
        now=now(),
        project=body.project,
        scopes=tuple(body.scopes),
    )
    if ctx.converter:
        ctx.converter.poke()
    return secret


@router.put(
    "/{name}/value",
    response_class=Response,
    responses={200: struct_answer(SecretPublic)},
    openapi_extra=struct_request(SecretReplace),
)
def replace_value(
    name: NamePath,
    principal: CurrentPrincipal,
    ctx: ContextDep,
    body: ReplaceBody,
    if_match: IfMatch = None,
    owner: OwnerQuery = None,
) -> Response:
    answer = replaced_secret(ctx, principal, name, body, if_match=if_match, owner=owner)
    return struct_response(answer, headers={"ETag": etag(answer.current_version)})


def replaced_secret(
    ctx: AppContext,
    principal: Principal,
    name: str,
    body: SecretReplace,
    *,
    if_match: str | None,
    owner: str | None,
) -> SecretPublic:
    """The replace, as this route and the hot write front both do it: the answer names the live sessions
    that still hold the version before (they get the new one at their next refresh), so a client can
    warn."""
    secret = ctx.secrets.replace(
        principal, name, value=secret_value(body), if_match=if_match_version(if_match), now=now(), owner=owner
    )
    if ctx.converter:
        ctx.converter.poke()
    live = visible_sessions(secret, principal, ctx.sessions.live_sessions_for(secret.id, now=now()))
    return secret_public(secret, with_versions=True, live=live)


@router.patch(
    "/{name}",
    response_class=Response,
    responses={200: struct_answer(SecretPublic)},
    openapi_extra=struct_request(SecretUpdate),
)
def update_secret(
    name: NamePath, principal: CurrentPrincipal, ctx: ContextDep, body: UpdateBody, owner: OwnerQuery = None
) -> Response:
    patch = SecretPatch(
        description=body.description,
        expires_at=body_time(body.expires_at, "expires_at"),
        clear_expiry=body.clear_expiry,
        scopes=tuple(body.scopes) if body.scopes is not None else None,
    )
    updated = ctx.secrets.update(principal, name, patch, now=now(), owner=owner)
    return struct_response(secret_public(updated, with_versions=True))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_secret(
    name: NamePath,
    principal: CurrentPrincipal,
    ctx: ContextDep,
    owner: OwnerQuery = None,
    purge: Annotated[
        bool, Query(description="remove it for good at once, also from the recovery window")
    ] = False,
    force: Annotated[bool, Query(description="delete it although live sessions hold it")] = False,
) -> Response:
    """Delete a secret (needs `manage`): it goes into the recovery window (GET /api/v1/deleted-secrets),
    hidden everywhere and restorable until its `purge_at`; with `purge=true`, removed for good at once.
    A secret that live sessions hold is a 409 `secret_in_use` naming them, unless `force=true`."""
    ctx.deletion.delete(principal, name, now=now(), owner=owner, purge=purge, force=force)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/restore", response_class=Response, responses={200: struct_answer(SecretPublic)})
def restore_secret(
    name: NamePath, principal: CurrentPrincipal, ctx: ContextDep, owner: OwnerQuery = None
) -> Response:
    """Bring a secret back from the recovery window with its versions and grants (needs `manage`)."""
    secret = ctx.deletion.restore(principal, name, now=now(), owner=owner)
    return struct_response(
        secret_public(secret, with_versions=True), headers={"ETag": etag(secret.current_version)}
    )


@deleted_router.get("", response_class=Response, responses={200: struct_answer(DeletedSecrets)})
def list_deleted_secrets(principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    """The secrets in their recovery window that you own or manage, with when each is removed for good."""
    found = ctx.deletion.deleted(principal, now=now())
    return struct_response(DeletedSecrets(items=[deleted_secret_public(s) for s in found]))


@router.get("/{name}/grants", response_class=Response, responses={200: struct_answer(GrantPublic, many=True)})
def list_grants(
    name: NamePath, principal: CurrentPrincipal, ctx: ContextDep, owner: OwnerQuery = None
) -> Response:
    return struct_response([grant_public(g) for g in ctx.sharing.grants(principal, name, owner=owner)])


@router.post(
    "/{name}/grants",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: struct_answer(GrantPublic, many=True)},
    openapi_extra=struct_request(GrantIn),
)
def share_secret(
    name: NamePath, principal: CurrentPrincipal, ctx: ContextDep, body: GrantBody, owner: OwnerQuery = None
) -> Response:
    """Grant a user or a group `use`, `write` or `manage` (needs `manage`)."""
    grants = ctx.sharing.share(
        principal, name, owner=owner, grantee=_grantee(body), level=body.level, now=now()
    )
    return struct_response([grant_public(g) for g in grants], status_code=status.HTTP_201_CREATED)


@router.delete(
    "/{name}/grants/{grantee_type}/{grantee}",
    response_class=Response,
    responses={200: struct_answer(UnshareOut)},
)
def unshare_secret(
    name: NamePath,
    grantee_type: GranteeTypePath,
    grantee: GranteePath,
    principal: CurrentPrincipal,
    ctx: ContextDep,
    owner: OwnerQuery = None,
) -> Response:
    """Revoke a grant: every later launch is refused; live sessions keep what they got and are listed."""
    if grantee_type not in ("user", "group"):
        raise BadRequest("grantee type is user or group", code="invalid_grantee", field="grantee_type")
    if grantee_type == "user" and not is_valid_user_name(grantee):
        raise NotFound("no such grant")  # no user has that name (the path's pattern covers groups' too)
    live = ctx.sharing.unshare(
        principal, name, owner=owner, grantee=Grantee(kind=grantee_type, name=grantee[:128]), now=now()
    )
    return struct_response(UnshareOut(live_sessions=[mounting_session(s) for s in live]))
