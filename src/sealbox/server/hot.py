"""The hot reads as plain ASGI, ahead of FastAPI: one secret's metadata, the list, and /me.

These three are most of a data-science platform's traffic (every notebook start lists and reads). Here
they skip FastAPI's dependency injection, parameter models and response validation: the token check
and the data are read in ONE transaction (hand-written SQL underneath, store/raw.py) and the body is
encoded once by msgspec. The FastAPI routes of the same paths stay: they define the OpenAPI document
and answer every request this module does not fully understand (an unknown or repeated query
parameter, a value FastAPI would refuse with 422), so their validation and error bodies are
unchanged. Both paths call the same functions below, the same `Authenticator` (failed-auth limit
included) and the same `SecretService` (the access rule: `resolve`), and errors render through
`server.errors.service_error_parts`. `GuardMiddleware` wraps this module, so headers and the access
log are the same for both.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from sqlalchemy.engine import Connection
from starlette.types import ASGIApp, Receive, Scope, Send

from sealbox.domain.principals import Principal, User
from sealbox.domain.secrets import Page, Secret
from sealbox.errors import ServiceError
from sealbox.server.context import AppContext
from sealbox.server.errors import service_error_parts
from sealbox.server.schemas.params import MAX_SECRETS_CURSOR

_encode = msgspec.json.Encoder().encode
_LIST_PATH = "/api/v1/secrets"
_ITEM_PATH = "/api/v1/secrets/"
_ME_PATH = "/api/v1/me"
_PREFIX = re.compile(r"[A-Za-z0-9._-]{0,128}")
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_JSON = (b"content-type", b"application/json")

Live = list[tuple[str, str, datetime, datetime]]


# --- bodies (the shapes of schemas.SecretPublic, SecretPage and UserPublic) ----------------------------


def secret_body(s: Secret, *, with_versions: bool, live: Live | None = None) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "owner": s.owner_name,
        "ref": s.ref,
        "access": s.access,
        "kind": s.kind.value,
        "description": s.description,
        "fields": list(s.field_names),
        "project": s.project,
        "scopes": list(s.scopes),
        "created_at": s.created_at,
        "created_by": s.created_by,
        "updated_at": s.updated_at,
        "updated_by": s.updated_by,
        "expires_at": s.expires_at,
        "current_version": s.current_version,
        "versions": [
            {"version": v.version, "created_at": v.created_at, "created_by": v.created_by, "size": v.size}
            for v in s.versions
        ]
        if with_versions
        else None,
        "sessions": None
        if live is None
        else [{"id": i, "owner": o, "created_at": c, "expires_at": e} for i, o, c, e in live],
    }


def page_body(page: Page) -> bytes:
    return _encode(
        {
            "items": [secret_body(s, with_versions=False) for s in page.items],
            "next_cursor": page.next_cursor,
        }
    )


def user_body(user: User) -> bytes:
    return _encode(
        {"id": user.id, "name": user.name, "is_admin": user.is_admin, "created_at": user.created_at}
    )


def etag(version: int) -> str:
    return f'"{version}"'


# --- the handlers both paths call -----------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def secret_answer(
    ctx: AppContext, principal: Principal, name: str, owner: str | None, conn: Connection | None = None
) -> tuple[bytes, str]:
    """GET /api/v1/secrets/{name}: the body and the ETag."""
    secret, live = ctx.secrets.get_with_sessions(principal, name, owner=owner, now=now(), conn=conn)
    return _encode(secret_body(secret, with_versions=True, live=live)), etag(secret.current_version)


def page_answer(
    ctx: AppContext,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    prefix: str | None,
    conn: Connection | None = None,
) -> bytes:
    """GET /api/v1/secrets: one page."""
    return page_body(ctx.secrets.page(principal, cursor=cursor, limit=limit, prefix=prefix, conn=conn))


# --- the ASGI front -------------------------------------------------------------------------------


class HotReads:
    """Serves GET on the three hot paths when it understands the whole request; passes the rest on."""

    def __init__(self, app: ASGIApp, *, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx
        self.proxy_header = ctx.authenticator.settings.proxy_user_header.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            answer: tuple[int, bytes, list[tuple[bytes, bytes]]] | None = None
            if path.startswith(_ITEM_PATH):
                name = path[len(_ITEM_PATH) :]
                if name and "/" not in name:
                    answer = self._secret(scope, name)
            elif path == _LIST_PATH:
                answer = self._page(scope)
            elif path == _ME_PATH:
                answer = self._me(scope)
            if answer is not None:
                status, body, headers = answer
                headers.append(_JSON)
                headers.append((b"content-length", str(len(body)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _query(self, scope: Scope, allowed: frozenset[str]) -> dict[str, str] | None:
        """The query parameters, or None when FastAPI should judge them (unknown or repeated keys)."""
        raw: bytes = scope.get("query_string", b"")
        if not raw:
            return {}
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        found = dict(pairs)
        if len(found) != len(pairs) or not found.keys() <= allowed:
            return None
        return found

    def _authenticated(self, scope: Scope, conn: Connection) -> Principal:
        authorization: str | None = None
        proxied: str | None = None
        for key, value in scope["headers"]:
            if key == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif key == self.proxy_header and proxied is None:
                proxied = value.decode("latin-1")
        client = scope.get("client")
        return self.ctx.authenticator.authenticate(
            authorization=authorization,
            headers={self.ctx.authenticator.settings.proxy_user_header: proxied} if proxied else {},
            client_addr=client[0] if client else None,
            now=now(),
            conn=conn,
        )

    def _secret(self, scope: Scope, name: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        query = self._query(scope, frozenset({"owner"}))
        if query is None or len(query.get("owner", "")) > 64:
            return None
        try:
            with self.ctx.db.read() as conn:
                principal = self._authenticated(scope, conn)
                body, tag = secret_answer(self.ctx, principal, name, query.get("owner"), conn)
        except ServiceError as exc:
            return _error(exc)
        return 200, body, [(b"etag", tag.encode())]

    def _page(self, scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        query = self._query(scope, frozenset({"limit", "cursor", "prefix"}))
        if query is None:
            return None
        limit = query.get("limit", "100")
        cursor = query.get("cursor")
        prefix = query.get("prefix")
        if (
            not _LIMIT.fullmatch(limit)
            or int(limit) > 500
            or (cursor is not None and len(cursor) > MAX_SECRETS_CURSOR)
            or (prefix is not None and not _PREFIX.fullmatch(prefix))
        ):
            return None
        try:
            with self.ctx.db.read() as conn:
                principal = self._authenticated(scope, conn)
                body = page_answer(
                    self.ctx, principal, cursor=cursor, limit=int(limit), prefix=prefix, conn=conn
                )
        except ServiceError as exc:
            return _error(exc)
        return 200, body, []

    def _me(self, scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        try:
            with self.ctx.db.read() as conn:
                principal = self._authenticated(scope, conn)
        except ServiceError as exc:
            return _error(exc)
        return 200, user_body(principal.user), []


def _error(exc: ServiceError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    status, body, headers = service_error_parts(exc)
    return status, body, [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
