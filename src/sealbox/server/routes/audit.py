"""GET /api/v1/audit: who did what to which secret, newest first; owners see their secrets, admins all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from sealbox.errors import BadRequest
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


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest("since must be an ISO 8601 time", code="invalid_since", field="since") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@router.get("/audit", response_model=AuditPage)
def audit(
    principal: CurrentPrincipal,
    ctx: ContextDep,
    secret: Annotated[str | None, Query(max_length=200, description="name or owner/name")] = None,
    session: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=64, description="ISO 8601 time")] = None,
    cursor: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    rows = list_records(
        ctx.db,
        principal,
        secret=secret,
        session_id=session,
        since=_since(since),
        cursor=cursor,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(items=[AuditRecord.of(i, e) for i, e in rows], next_cursor=rows[-1][0] if more else None)
