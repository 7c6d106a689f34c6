"""GET /api/v1/audit: who did what to which secret, newest first; owners see their secrets, admins all."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from sealbox.server.deps import ContextDep, CurrentPrincipal
from sealbox.server.schemas import AuditPage, AuditRecord, ErrorBody
from sealbox.services.audit import list_records

router = APIRouter(
    prefix="/api/v1",
    tags=["audit"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        404: {"model": ErrorBody},
        422: {"model": ErrorBody},
    },
)


@router.get("/audit", response_model=AuditPage)
def audit(
    principal: CurrentPrincipal,
    ctx: ContextDep,
    secret: Annotated[str | None, Query(max_length=200, description="name or owner/name")] = None,
    session: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    cursor: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    rows = list_records(
        ctx.db, principal, secret=secret, session_id=session, since=since, cursor=cursor, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(items=[AuditRecord.of(i, e) for i, e in rows], next_cursor=rows[-1][0] if more else None)
