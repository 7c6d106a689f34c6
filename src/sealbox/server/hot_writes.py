"""The hot writes, one handler each: create a secret (POST /api/v1/secrets) and replace its value
(PUT /api/v1/secrets/{name}/value). Imports, rotations and pipelines write hundreds of secrets at once.

`WriteFront` answers them ahead of FastAPI's routing, dependency solving and exception middleware, as
server/hot.py does for the reads: inside the guard, the denial audit and the OPTIONS middleware, so that
limits, request ids, security headers, metrics and denial records are the same. The routes stay
FastAPI's (the OpenAPI document, 405s with `Allow`, OPTIONS), and their templates label the metrics.

What the route did, this does in the same order and with the same renderings: the body is decoded into
the same protocol Struct (server/bodies.py); the token is checked (a 401 before anything about the
body's content), then the same service call (services/secrets.py) writes the change and its audit record
in one transaction, in the threadpool, as FastAPI ran the route. Any request whose shape is not plainly
valid (no JSON body, a bad path or query parameter or header) is handed to FastAPI unchanged, with its
body replayed, before anything was checked or written: its refusals stay FastAPI's, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import msgspec
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealbox.domain.principals import Principal
from sealbox.errors import ServiceError
from sealbox.server.bodies import decode_body
from sealbox.server.context import AppContext
from sealbox.server.errors import service_error_parts, validation_error_parts
from sealbox.server.routes.secrets import created_secret, replaced_secret
from sealbox.server.schemas import SecretCreate, SecretReplace
from sealbox.server.schemas.params import IfMatch, OwnerQuery, SecretNamePath
from sealbox.server.schemas.secrets import secret_public
from sealbox.store.unit_of_work import UnitOfWork

_encode = msgspec.json.Encoder().encode
_JSON = (b"content-type", b"application/json")
CREATE_PATH = "/api/v1/secrets"
REPLACE_TEMPLATE = "/api/v1/secrets/{name}/value"
_REPLACE = re.compile(r"/api/v1/secrets/([^/]+)/value")  # Starlette's `{name}`: one segment
_NAME = TypeAdapter(SecretNamePath)
_OWNER = TypeAdapter(OwnerQuery)
_IF_MATCH = TypeAdapter(IfMatch)

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


class _Plain(Exception):
    """The request is not plainly valid: FastAPI answers it."""


def _headers(scope: Scope, *names: bytes) -> dict[bytes, str]:
    """The first value of each of `names` that the request carries."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key in names and key not in found:
            found[key] = value.decode("latin-1")
    return found


def _owner(scope: Scope) -> str | None:
    """`?owner=` as FastAPI reads it (the last one given counts, others are ignored), or _Plain."""
    owner: str | None = None
    raw: bytes = scope.get("query_string", b"")
    if raw:
        owner = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)).get("owner")
    if owner is None:
        return None
    try:
        checked: str | None = _OWNER.validate_python(owner)
    except ValidationError:
        raise _Plain() from None
    return checked


