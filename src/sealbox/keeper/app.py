"""The keeper's HTTP interface (unix socket by default): health, public key, outer-layer conversion."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from sealbox.crypto.sealing import is_sealed_to_keeper, keeper_wrap, open_outer
from sealbox.crypto.wrapping import outer_context
from sealbox.errors import DecryptionError, KeeperRefused
from sealbox.keeper.keys import KeeperKeys
from sealbox.keeper.sessions import SessionAuthority, audit_log

log = logging.getLogger("sealbox.keeper")
MAX_CONVERT_ITEMS = 1000


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def create_keeper_app(
    keys: KeeperKeys, *, server_key_path: Path, on_shutdown: Callable[[], None] | None = None
) -> Starlette:
    wrap_kid = "wrap:" + keys.wrap.current_id.hex()
    authority = SessionAuthority(keys, server_key_path)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "key_id": keys.private.keys[0][0].hex(),
                "wrap_key_id": keys.wrap.current_id.hex(),
            }
        )

    async def public_key(_: Request) -> PlainTextResponse:
        return PlainTextResponse(keys.private.public().to_text())

    async def convert(request: Request) -> JSONResponse:
        """HPKE-sealed outer layers in, wraps under the keeper's own key out; the server opens neither."""
        try:
            body: Any = await request.json()
            items = body["items"]
            if not isinstance(items, list) or len(items) > MAX_CONVERT_ITEMS:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _error(400, "invalid_request", "expected {items: [...]} with at most 1000 items")
        results: list[dict[str, str] | None] = []
        failed = 0
        for item in items:
            try:
                ctx = outer_context(
                    secret_id=str(item["secret_id"]),
                    version=int(item["version"]),
                    owner_id=str(item["owner_id"]),
                )
                outer = base64.b64decode(item["outer"], validate=True)
                if not is_sealed_to_keeper(outer):
                    raise DecryptionError
                inner = open_outer(keys.private, keys.wrap, outer, ctx)
                wrapped = keeper_wrap(keys.wrap, inner, ctx)
                results.append({"outer": base64.b64encode(wrapped).decode(), "key_id": wrap_kid})
            except (DecryptionError, KeyError, ValueError, TypeError, binascii.Error):
                failed += 1
                results.append(None)
        if failed:
            log.warning("convert: %d of %d items refused", failed, len(items))
        return JSONResponse({"results": results})

    def open_session(request_body: Any) -> JSONResponse:
        try:
            return JSONResponse(authority.serve(request_body))
        except KeeperRefused as refused:
            audit_log.warning("launch refused reason=%r", refused.reason)
            if refused.integrity:
                return _error(422, "integrity_error", "a stored ciphertext failed its integrity check")
            return _error(403, "launch_refused", "the keeper refused this launch")

    async def session_route(request: Request) -> JSONResponse:
        try:
            body: Any = await request.json()
        except ValueError:
            return _error(400, "invalid_request", "expected a JSON body")
        return await run_in_threadpool(open_session, body)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            on_shutdown()

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/healthz", healthz),
            Route("/public-key", public_key),
            Route("/v1/convert", convert, methods=["POST"]),
            Route("/v1/sessions", session_route, methods=["POST"]),
            # The path before sessions were named so: a session side older than this keeper still opens.
            Route("/v1/launch", session_route, methods=["POST"]),
        ],
    )
