"""GET /healthz: the database must answer; the keeper is reported (writes work without it)."""

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
    try:
        ctx.keeper.health()
        keeper = "ok"
    except Unavailable:
        keeper = "unavailable"
    healthy = database == "ok"
    body = Health(
        status="ok" if healthy and keeper == "ok" else ("degraded" if healthy else "unavailable"),
        database=database,
        keeper=keeper,
    )
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)
