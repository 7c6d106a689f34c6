"""One pure-ASGI middleware: body size limit (413 before reading it whole), security headers, access log.

The access log names method, path and status only: never the query string or a header, so a token
passed by mistake in a URL never reaches a log line.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("sealbox.access")
error_log = logging.getLogger("sealbox.server")

_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# The web pages load only their own stylesheet and script; forms post only to this origin.
_WEB_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'",
)


class _TooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so that FastAPI's body parser passes it through as 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


def _too_large_body() -> bytes:
    return json.dumps(
        {"code": "payload_too_large", "message": "request body too large", "errors": []}
    ).encode()


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = [0]
        path: str = scope.get("path", "")
        relaxed_csp = path == "/docs"  # Swagger UI needs its own script and style

        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_body_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(send, status_holder)
                    self._log(scope, status_holder[0], started)
                    return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder[0] = message["status"]
                headers: list[Any] = list(message.get("headers", []))
                headers.extend(_HEADERS)
                if path.startswith("/web"):
                    headers.append(_WEB_CSP)
                elif not relaxed_csp:
                    headers.append(_API_CSP)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not response_started:
                await self._reject(send, status_holder)
        except Exception as exc:
            # The last resort: answer 500 here and do not re-raise, so that no server (granian, uvicorn)
            # prints the exception, whose text may hold request data. Only its type is logged.
            error_log.error(
                "unhandled %s on %s %s", type(exc).__name__, scope.get("method"), scope.get("path")
            )
            if not response_started:
                await self._internal_error(send, status_holder)
        self._log(scope, status_holder[0], started)

    async def _internal_error(self, send: Send, status_holder: list[int]) -> None:
        body = json.dumps({"code": "internal_error", "message": "internal error", "errors": []}).encode()
        status_holder[0] = 500
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *_HEADERS,
                    _API_CSP,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _reject(self, send: Send, status_holder: list[int]) -> None:
        body = _too_large_body()
        status_holder[0] = 413
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *_HEADERS,
                    _API_CSP,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %d %.1fms",
                scope.get("method"),
                scope.get("path"),
                status,
                (time.perf_counter() - started) * 1000,
            )
