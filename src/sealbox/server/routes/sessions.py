"""/api/v1/sessions: bring chosen secrets into a session or job, by a one-time session credential."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from sealbox.domain.sessions import Mapping
from sealbox.errors import BadRequest
from sealbox.protocol.sessions import PUBLIC_KEY_RE
from sealbox.server.bodies import optional_struct_body, struct_body
from sealbox.server.deps import ContextDep, CurrentPrincipal, now
from sealbox.server.openapi import error_answers, struct_answer, struct_request, struct_response
from sealbox.server.schemas import (
    CredentialCreate,
    FailureReport,
    RedeemRequest,
    RedeemResponse,
    RoleAnswer,
    RoleReport,
    SessionCreate,
    SessionCreated,
    SessionPublic,
)
from sealbox.server.schemas.params import SessionIdPath
from sealbox.server.schemas.sessions import redeem_response, session_created, session_public
from sealbox.services.heartbeats import heartbeat as record_heartbeat
from sealbox.services.session_roles import record_role
from sealbox.services.sessions import decode_public_key

router = APIRouter(
    prefix="/api/v1/sessions",
    tags=["sessions"],
    responses=error_answers(400, 401, 404, 422, 503),
)
# Bodies are sealbox.protocol Structs (server.bodies); each is declared after the route's authentication.
CreateBody = Annotated[SessionCreate, Depends(struct_body(SessionCreate))]
CredentialBody = Annotated[CredentialCreate | None, Depends(optional_struct_body(CredentialCreate))]
RedeemBody = Annotated[RedeemRequest, Depends(struct_body(RedeemRequest))]
FailureBody = Annotated[FailureReport, Depends(struct_body(FailureReport))]
RoleBody = Annotated[RoleReport, Depends(struct_body(RoleReport))]
_SESSION: dict[int | str, dict[str, Any]] = {200: struct_answer(SessionPublic)}
_CREATED: dict[int | str, dict[str, Any]] = {201: struct_answer(SessionCreated, "Created")}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses=_CREATED,
    openapi_extra=struct_request(SessionCreate),
)
def create_session(principal: CurrentPrincipal, ctx: ContextDep, body: CreateBody) -> Response:
    mappings = [Mapping(secret=s.name, field=s.field, file=s.file, env=s.env) for s in body.secrets]
    issued = ctx.sessions.create(
        principal,
        mappings=mappings,
        mount_path=body.mount_path,
        project=body.project,
        ttl_seconds=body.ttl_seconds,
        now=now(),
        credential_ttl_seconds=body.credential_ttl_seconds,
        heartbeat_seconds=body.heartbeat_seconds,
        allow_expired=body.allow_expired,
    )
    created = session_created(issued, now=issued.session.created_at, keeper_url=ctx.public_keeper_url)
    return struct_response(created, status_code=status.HTTP_201_CREATED)


@router.get("", response_class=Response, responses={200: struct_answer(SessionPublic, many=True)})
def list_sessions(
    principal: CurrentPrincipal,
    ctx: ContextDep,
    all: Annotated[bool, Query(description="include ended and expired sessions")] = False,
) -> Response:
    at = now()
    found = ctx.sessions.list_sessions(principal, live_only=not all, now=at)
    return struct_response([session_public(s, now=at) for s in found])


@router.get("/{session_id}", response_class=Response, responses=_SESSION)
def get_session(session_id: SessionIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    return struct_response(session_public(ctx.sessions.get(principal, session_id), now=now()))


@router.delete("/{session_id}", response_class=Response, responses=_SESSION)
def end_session(session_id: SessionIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    at = now()
    return struct_response(session_public(ctx.sessions.end(principal, session_id, now=at), now=at))


@router.post("/{session_id}/heartbeat", response_class=Response, responses=_SESSION)
def heartbeat(session_id: SessionIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    """The session side calls in (sessions created with `heartbeat_seconds`; owner only). The answer is the
    session: a `status` of ended or expired tells the side to remove what it holds."""
    at = now()
    return struct_response(session_public(record_heartbeat(ctx.db, principal, session_id, now=at), now=at))


@router.post(
    "/{session_id}/credentials",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses=_CREATED,
    openapi_extra=struct_request(CredentialCreate, required=False),
)
def new_credential(
    session_id: SessionIdPath, principal: CurrentPrincipal, ctx: ContextDep, body: CredentialBody
) -> Response:
    """A fresh one-time credential for a live session (to deliver replaced values, or to reissue one for a
    pod that did not start in time); the body may ask for a longer lifetime (60-900 s)."""
    at = now()
    issued = ctx.sessions.new_credential(
        principal,
        session_id[:64],
        now=at,
        credential_ttl_seconds=body.credential_ttl_seconds if body is not None else None,
    )
    created = session_created(issued, now=at, keeper_url=ctx.public_keeper_url)
    return struct_response(created, status_code=status.HTTP_201_CREATED)


@router.post(
    "/{session_id}/failures",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    openapi_extra=struct_request(FailureReport),
)
def report_failure(
    session_id: SessionIdPath, request: Request, ctx: ContextDep, body: FailureBody
) -> Response:
    """The session side reports a session that failed after redemption (for the audit trail)."""
    client = request.client.host if request.client else None
    ctx.sessions.report_failure(
        session_id=session_id[:64], credential=body.credential, code=body.code, client_addr=client, now=now()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{session_id}/roles",
    response_class=Response,
    responses={200: struct_answer(RoleAnswer)},
    openapi_extra=struct_request(RoleReport),
)
def report_role(session_id: SessionIdPath, request: Request, ctx: ContextDep, body: RoleBody) -> Response:
    """The session side is about to assume an aws-role secret's role: recorded first, then named for STS."""
    client = request.client.host if request.client else None
    names = record_role(
        ctx.sessions.db,
        session_id=session_id[:64],
        credential=body.credential,
        secret=body.secret,
        role_arn=body.role_arn,
        duration_seconds=body.duration_seconds,
        client_addr=client,
        now=now(),
    )
    answer = RoleAnswer(role_session_name=names.role_session_name, source_identity=names.source_identity)
    return struct_response(answer)


@router.post(
    "/{session_id}/redeem",
    response_class=Response,
    responses={200: struct_answer(RedeemResponse)},
    openapi_extra=struct_request(RedeemRequest),
)
def redeem(session_id: SessionIdPath, request: Request, ctx: ContextDep, body: RedeemBody) -> Response:
    """Spend a session credential (no bearer token: the credential is the authority), once."""
    client = request.client.host if request.client else None
    if not PUBLIC_KEY_RE.fullmatch(body.public_key):  # as the OpenAPI document states it
        raise BadRequest(
            "public_key must be 32 bytes (X25519), base64", code="invalid_public_key", field="public_key"
        )
    result = ctx.sessions.redeem(
        session_id=session_id[:64],
        credential=body.credential,
        session_public_key=decode_public_key(body.public_key),
        client_addr=client,
        now=now(),
    )
    return struct_response(redeem_response(result, keeper_url=ctx.public_keeper_url))
