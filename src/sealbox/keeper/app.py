"""The keeper's HTTP interface (unix socket by default): health, public key, outer-layer conversion, the
keeper's half of a session, and the steps of a keeper-key rotation. Bodies are the Structs of
sealbox.protocol.keeper, decoded and encoded with msgspec; a body that is not the expected message is
refused as a whole."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from sealbox.crypto.sealing import is_sealed_to_keeper, keeper_wrap, open_outer
from sealbox.crypto.wrapping import outer_context
from sealbox.domain import request_ids
from sealbox.errors import DecryptionError, KeeperRefused
from sealbox.keeper.key_admin import KeyAdmin
from sealbox.keeper.keys import KeeperKeys, KeyDirectory
from sealbox.keeper.sessions import SessionAuthority, audit_log
from sealbox.protocol.base import Message, NotJSON, ProtocolError, decode, encode
from sealbox.protocol.errors import ErrorBody
from sealbox.protocol.keeper import (
    MAX_ITEMS,
    Converted,
    ConvertRequest,
    ConvertResponse,
    KeeperHealth,
    KeeperKeyRequest,
    RewrapRequest,
    SessionOpenRequest,
)

log = logging.getLogger("sealbox.keeper")
MAX_CONVERT_ITEMS = MAX_ITEMS


def _answer(message: Message, status: int = 200) -> Response:
    return Response(encode(message), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _answer(ErrorBody(code=code, message=message), status)


_REQUEST_ID = request_ids.HEADER.lower().encode()


class RequestIds:
    """Each request's id, as the server's (domain/request_ids.py): the caller's own when it is a sane
    token (the server passes its request's), else a generated one; on the keeper's log lines and in
    the answer's `X-Request-ID`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == _REQUEST_ID), None)
        request_id = request_ids.accepted(given) or request_ids.generated()
        header = (_REQUEST_ID, request_id.encode())

        async def send_with_id(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        entered = request_ids.enter(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_ids.leave(entered)


def _convert_items(keys: KeeperKeys, request: ConvertRequest) -> ConvertResponse:
    wrap_kid = "wrap:" + keys.wrap.current_id.hex()
    results: list[Converted | None] = []
    for item in request.items:
        try:
            ctx = outer_context(secret_id=item.secret_id, version=item.version, owner_id=item.owner_id)
            if not is_sealed_to_keeper(item.outer):
                raise DecryptionError
            inner = open_outer(keys.private, keys.wrap, item.outer, ctx)
            results.append(Converted(outer=keeper_wrap(keys.wrap, inner, ctx), key_id=wrap_kid))
        except (DecryptionError, ValueError, TypeError):
            results.append(None)
    failed = results.count(None)
    if failed:
        log.warning("convert: %d of %d items refused", failed, len(results))
    return ConvertResponse(results=results)


def _key_step(key_admin: KeyAdmin, path: str, raw: bytes) -> Response:
    try:
        if path == "/v1/keys/rewrap":
            return _answer(key_admin.rewrap(decode(raw, RewrapRequest)))
        body = decode(raw, KeeperKeyRequest)
        step = key_admin.rotate if path == "/v1/keys/rotate" else key_admin.retire
        return _answer(step(body))
    except ProtocolError:
        return _error(400, "invalid_request", "expected a signed key-rotation request")
    except KeeperRefused as refused:
        audit_log.warning("key rotation step refused reason=%r", refused.reason)
        return _error(403, "keeper_refused", "the keeper refused this key-rotation step")


def create_keeper_app(
    directory: KeyDirectory, *, server_key_path: Path, on_shutdown: Callable[[], None] | None = None
) -> Starlette:
    authority = SessionAuthority(directory, server_key_path)
    key_admin = KeyAdmin(directory, server_key_path)

    async def healthz(_: Request) -> Response:
        keys = directory.keys
        return _answer(
            KeeperHealth(
                status="ok", key_id=keys.private.keys[0][0].hex(), wrap_key_id=keys.wrap.current_id.hex()
            )
        )

    async def public_key(_: Request) -> PlainTextResponse:
        return PlainTextResponse(directory.keys.private.public().to_text())

    async def convert(request: Request) -> Response:
        """HPKE-sealed outer layers in, wraps under the keeper's own key out; the server opens neither."""
        try:
            body = decode(await request.body(), ConvertRequest)
        except ProtocolError:
            return _error(400, "invalid_request", "expected {items: [...]} with at most 1000 items")
        return _answer(_convert_items(directory.keys, body))

    def open_session(raw: bytes) -> Response:
        try:
            try:
                body = decode(raw, SessionOpenRequest)
            except NotJSON:
                return _error(400, "invalid_request", "expected a JSON body")
            except ProtocolError:
                raise KeeperRefused(reason="malformed request") from None
            return _answer(authority.serve(body))
        except KeeperRefused as refused:
            audit_log.warning("launch refused reason=%r", refused.reason)
            if refused.integrity:
                return _error(422, "integrity_error", "a stored ciphertext failed its integrity check")
            return _error(403, "launch_refused", "the keeper refused this launch")

    async def session_route(request: Request) -> Response:
        return await run_in_threadpool(open_session, await request.body())

    async def key_route(request: Request) -> Response:
        return await run_in_threadpool(_key_step, key_admin, request.url.path, await request.body())

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            on_shutdown()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/healthz", healthz),
            Route("/public-key", public_key),
            Route("/v1/convert", convert, methods=["POST"]),
            Route("/v1/sessions", session_route, methods=["POST"]),
            Route("/v1/keys/rotate", key_route, methods=["POST"]),
            Route("/v1/keys/rewrap", key_route, methods=["POST"]),
            Route("/v1/keys/retire", key_route, methods=["POST"]),
            # The path before sessions were named so: a session side older than this keeper still opens.
            Route("/v1/launch", session_route, methods=["POST"]),
        ],
    )
    app.add_middleware(RequestIds)
    return app
