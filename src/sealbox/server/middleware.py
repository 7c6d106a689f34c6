"""One pure-ASGI middleware: body size limit (413 before reading it whole), body read timeout (408),
security headers, the request id (`X-Request-ID`, domain/request_ids.py), access log.

The access log names method, path and status only: never the query string or a header, so a token
passed by mistake in a URL never reaches a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealbox.domain import request_ids

access_log = logging.getLogger("sealbox.access")
error_log = logging.getLogger("sealbox.server")

_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_REQUEST_ID = request_ids.HEADER.lower().encode()
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# The web pages load only their own stylesheet and script; forms post only to this origin.
_WEB_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'",
)


# The interactive API docs (/docs, Swagger UI from the package, our own initializer): the same policy,
# plus what Swagger UI needs to read the OpenAPI document and send "Try it out" requests to this origin,
# and the small icons its stylesheet holds inline as data: images.
_DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
)


def _csp_for(path: str) -> tuple[bytes, bytes]:
    if path.startswith("/web"):
        return _WEB_CSP
    if path == "/docs" or path.startswith("/docs/"):
        return _DOCS_CSP
    return _API_CSP


class _TooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so that FastAPI's body parser passes it through as 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class _TooSlow(HTTPException):
    """Raised from `receive` when the body has not arrived in time; passed through as 408 like `_TooLarge`."""

    def __init__(self) -> None:
        super().__init__(status_code=408)


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "errors": []}).encode()


Observer = Callable[[Scope, int, float], None]


class GuardMiddleware:
    """`observe(scope, status, seconds)`, when given, is told of every answered request (the metrics)."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, body_read_timeout: float, observe: Observer | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout = body_read_timeout
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = [0]
        csp = _csp_for(scope.get("path", ""))

        request_id: str | None = None
        too_big = False
        for name, value in scope.get("headers", ()):
            if name == _REQUEST_ID and request_id is None:
                request_id = request_ids.accepted(value)
            elif name == b"content-length":
                try:
                    too_big = too_big or int(value) > self.max_body_bytes
                except ValueError:
                    too_big = True
        request_id = request_id or request_ids.generated()
        id_header = (_REQUEST_ID, request_id.encode())
        entered = request_ids.enter(request_id)
        try:
            if too_big:
                await self._reject(
                    send, status_holder, 413, "payload_too_large", "request body too large", id_header
                )
                self._done(scope, status_holder[0], started)
                return
            await self._guarded(scope, receive, send, status_holder, csp, id_header)
            self._done(scope, status_holder[0], started)
        finally:
            request_ids.leave(entered)

    async def _guarded(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status_holder: list[int],
        csp: tuple[bytes, bytes],
        id_header: tuple[bytes, bytes],
    ) -> None:

        received = 0
        response_started = False
        # The whole body must arrive within the timeout, however slowly it trickles in. Only the time
        # spent waiting for the client counts: a handler that reads the body late is not the client's fault.
        loop = asyncio.get_running_loop()
        waited = 0.0
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, waited
            if body_done:
                message = await receive()
            else:
                began = loop.time()
                try:
                    message = await asyncio.wait_for(receive(), self.body_read_timeout - waited)
                except TimeoutError:
                    raise _TooSlow() from None
                finally:
                    waited += loop.time() - began
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
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
                headers.append(csp)
                headers.append(id_header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not response_started:
                await self._reject(
                    send, status_holder, 413, "payload_too_large", "request body too large", id_header
                )
        except _TooSlow:
            if not response_started:
                await self._reject(send, status_holder, 408, "request_timeout", "request timeout", id_header)
        except Exception as exc:
            # The last resort: answer 500 here and do not re-raise, so that no server (granian, uvicorn)
            # prints the exception, whose text may hold request data. Only its type is logged.
            error_log.error(
                "unhandled %s on %s %s", type(exc).__name__, scope.get("method"), scope.get("path")
            )
            if not response_started:
                await self._internal_error(send, status_holder, id_header)

    async def _internal_error(
        self, send: Send, status_holder: list[int], id_header: tuple[bytes, bytes]
    ) -> None:
        body = _error_body("internal_error", "internal error")
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
                    id_header,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _reject(
        self,
        send: Send,
        status_holder: list[int],
        status: int,
        code: str,
        message: str,
        id_header: tuple[bytes, bytes],
    ) -> None:
        """Answer and close the connection: the rest of the body is not wanted."""
        body = _error_body(code, message)
        status_holder[0] = status
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *_HEADERS,
                    _API_CSP,
                    id_header,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _done(self, scope: Scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        if self.observe is not None:
            self.observe(scope, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("%s %s %d %.1fms", scope.get("method"), scope.get("path"), status, seconds * 1000)