class WriteFront:
    """POST /api/v1/secrets and PUT /api/v1/secrets/{name}/value, answered here; everything else goes on."""

    def __init__(
        self, app: ASGIApp, *, ctx: AppContext, routes_of: FastAPI, known_fields: frozenset[str]
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.routes_of = routes_of
        self.known_fields = known_fields
        self.proxy_header = ctx.authenticator.settings.proxy_user_header.encode("latin-1")
        self._routes: dict[str, BaseRoute] | None = None

    def _route(self, method: str, template: str) -> BaseRoute | None:
        """The app's own route for the template (found once): the metrics and the denials read it."""
        if self._routes is None:
            self._routes = {
                f"{m} {r.path}": r
                for r in _app_routes(self.routes_of)
                if isinstance(r, APIRoute) and r.path in (CREATE_PATH, REPLACE_TEMPLATE)
                for m in r.methods or ()
            }
        return self._routes.get(f"{method} {template}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "POST" and scope["path"] == CREATE_PATH:
                await self._write(scope, receive, send, CREATE_PATH, None)
                return
            if method == "PUT" and (found := _REPLACE.fullmatch(scope["path"])) is not None:
                await self._write(scope, receive, send, REPLACE_TEMPLATE, found[1])
                return
        await self.app(scope, receive, send)

    async def _write(
        self, scope: Scope, receive: Receive, send: Send, template: str, name: str | None
    ) -> None:
        route = self._route(scope["method"], template)
        if route is None:  # pragma: no cover -- the app always has both routes
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # as routing would
        scope["endpoint"] = getattr(route, "endpoint", None)
        scope["path_params"] = {"name": name} if name is not None else {}
        try:
            body = await _body(receive)
        except HTTPException as exc:  # the guard's limits, raised from `receive`: FastAPI's order decides
            await self.app(scope, _failing(exc), send)  # (a 401 before a 413 for a caller without a token)
            return
        if body is None:  # the client went away: nothing to answer, nothing written
            return
        headers = _headers(scope, b"authorization", b"content-type", b"if-match", self.proxy_header)
        try:
            work = self._work(scope, body, headers, name)
        except (_Plain, RequestValidationError):
            await self.app(scope, _replay(body, receive), send)
            return
        await _answer(send, await run_in_threadpool(self._run, scope, headers, work))

    def _work(
        self, scope: Scope, body: bytes, headers: dict[bytes, str], name: str | None
    ) -> Callable[[Principal], Answer]:
        """What the write will do, from a request checked as FastAPI would (nothing read or written)."""
        content_type = headers.get(b"content-type")
        if name is None:
            create = decode_body(body, SecretCreate, content_type)
            return lambda principal: self._create(principal, create)
        try:
            name = _NAME.validate_python(name)
            if_match = headers.get(b"if-match")
            if if_match is not None:
                if_match = _IF_MATCH.validate_python(if_match)
        except ValidationError:
            raise _Plain() from None
        owner = _owner(scope)
        replace = decode_body(body, SecretReplace, content_type)
        checked_name: str = name
        return lambda principal: self._replace(principal, checked_name, replace, if_match, owner)

    def _run(self, scope: Scope, headers: dict[bytes, str], work: Callable[[Principal], Answer]) -> Answer:
        """In the threadpool: who is calling, then the write; an error as the app's handlers render it."""
        proxied = headers.get(self.proxy_header)
        client = scope.get("client")
        header = self.ctx.authenticator.settings.proxy_user_header
        db = self.ctx.db
        try:
            # The token check reads only: on PostgreSQL without BEGIN and COMMIT (two round trips), as
            # the hot reads do it (`Database.read`); a failure is counted in a transaction of its own.
            with db.read(autocommit=not db.is_sqlite) as conn:
                principal = self.ctx.authenticator.authenticate_in(
                    UnitOfWork(conn),
                    authorization=headers.get(b"authorization"),
                    headers={header: proxied} if proxied else {},
                    client_addr=client[0] if client else None,
                    now=datetime.now(UTC),
                )
            return work(principal)
        except ServiceError as exc:
            status, body, extra = service_error_parts(exc)
            return (
                status,
                body,
                [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()],
            )
        except RequestValidationError as exc:
            status, body = validation_error_parts(exc, self.known_fields)
            return status, body, []

    def _create(self, principal: Principal, body: SecretCreate) -> Answer:
        secret = created_secret(self.ctx, principal, body)
        location = f"/api/v1/secrets/{secret.name}".encode("latin-1")
        headers = [(b"location", location), (b"etag", _etag(secret.current_version))]
        return 201, _encode(secret_public(secret, with_versions=True)), headers

    def _replace(
        self, principal: Principal, name: str, body: SecretReplace, if_match: str | None, owner: str | None
    ) -> Answer:
        answer = replaced_secret(self.ctx, principal, name, body, if_match=if_match, owner=owner)
        return 200, _encode(answer), [(b"etag", _etag(answer.current_version))]


def _app_routes(app: FastAPI) -> list[BaseRoute]:
    """The app's routes, those of included routers too (FastAPI >= 0.165 keeps those nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover -- an older FastAPI: app.routes is already flat
        return list(app.routes)
    return [context.original_route for context in iter_route_contexts(app.routes)]


def _etag(version: int) -> bytes:
    return f'"{version}"'.encode()


async def _body(receive: Receive) -> bytes | None:
    """The whole request body (the guard's `receive` enforces its size and time limits); None when the
    client went away before sending it all."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read already, then whatever the connection says next."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _failing(exc: HTTPException) -> Receive:
    """A `receive` that fails as the guard's did, for FastAPI's own reading of the body."""

    async def again() -> Message:
        raise exc

    return again


async def _answer(send: Send, answer: Answer) -> None:
    status, body, headers = answer
    headers.append(_JSON)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
