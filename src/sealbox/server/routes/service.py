"""Service accounts: platform services fetch a secret on behalf of a user who may use it.

A fetch is a launch like any other: the service gets a one-time credential, redeems it, and
assembles the value itself from the server's half and the keeper's half (`sealbox.Client.fetch_secret`).
Person tokens are refused here: a person brings values into sessions, never reads them through the API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from sealbox.domain.principals import Purposes
from sealbox.domain.sessions import DEFAULT_MOUNT_PATH, DEFAULT_TTL_SECONDS, Mapping
from sealbox.server.bodies import struct_body
from sealbox.server.deps import AdminPrincipal, ContextDep, CurrentPrincipal, now
from sealbox.server.openapi import error_answers, struct_answer, struct_request, struct_response
from sealbox.server.schemas import (
    ServiceAccountCreate,
    ServiceFetchIn,
    ServiceUsableSecret,
    SessionCreated,
)
from sealbox.server.schemas.accounts import UserCreated, user_public
from sealbox.server.schemas.params import SessionIdPath, UserPath
from sealbox.server.schemas.sessions import service_usable_secret, session_created
from sealbox.services import service_sessions, tokens, users

router = APIRouter(
    prefix="/api/v1",
    tags=["service accounts"],
    responses=error_answers(400, 401, 403, 404, 409, 422, 503),
)
SERVICE_FETCH_TTL_SECONDS = 60
# Bodies are sealbox.protocol Structs (server.bodies); each is declared after the route's authentication.
ServiceFetchBody = Annotated[ServiceFetchIn, Depends(struct_body(ServiceFetchIn))]
AccountBody = Annotated[ServiceAccountCreate, Depends(struct_body(ServiceAccountCreate))]


@router.post(
    "/service-accounts",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: struct_answer(UserCreated)},
    openapi_extra=struct_request(ServiceAccountCreate),
)
def create_service_account(principal: AdminPrincipal, ctx: ContextDep, body: AccountBody) -> Response:
    """An admin creates a service account and names what it may fetch (kinds and/or secret names)."""
    at = now()
    account = users.create_user(
        ctx.db,
        ctx.keys.master,
        name=body.name,
        is_admin=False,
        now=at,
        requested_by=principal,
        kind="service",
        purposes=Purposes(kinds=tuple(body.kinds), names=tuple(body.names)),
    )
    issued = tokens.issue(
        ctx.db, account, name="service token", expires_at=None, now=at, requested_by=principal
    )
    created = UserCreated(user=user_public(account), token=issued.value)
    return struct_response(created, status_code=status.HTTP_201_CREATED)


@router.post(
    "/service/sessions",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: struct_answer(SessionCreated, "Created")},
    openapi_extra=struct_request(ServiceFetchIn),
)
def service_fetch(principal: CurrentPrincipal, ctx: ContextDep, body: ServiceFetchBody) -> Response:
    """A service account asks for a one-time credential to fetch secrets on behalf of `on_behalf_of`.

    With `mount_path`, a `file` or an `env` on any secret, it is a session for the user instead (a notebook
    server a hub starts): those mappings, that mount path, `ttl_seconds` (default 12 h), listed among the
    user's sessions; the service ends it with `DELETE /api/v1/service/sessions/{id}`.
    """
    acting_for = service_sessions.acting_for(ctx.db, principal, body.on_behalf_of)
    session_mode = body.mount_path is not None or any(
        s.file is not None or s.env is not None for s in body.secrets
    )
    if session_mode:
        mappings = [
            Mapping(
                secret=s.name,
                field=s.field,
                file=s.file if s.file is not None or s.env is not None else s.name.rpartition("/")[2],
                env=s.env,
            )
            for s in body.secrets
        ]
        mount_path = body.mount_path or DEFAULT_MOUNT_PATH
        ttl = body.ttl_seconds if body.ttl_seconds is not None else DEFAULT_TTL_SECONDS
        credential_ttl = body.credential_ttl_seconds  # a pod's init container may start minutes later
    else:
        mappings = [Mapping(secret=s.name, field=s.field, file=f"f{i}") for i, s in enumerate(body.secrets)]
        mount_path, ttl, credential_ttl = "/service-fetch", SERVICE_FETCH_TTL_SECONDS, None
    issued = ctx.sessions.create(
        principal,
        mappings=mappings,
        mount_path=mount_path,
        project=body.project,
        ttl_seconds=ttl,
        now=now(),
        acting_for=acting_for,
        credential_ttl_seconds=credential_ttl,
    )
    created = session_created(issued, now=issued.session.created_at, keeper_url=ctx.public_keeper_url)
    return struct_response(created, status_code=status.HTTP_201_CREATED)


@router.delete("/service/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def service_end_session(session_id: SessionIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    """A service account ends a session it started for a user (the user's server stopped)."""
    service_sessions.end_session(ctx.db, principal, session_id, now=now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/service/users/{user}/secrets",
    response_class=Response,
    responses={200: struct_answer(ServiceUsableSecret, many=True)},
)
def service_usable_secrets(user: UserPath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    """The secrets `user` may bring into a session through this service: own and shared, within the
    service's purposes. Names, kinds and descriptions only; never a value."""
    found = service_sessions.usable_secrets(ctx.db, ctx.secrets, principal, user)
    return struct_response([service_usable_secret(s, for_user=user) for s in found])
