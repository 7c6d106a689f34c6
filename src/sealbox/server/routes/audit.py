"""GET /api/v1/audit: who did what to which secret, newest first; owners see their secrets, admins all."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sealbox.server.deps import ContextDep, CurrentPrincipal
from sealbox.server.openapi import error_answers, struct_answer, struct_response
from sealbox.server.schemas.audit import AuditPage, audit_record
from sealbox.server.schemas.params import AuditCursor, AuditLimit, AuditSecret, AuditSession, AuditSince
from sealbox.services.audit import list_records

router = APIRouter(
    prefix="/api/v1",
    tags=["audit"],
    responses=error_answers(400, 401, 404, 422),
)


@router.get("/audit", response_class=Response, responses={200: struct_answer(AuditPage)})
def audit(
    principal: CurrentPrincipal,
    ctx: ContextDep,
    secret: AuditSecret = None,
    session: AuditSession = None,
    since: AuditSince = None,
    cursor: AuditCursor = None,
    limit: AuditLimit = 100,
) -> Response:
    """`since` is RFC 3339 text; a time with no UTC equivalent in years 1-9999 (0001-01-01T00:00:00+01:00,
    9999-12-31T23:59:59-01:00) is the first or last instant there is."""
    rows = list_records(
        ctx.db,
        principal,
        secret=secret,
        session_id=session,
        since=since,
        cursor=cursor,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    page = AuditPage(items=[audit_record(i, e) for i, e in rows], next_cursor=rows[-1][0] if more else None)
    return struct_response(page)
