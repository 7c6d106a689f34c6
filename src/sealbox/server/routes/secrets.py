"""/api/v1/secrets: create, list, show, replace, update, delete, share. No route returns a value.

A secret shared with me is addressed with `?owner=<its owner>`; without it, a name is my own.
"""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import APIRouter, Response, status

from sealbox.domain.names import is_valid_user_name
from sealbox.domain.secrets import SecretPatch
from sealbox.errors import BadRequest, NotFound
from sealbox.server import hot
from sealbox.server.deps import ContextDep, CurrentPrincipal, now
from sealbox.server.schemas import (
    ErrorBody,
    GrantIn,
    GrantPublic,
    MountingSession,
    SecretCreate,
    SecretPage,
    SecretPublic,
    SecretReplace,
    SecretUpdate,
    SecretValue,
    UnshareOut,
)
from sealbox.server.schemas.fields import BASE64_RE
from sealbox.server.schemas.params import (
    GranteePath,
    GranteeTypePath,
    IfMatch,
    OwnerQuery,
    Prefix,
    SecretNamePath,
    SecretsCursor,
    SecretsLimit,
)
from sealbox.services import secrets as secret_service
from sealbox.services.sharing import Grantee

router = APIRouter(
    prefix="/api/v1/secrets",
    tags=["secrets"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
        413: {"model": ErrorBody},
        422: {"model": ErrorBody},
        429: {"model": ErrorBody},
    },
)
_IF_MATCH = re.compile(r'(?:W/)?"?([0-9]{1,9})"?')
NamePath = SecretNamePath


def _value(body: SecretValue) -> secret_service.SecretValue:
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


def _etag(version: int) -> str:
    return f'"{version}"'


def _grantee(body: GrantIn) -> Grantee:
    if (body.user is None) == (body.group is None):
        raise BadRequest("give exactly one of user or group", code="invalid_grantee", field="user")
    return Grantee(kind="user", name=body.user) if body.user else Grantee(kind="group", name=str(body.group))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SecretPublic)
def create_secret(
    body: SecretCreate, principal: CurrentPrincipal, ctx: ContextDep, response: Response
) -> SecretPublic:
    secret = ctx.secrets.create(
        principal,
        name=body.name,
        kind=body.kind,
        value=_value(body),
        description=body.description,
        expires_at=body.expires_at,
        now=now(),
        project=body.project,
        scopes=tuple(body.scopes),
    )
    if ctx.converter:
        ctx.converter.poke()
    response.headers["Location"] = f"/api/v1/secrets/{secret.name}"
    response.headers["ETag"] = _etag(secret.current_version)
    return SecretPublic.of(secret, with_versions=True)


# The reads are served by server/hot.py ahead of FastAPI; these routes define them in the OpenAPI document
# and answer what hot.py passes on (parameters FastAPI must validate), through the same functions.
# Inline on the event loop (async def): a few short indexed queries cost less than a threadpool hop.
@router.get("", response_model=SecretPage)
async def list_secrets(
    principal: CurrentPrincipal,
    ctx: ContextDep,
    limit: SecretsLimit = 100,
    cursor: SecretsCursor = None,
    prefix: Prefix = None,
) -> Response:
    """My secrets and those shared with me (as `owner/name`, with my level), by owner then name."""
    body = hot.page_answer(ctx, principal, cursor=cursor, limit=limit, prefix=prefix)
    return Response(body, media_type="application/json")


@router.get("/{name}", response_model=SecretPublic)
async def get_secret(
    name: NamePath, principal: CurrentPrincipal, ctx: ContextDep, owner: OwnerQuery = None
) -> Response:
    body, tag = hot.secret_answer(ctx, principal, name, owner)
    return Response(body, media_type="application/json", headers={"ETag": tag})


@router.put("/{name}/value", response_model=SecretPublic)
def replace_value(
    name: NamePath,
    body: SecretReplace,
    principal: CurrentPrincipal,
    ctx: ContextDep,
    response: Response,
    if_match: IfMatch = None,
    owner: OwnerQuery = None,
) -> SecretPublic:
    expected: int | None = None
    if if_match is not None and if_match.strip() != "*":
        match = _IF_MATCH.fullmatch(if_match.strip())
        if match is None:
            raise BadRequest(
                'If-Match must be a version number such as "3"', code="invalid_if_match", field="If-Match"
            )
        expected = int(match.group(1))
    secret = ctx.secrets.replace(
        principal, name, value=_value(body), if_match=expected, now=now(), owner=owner
    )
    if ctx.converter:
        ctx.converter.poke()
    response.headers["ETag"] = _etag(secret.current_version)
    return SecretPublic.of(secret, with_versions=True)


@router.patch("/{name}", response_model=SecretPublic)
def update_secret(
    name: NamePath, body: SecretUpdate, principal: CurrentPrincipal, ctx: ContextDep, owner: OwnerQuery = None
) -> SecretPublic:
    patch = SecretPatch(
        description=body.description,
        expires_at=body.expires_at,
        clear_expiry=body.clear_expiry,
        scopes=tuple(body.scopes) if body.scopes is not None else None,
    )
    return SecretPublic.of(
        ctx.secrets.update(principal, name, patch, now=now(), owner=owner), with_versions=True
    )


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_secret(
    name: NamePath, principal: CurrentPrincipal, ctx: ContextDep, owner: OwnerQuery = None
) -> Response:
    ctx.secrets.delete(principal, name, now=now(), owner=owner)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/grants", response_model=list[GrantPublic])
def list_grants(
    name: NamePath, principal: CurrentPrincipal, ctx: ContextDep, owner: OwnerQuery = None
) -> list[GrantPublic]:
    return [GrantPublic.of(g) for g in ctx.sharing.grants(principal, name, owner=owner)]


@router.post("/{name}/grants", status_code=status.HTTP_201_CREATED, response_model=list[GrantPublic])
def share_secret(
    name: NamePath, body: GrantIn, principal: CurrentPrincipal, ctx: ContextDep, owner: OwnerQuery = None
) -> list[GrantPublic]:
    """Grant a user or a group `use`, `write` or `manage` (needs `manage`)."""
    grants = ctx.sharing.share(
        principal, name, owner=owner, grantee=_grantee(body), level=body.level, now=now()
    )
    return [GrantPublic.of(g) for g in grants]


@router.delete("/{name}/grants/{grantee_type}/{grantee}", response_model=UnshareOut)
def unshare_secret(
    name: NamePath,
    grantee_type: GranteeTypePath,
    grantee: GranteePath,
    principal: CurrentPrincipal,
    ctx: ContextDep,
    owner: OwnerQuery = None,
) -> UnshareOut:
    """Revoke a grant: every later launch is refused; live sessions keep what they got and are listed."""
    if grantee_type not in ("user", "group"):
        raise BadRequest("grantee type is user or group", code="invalid_grantee", field="grantee_type")
    if grantee_type == "user" and not is_valid_user_name(grantee):
        raise NotFound("no such grant")  # no user has that name (the path's pattern covers groups' too)
    live = ctx.sharing.unshare(
        principal, name, owner=owner, grantee=Grantee(kind=grantee_type, name=grantee[:128]), now=now()
    )
    return UnshareOut(live_sessions=[MountingSession(**s) for s in live])
