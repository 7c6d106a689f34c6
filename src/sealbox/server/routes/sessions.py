"""/api/v1/sessions: bring chosen secrets into a session or job, by a one-time session credential."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from sealbox.domain.sessions import Mapping
from sealbox.errors import BadRequest
from sealbox.server.deps import ContextDep, CurrentPrincipal, now
from sealbox.server.schemas import (
    CredentialCreate,
    ErrorBody,
    FailureIn,
    RedeemedItemPublic,
    RedeemIn,
    RedeemOut,
    SessionCreate,
    SessionCreated,
    SessionPublic,
)
from sealbox.server.schemas.fields import PUBLIC_KEY_RE
from sealbox.server.schemas.params import SessionIdPath
from sealbox.services.heartbeats import heartbeat as record_heartbeat
from sealbox.services.sessions import decode_public_key

router = APIRouter(
    prefix="/api/v1/sessions",
    tags=["sessions"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        404: {"model": ErrorBody},
        422: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionCreated)
def create_session(body: SessionCreate, principal: CurrentPrincipal, ctx: ContextDep) -> SessionCreated:
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
    )
    return SessionCreated(
        session=SessionPublic.of(issued.session, now=issued.session.created_at),
        session_credential=issued.value,
        credential_expires_at=issued.expires_at,
        keeper_url=ctx.public_keeper_url,
    )


@router.get("", response_model=list[SessionPublic])
def list_sessions(
    principal: CurrentPrincipal,
    ctx: ContextDep,
    all: Annotated[bool, Query(description="include ended and expired sessions")] = False,
) -> list[SessionPublic]:
    at = now()
    return [
        SessionPublic.of(s, now=at) for s in ctx.sessions.list_sessions(principal, live_only=not all, now=at)
    ]


@router.get("/{session_id}", response_model=SessionPublic)
def get_session(session_id: SessionIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> SessionPublic:
    return SessionPublic.of(ctx.sessions.get(principal, session_id), now=now())


@router.delete("/{session_id}", response_model=SessionPublic)
def end_session(session_id: SessionIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> SessionPublic:
    at = now()
    return SessionPublic.of(ctx.sessions.end(principal, session_id, now=at), now=at)


@router.post("/{session_id}/heartbeat", response_model=SessionPublic)
def heartbeat(session_id: SessionIdPath, principal: CurrentPrincipal, ctx: ContextDep) -> SessionPublic:
    """The session side calls in (sessions created with `heartbeat_seconds`; owner only). The answer is the
    session: a `status` of ended or expired tells the side to remove what it holds."""
    at = now()
    return SessionPublic.of(record_heartbeat(ctx.db, principal, session_id, now=at), now=at)


@router.post("/{session_id}/credentials", status_code=status.HTTP_201_CREATED, response_model=SessionCreated)
def new_credential(
    session_id: SessionIdPath,
    principal: CurrentPrincipal,
    ctx: ContextDep,
    body: CredentialCreate | None = None,
) -> SessionCreated:
    """A fresh one-time credential for a live session (to deliver replaced values, or to reissue one for a
    pod that did not start in time); the body may ask for a longer lifetime (60-900 s)."""
    at = now()
    issued = ctx.sessions.new_credential(
        principal,
        session_id[:64],
        now=at,
        credential_ttl_seconds=body.credential_ttl_seconds if body is not None else None,
    )
    return SessionCreated(
        session=SessionPublic.of(issued.session, now=at),
        session_credential=issued.value,
        credential_expires_at=issued.expires_at,
        keeper_url=ctx.public_keeper_url,
    )


@router.post("/{session_id}/failures", status_code=status.HTTP_204_NO_CONTENT)
def report_failure(session_id: SessionIdPath, body: FailureIn, request: Request, ctx: ContextDep) -> Response:
    """The session side reports a launch that failed after redemption (for the audit trail)."""
    client = request.client.host if request.client else None
    ctx.sessions.report_failure(
        session_id=session_id[:64], credential=body.credential, code=body.code, client_addr=client, now=now()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{session_id}/redeem", response_model=RedeemOut)
def redeem(session_id: SessionIdPath, body: RedeemIn, request: Request, ctx: ContextDep) -> RedeemOut:
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
    return RedeemOut(
        session_id=result.session.id,
        mount_path=result.session.mount_path,
        sealed_key=base64.b64encode(result.sealed_key).decode(),
        ticket=result.ticket,
        keeper_url=ctx.public_keeper_url,
        items=[
            RedeemedItemPublic(
                name=i.secret.secret_name,
                owner=i.secret.owner_name,
                secret_id=i.secret.secret_id,
                owner_id=i.secret.owner_id,
                kind=i.secret.kind,
                field=i.secret.field,
                file=i.secret.file,
                env=i.secret.env,
                version=i.secret.version,
                outer=base64.b64encode(i.outer).decode(),
                wrapped_dek=base64.b64encode(i.wrapped_dek).decode(),
                scopes=list(i.scopes),
            )
            for i in result.items
        ],
    )
