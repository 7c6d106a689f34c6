"""GET /healthz: whether the database answers reads and takes writes, and whether the keeper answers.

The status code follows reads: 200 while the database answers them (`status` "ok", or "degraded" when
writes fail or the keeper is down: reads, and launches or writes, still work), 503 only when it does
not. A full disk therefore makes a replica "degraded", not unready: taking every replica out of a load
balancer because writes fail would stop the reads too, and restarting it would not free the disk. Use
this for readiness; for liveness, a TCP check (the Helm chart and kustomize base do so).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbox.errors import Unavailable
from sealbox.server.deps import ContextDep
from sealbox.server.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(ctx: ContextDep) -> JSONResponse:
    try:
        ctx.db.ping()
        database = "ok"
    except Unavailable:
        database = "unavailable"
    # A failed write of the last seconds, else a probe write that changes nothing (at most one every
    # few seconds, however often this is polled): Database.write_health.
    write = ctx.db.write_health() if database == "ok" else "database_unavailable"
    try:
        ctx.keeper.health()
        keeper = "ok"
    except Unavailable:
        keeper = "unavailable"
    readable = database == "ok"
    if not readable:
        status = "unavailable"
    elif write == "ok" and keeper == "ok":
        status = "ok"
    else:
        status = "degraded"
    body = Health(status=status, database=database, database_write=write, keeper=keeper)
    return JSONResponse(body.model_dump(), status_code=200 if readable else 503)
