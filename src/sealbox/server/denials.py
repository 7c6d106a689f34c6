"""Denials on the audit record (TEST-PLAN T14, "100% of denials logged").

A pure-ASGI middleware around the whole API, so that it sees every answer whichever path made it
(FastAPI's routes or the hot reads ahead of them). When an API route answers 403 or 404 to a caller that
presented credentials, it identifies the caller again (the same `Authenticator`, only on this path) and
appends one record with outcome `denied`: who, the route, the name as requested (truncated), the status;
on a 403 (the caller can see the secret) its id as well, so that its owner sees the refusal too. Repeats
of the same denial within a minute are counted and summed up in one record when the minute is over
(`services.audit.record_denial`; `DenialSweeper` writes the sums), so a client cannot grow the audit
table at its request rate. The answer to a denied request is held back until the denial is recorded or
counted, so a server killed at any moment has lost none it answered. Never a value, a body or a header.
Anonymous callers never reach the chain: their 401s are rate-limited and go to the app log. Launch
credentials (`sbl_…`) are not identities: refused redemptions are recorded by the launch service itself.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealbox.errors import ServiceError
from sealbox.services.access import stop_watching, watch_denials
from sealbox.services.audit import DENIAL_WINDOW_SECONDS, flush_denials, record_denial

if TYPE_CHECKING:
    from sealbox.server.context import AppContext
    from sealbox.store.database import Database

log = logging.getLogger("sealbox.server")

_API = "/api/v1/"
_METRICS = "/metrics"  # outside the API, but a refusal there is a denial like any other
_SECRET_ITEM = "/api/v1/secrets/{name}"  # noqa: S105 -- a path, not a password  # nosec B105
_LAUNCH_CREDENTIAL = "bearer sbl_"
# Routes whose caller is a session credential, not a person or a service.
_NOT_IDENTITIES = ("/redeem", "/failures", "/roles")
_ACTIONS = {
    ("GET", "/api/v1/secrets/{name}"): "secret.read",
    ("PUT", "/api/v1/secrets/{name}/value"): "secret.replace",
    ("PATCH", "/api/v1/secrets/{name}"): "secret.update",
    ("DELETE", "/api/v1/secrets/{name}"): "secret.delete",
    ("GET", "/api/v1/secrets/{name}/grants"): "secret.grants",
    ("POST", "/api/v1/secrets/{name}/grants"): "secret.share",
    ("DELETE", "/api/v1/secrets/{name}/grants/{grantee_type}/{grantee}"): "secret.unshare",
    ("POST", "/api/v1/sessions"): "session.create",
    ("POST", "/api/v1/service/sessions"): "session.create",
    ("GET", "/api/v1/audit"): "audit.read",
}
MAX_NAME = 200


def _template(scope: Scope) -> str | None:
    """The matched route's path template; the hot reads answer one secret's path before routing."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    path: str = scope.get("path", "")
    if path.startswith("/api/v1/secrets/") and path.count("/") == 4:
        return _SECRET_ITEM
    return None  # no route matched: an unknown path is not a denial of anything


def _requested_name(scope: Scope, template: str) -> str | None:
    """`owner/name` (or `name`) as the caller asked for it, for the secret routes; truncated."""
    if not template.startswith("/api/v1/secrets/{name}"):
        return None
    params: dict[str, Any] = scope.get("path_params") or {}
    name = params.get("name")
    if name is None:
        name = scope.get("path", "").removeprefix("/api/v1/secrets/").split("/", 1)[0]
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    owner = query.get("owner")
    return (f"{owner}/{name}" if owner else str(name))[:MAX_NAME]


class DenialAudit:
    def __init__(self, app: ASGIApp, *, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx
        self.proxy_header = ctx.authenticator.settings.proxy_user_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith(_API) or path == _METRICS):
            await self.app(scope, receive, send)
            return
        status = 0
        held: list[Message] = []

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            if status in (403, 404):
                held.append(message)  # a denial is answered once it is on the record (or counted)
                return
            await send(message)

        token, seen = watch_denials()
        try:
            await self.app(scope, receive, watching_send)
        finally:
            stop_watching(token)
        if status in (403, 404):
            try:
                await run_in_threadpool(
                    self._record, scope, status, seen[0] if status == 403 and seen else None
                )
            finally:
                for message in held:
                    await send(message)

    def _record(self, scope: Scope, status: int, secret_id: str | None) -> None:
        template = _template(scope)
        if template is None or template.endswith(_NOT_IDENTITIES):
            return
        authorization: str | None = None
        proxied: str | None = None
        for key, value in scope.get("headers", ()):
            if key == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif key == self.proxy_header and proxied is None:
                proxied = value.decode("latin-1")
        if (authorization is None and proxied is None) or (authorization or "").lower().startswith(
            _LAUNCH_CREDENTIAL
        ):
            return
        client = scope.get("client")
        now = datetime.now(UTC)
        try:
            principal = self.ctx.authenticator.authenticate(
                authorization=authorization,
                headers={self.ctx.authenticator.settings.proxy_user_header: proxied} if proxied else {},
                client_addr=client[0] if client else None,
                now=now,
            )
            method: str = scope["method"]
            record_denial(
                self.ctx.db,
                principal,
                _ACTIONS.get((method, template), "request"),
                now=now,
                status=status,
                secret_name=_requested_name(scope, template),
                secret_id=secret_id,
                detail=f"{method} {template} {status}",
            )
        except ServiceError as exc:
            # Not an identity after all, or the audit log cannot be written: the app log says so.
            log.warning("denial not recorded (%s) for %s %s", exc.code, scope["method"], template)


class DenialSweeper:
    """One background thread that writes the counts of repeated denials once their minute is over: at
    start (what a stopped or killed server left), every few seconds past each minute, and at stop (the
    current minute too)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealbox-denials", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._flush(everything=True)

    def _run(self) -> None:
        while True:
            self._flush(everything=False)
            into_minute = datetime.now(UTC).timestamp() % DENIAL_WINDOW_SECONDS
            if self._stop.wait(DENIAL_WINDOW_SECONDS - into_minute + 1):
                return

    def _flush(self, *, everything: bool) -> None:
        try:
            flush_denials(self._db, now=datetime.now(UTC), everything=everything)
        except Exception as exc:  # a background sweep must not die; the counts wait for the next one
            log.warning("denial counts not written yet (%s)", type(exc).__name__)
