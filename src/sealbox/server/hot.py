"""The hot reads, one handler each: one secret's metadata, the list of secrets, and /me.

These three are most of a data-science platform's traffic (every notebook start lists and reads). Each
is a plain ASGI endpoint, registered once as a route of the app ahead of FastAPI's own routes (so that
routing, 405s with `Allow` and OPTIONS know them like any other route), and reached directly by
`ReadFront` ahead of FastAPI's middleware: no dependency injection, no pydantic response validation.
The token check and the data are read in ONE unit of work (hand-written SQL underneath, store/raw.py)
and the body is encoded once, by msgspec from the same Struct the write routes answer with
(protocol.secret_answers.SecretPublic, SecretPage; protocol.account_answers.UserPublic for /me).

Query parameters are checked by pydantic `TypeAdapter`s of the `Annotated` aliases in schemas/params.py,
with FastAPI's semantics, as before: an unknown parameter is ignored, the last of a repeated one counts,
a bad value is a 422 whose body server/errors.py renders as for any other route, and authentication
comes first (no token: 401, whatever the parameters). `openapi_paths()` declares the three operations
in the OpenAPI document from the same parameter table and body types: nothing is declared twice.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from sqlalchemy.engine import Connection
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sealbox.domain.principals import Principal, User
from sealbox.errors import ServiceError
from sealbox.protocol.errors import ErrorBody
from sealbox.server.context import AppContext
from sealbox.server.errors import error_parts, schema_problem, service_error_parts
from sealbox.server.schemas.accounts import UserPublic, user_public
from sealbox.server.schemas.params import OwnerQuery, Prefix, SecretNamePath, SecretsCursor, SecretsLimit
from sealbox.server.schemas.secrets import SecretPage, SecretPublic, secret_public
from sealbox.server.schemas.secrets import secret_page as page_answer
from sealbox.services.secret_read import read_at_once
from sealbox.services.secrets import secret_page, secret_with_sessions
from sealbox.store.secret_read import SecretReadRepository
from sealbox.store.unit_of_work import UnitOfWork

_encode = msgspec.json.Encoder().encode
_JSON = (b"content-type", b"application/json")
API = "/api/v1"

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


def now() -> datetime:
    return datetime.now(UTC)


def etag(version: int) -> str:
    return f'"{version}"'


def user_body(user: User) -> bytes:
    """/me: the UserPublic Struct that UserCreated embeds too."""
    return _encode(user_public(user))


# --- parameters: checked and documented from one table ---------------------------------------------


def _description(alias: Any) -> str | None:
    """The `description` of the FastAPI `Query`/`Path` in an `Annotated` alias."""
    for meta in typing.get_args(alias)[1:]:
        if isinstance(meta, FieldInfo) and meta.description:
            return meta.description
    return None


@dataclass(frozen=True, slots=True)
class Param:
    """One query (or path) parameter: its rule is the pydantic alias's, its default FastAPI's was."""

    name: str
    alias: Any
    default: Any = None
    where: str = "query"
    adapter: TypeAdapter[Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "adapter", TypeAdapter(self.alias))

    def document(self) -> dict[str, Any]:
        schema: dict[str, Any] = {**self.adapter.json_schema(), "title": self.name.title()}
        schema.pop("anyOf", None)
        if self.default is not None:
            schema["default"] = self.default
        doc: dict[str, Any] = {"name": self.name, "in": self.where, "required": self.where == "path"}
        doc["schema"] = schema
        if description := _description(self.alias):
            doc["description"] = description
        return doc


_LIST_PARAMS = (
    Param("limit", SecretsLimit, default=100),
    Param("cursor", SecretsCursor),
    Param("prefix", Prefix),
)
_SECRET_PARAMS = (Param("owner", OwnerQuery),)
_NAME = Param("name", SecretNamePath, where="path")


def _query(scope: Scope, params: tuple[Param, ...]) -> tuple[dict[str, Any], list[dict[str, str | None]]]:
    """The parameters' values (defaults for those not given), and the problems, FastAPI's way."""
    raw: bytes = scope.get("query_string", b"")
    given = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) if raw else {}
    values: dict[str, Any] = {}
    problems: list[dict[str, str | None]] = []
    for param in params:
        text = given.get(param.name)
        if text is None:
            values[param.name] = param.default
            continue
        try:
            values[param.name] = param.adapter.validate_python(text)
        except ValidationError as invalid:
            problems += [{"field": param.name, "problem": schema_problem(e)} for e in invalid.errors()]
    return values, problems


# --- the handlers ----------------------------------------------------------------------------------


class _Read:
    """The shared part of the three: authenticate in the read transaction, answer or render an error.
    `at_once`, when given, may answer first from one statement run alone (services/secret_read.py);
    when it answers None the request takes the general path, in a read transaction of its own."""

    def __init__(
        self,
        ctx: AppContext,
        answer: Callable[[Scope, Principal, UnitOfWork], Answer],
        at_once: Callable[[Scope, Connection, str | None], Answer | None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.answer = answer
        self.at_once = at_once
        self.autocommit = not ctx.db.is_sqlite  # PostgreSQL: no BEGIN and COMMIT round trips for a read
        self.proxy_header = ctx.authenticator.settings.proxy_user_header.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization, proxied = self._headers(scope)
        try:
            answered = None
            if self.at_once is not None:
                with self.ctx.db.statement() as conn:
                    answered = self.at_once(scope, conn, authorization)
            if answered is None:
                with self.ctx.db.read(autocommit=self.autocommit) as conn:  # `db.reading()` without a layer
                    uow = UnitOfWork(conn)
                    principal = self._authenticated(scope, uow, authorization, proxied)
                    answered = self.answer(scope, principal, uow)
            status, body, headers = answered
        except ServiceError as exc:
            status, body, headers = _error(exc)
        headers.append(_JSON)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _headers(self, scope: Scope) -> tuple[str | None, str | None]:
        """(the first Authorization header, the first trusted-proxy user header)."""
        authorization: str | None = None
        proxied: str | None = None
        for key, value in scope["headers"]:
            if key == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif key == self.proxy_header and proxied is None:
                proxied = value.decode("latin-1")
        return authorization, proxied

    def _authenticated(
        self, scope: Scope, uow: UnitOfWork, authorization: str | None, proxied: str | None
    ) -> Principal:
        return self.ctx.authenticator.authenticate_in(
            uow,
            authorization=authorization,
            headers={self.ctx.authenticator.settings.proxy_user_header: proxied} if proxied else {},
            client_addr=_client(scope),
            now=now(),
        )


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _bearer(authorization: str | None) -> str | None:
    """The credential of `Bearer <credential>`, as services/identity.py reads it."""
    scheme, _, presented = (authorization or "").partition(" ")
    presented = presented.strip()
    return presented if scheme.lower() == "bearer" and presented else None


def _invalid(problems: list[dict[str, str | None]]) -> Answer:
    status, body = error_parts(422, "invalid_request", "the request does not match the schema", problems)
    return status, body, []


def _error(exc: ServiceError) -> Answer:
    status, body, headers = service_error_parts(exc)
    return status, body, [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def read_routes(ctx: AppContext) -> list[Route]:
    """The three reads as routes of the app, GET only (no implicit HEAD: a HEAD is a 405, as before)."""

    def secret(scope: Scope, principal: Principal, uow: UnitOfWork) -> Answer:
        query, problems = _query(scope, _SECRET_PARAMS)
        if problems:
            return _invalid(problems)
        name: str = scope["path_params"]["name"]
        found, live = secret_with_sessions(uow, principal, name, owner=query["owner"], now=now())
        body = _encode(secret_public(found, with_versions=True, live=live))
        return 200, body, [(b"etag", etag(found.current_version).encode())]

    def secret_at_once(scope: Scope, conn: Connection, authorization: str | None) -> Answer | None:
        bearer = _bearer(authorization)
        if bearer is None:
            return None
        query, problems = _query(scope, _SECRET_PARAMS)
        if problems:
            return None
        found = read_at_once(
            SecretReadRepository(conn),
            bearer,
            scope["path_params"]["name"],
            owner=query["owner"],
            now=now(),
            client_addr=_client(scope),
        )
        if found is None:
            return None
        _, secret, live = found
        body = _encode(secret_public(secret, with_versions=True, live=live))
        return 200, body, [(b"etag", etag(secret.current_version).encode())]

    def page(scope: Scope, principal: Principal, uow: UnitOfWork) -> Answer:
        query, problems = _query(scope, _LIST_PARAMS)
        if problems:
            return _invalid(problems)
        found = secret_page(
            uow, principal, cursor=query["cursor"], limit=query["limit"], prefix=query["prefix"]
        )
        return 200, _encode(page_answer(found)), []

    def me(scope: Scope, principal: Principal, uow: UnitOfWork) -> Answer:
        return 200, user_body(principal.user), []

    routes = []
    for path, answer, first in (
        (f"{API}/secrets", page, None),
        (f"{API}/secrets/{{name}}", secret, secret_at_once),
        (f"{API}/me", me, None),
    ):
        route = Route(path, _Read(ctx, answer, first), methods=["GET"], include_in_schema=False)
        route.methods = {"GET"}
        routes.append(route)
    return routes


class ReadFront:
    """A GET that one of the read routes fully matches goes straight to it, ahead of FastAPI's own
    middleware (its exception middleware, exit stack and telemetry cost more than the read itself).
    The routes are the app's, registered once in its router (where 405s with `Allow`, OPTIONS and the
    list of routes see them); this only saves the walk to them. Everything else goes on unchanged."""

    def __init__(self, app: ASGIApp, *, routes: list[Route]) -> None:
        self.app = app
        self.exact = {r.path: r for r in routes if "{" not in r.path}  # no parameter: the path says
        self.routes = [r for r in routes if "{" in r.path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            exact = self.exact.get(scope["path"])
            if exact is not None:  # a GET, the one method these routes take: no need to ask the route
                scope["route"] = exact  # as routing would: the metrics and the denials read its template
                await exact.app(scope, receive, send)
                return
            for route in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = route
                    await route.handle({**scope, **child}, receive, send)
                    return
        await self.app(scope, receive, send)


# --- the OpenAPI document --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Operation:
    path: str
    tag: str
    summary: str
    operation_id: str
    params: tuple[Param, ...]
    body: str  # the component schema of the 200 answer
    description: str | None = None


_OPERATIONS = (
    _Operation(
        f"{API}/secrets",
        "secrets",
        "List Secrets",
        "list_secrets_api_v1_secrets_get",
        _LIST_PARAMS,
        SecretPage.__name__,
        "My secrets and those shared with me (as `owner/name`, with my level), by owner then name.",
    ),
    _Operation(
        f"{API}/secrets/{{name}}",
        "secrets",
        "Get Secret",
        "get_secret_api_v1_secrets__name__get",
        (_NAME, *_SECRET_PARAMS),
        SecretPublic.__name__,
    ),
    _Operation(f"{API}/me", "tokens", "Me", "me_api_v1_me_get", (), UserPublic.__name__),
)
_ERRORS = {
    "400": "Bad Request",
    "401": "Unauthorized",
    "404": "Not Found",
    "413": "the request body is too large",
    "422": "Unprocessable Entity",
    "429": "too many failed attempts; see Retry-After",
    "503": "the database is unavailable",
}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def openapi_paths() -> dict[str, dict[str, Any]]:
    """The GET operations of the three reads, as the OpenAPI document's `paths` entries."""
    paths: dict[str, dict[str, Any]] = {}
    for op in _OPERATIONS:
        operation: dict[str, Any] = {"tags": [op.tag], "summary": op.summary}
        if op.description:
            operation["description"] = op.description
        operation["operationId"] = op.operation_id
        if op.params:
            operation["parameters"] = [p.document() for p in op.params]
        operation["responses"] = {"200": _json(op.body, "Successful Response")} | {
            status: _json(ErrorBody.__name__, text) for status, text in _ERRORS.items()
        }
        paths[op.path] = {"get": operation}
    return paths
