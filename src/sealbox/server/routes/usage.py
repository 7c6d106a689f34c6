"""/api/v1/secrets/{name}/usage and /api/v1/stale-secrets: who used a secret, which version, when and
through which share; what nobody used. Usage follows the access rule (services/usage.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from sealbox.domain.usage import MAX_STALE_DAYS
from sealbox.protocol.usage_answers import SecretUsagePublic, StaleSecrets
from sealbox.server.deps import ContextDep, CurrentPrincipal, now
from sealbox.server.openapi import error_answers, struct_answer, struct_response
from sealbox.server.schemas.params import OwnerQuery, SecretNamePath
from sealbox.server.schemas.usage import stale_public, usage_public
from sealbox.services.usage import MAX_USES_LISTED

router = APIRouter(prefix="/api/v1", tags=["usage"], responses=error_answers(400, 401, 404, 422, 429))


@router.get(
    "/secrets/{name}/usage", response_class=Response, responses={200: struct_answer(SecretUsagePublic)}
)
def secret_usage(
    name: SecretNamePath,
    principal: CurrentPrincipal,
    ctx: ContextDep,
    owner: OwnerQuery = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_USES_LISTED, description="sessions listed, newest use first")
    ] = 100,
) -> Response:
    """Which sessions received which version and when, who used it through which grant, when it was
    last used. Its owner and `manage` grantees see every use; a `use` or `write` grantee sees the uses
    of their own sessions (`complete` is false). A secret you cannot see is a 404."""
    return struct_response(
        usage_public(ctx.usage.usage(principal, name, owner=owner, now=now(), limit=limit))
    )


@router.get("/stale-secrets", response_class=Response, responses={200: struct_answer(StaleSecrets)})
def stale_secrets(
    principal: CurrentPrincipal,
    ctx: ContextDep,
    days: Annotated[int, Query(ge=1, le=MAX_STALE_DAYS, description="not used in this many days")] = 90,
) -> Response:
    """The secrets you own or manage that no session received in `days` days (and older than that), and
    their grants through which nobody ever received them."""
    return struct_response(stale_public(ctx.usage.stale(principal, days=days, now=now())))
