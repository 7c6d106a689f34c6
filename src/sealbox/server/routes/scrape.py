"""GET /metrics: the Prometheus text, for an admin's token or the scraper's own (`metrics_token_path`).

Protected by a bearer token rather than a second port: one port to publish, probe and firewall, and a
scraper that holds a token of its own, which lets it read the figures and nothing else. The token
file is read once at start; a request's token is compared by its SHA-256, in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from sealbox.errors import ConfigError, Unavailable
from sealbox.server.deps import ContextDep, get_admin, get_principal

router = APIRouter(tags=["health"], include_in_schema=False)


def token_digest(path: Path | None) -> bytes | None:
    """The SHA-256 of the scraper's token in `path` (None: no such token); ConfigError, one line, when
    the file cannot be read or holds no token."""
    if path is None:
        return None
    try:
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"the metrics token file {path} cannot be read") from None
    if len(token) < 16:
        raise ConfigError(f"the metrics token file {path} holds no token of at least 16 characters")
    return hashlib.sha256(token.encode()).digest()


def _scraper_token(request: Request, digest: bytes | None) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if digest is None or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), digest)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, ctx: ContextDep) -> Response:
    if ctx.metrics is None:
        raise Unavailable("metrics are not kept by this server")
    if not _scraper_token(request, ctx.metrics.token_digest):
        await get_admin(await get_principal(request))  # 401 without a token, 403 for a non-admin
    body = await run_in_threadpool(ctx.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
