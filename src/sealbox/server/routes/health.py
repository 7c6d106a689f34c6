"""GET /healthz: whether the database answers reads and takes writes, and whether the keeper answers.

The status code follows reads: 200 while the database answers them (`status` "ok", or "degraded" when
writes fail or the keeper is down: reads, and launches or writes, still work), 503 only when it does
not. A full disk therefore makes a replica "degraded", not unready: taking every replica out of a load
balancer because writes fail would stop the reads too, and restarting it would not free the disk.

GET /readyz: whether this replica should take traffic: the database answers and the schema is at this
server's newest migration, or ahead of it: 200, else 503 naming the parts that fail (`failed`). Ahead
is ready because a newer release's migrations only add (docs/operations.md "Upgrades"): during a
rolling upgrade this replica keeps serving beside the newer ones (it would not start again), and a
balancer that dropped every older replica the moment the first newer one migrated would lose their
capacity at once. The keeper is reported
(`keeper`, and `status` degraded) but does not make a replica unready: a dead keeper stops launches,
never reads or writes, and an unready replica would take no reads or writes either. The Helm chart
and kustomize base use it for readiness, and a TCP check for liveness: /healthz answers 503 while the
database is down, and restarting replicas would not bring the database back.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from sealbox.errors import Unavailable
from sealbox.protocol.health_api import Health, Ready
from sealbox.server.deps import ContextDep
from sealbox.server.openapi import struct_answer, struct_response

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_class=Response,
    responses={200: struct_answer(Health), 503: struct_answer(Health, "Service Unavailable")},
)
def healthz(ctx: ContextDep) -> Response:
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
    return struct_response(body, status_code=200 if readable else 503)


@router.get(
    "/readyz",
    response_class=Response,
    responses={200: struct_answer(Ready), 503: struct_answer(Ready, "Service Unavailable")},
)
def readyz(ctx: ContextDep) -> Response:
    try:
        migrations = ctx.db.schema_state()
        database = "ok"
    except Unavailable:
        database, migrations = "unavailable", "unknown"
    try:
        ctx.keeper.health()
        keeper = "ok"
    except Unavailable:
        keeper = "unavailable"
    failed = [
        part
        for part, state in (("database", database), ("migrations", migrations))
        if state not in ("ok", "ahead")
    ]
    status = "unready" if failed else "ok" if keeper == "ok" else "degraded"
    body = Ready(status=status, failed=failed, database=database, keeper=keeper, migrations=migrations)
    return struct_response(body, status_code=503 if failed else 200)
