"""Which methods a path takes: `OPTIONS` answers them, and a 405 lists them all.

Starlette answers a method a path does not take with the `Allow` of the first route on that path only
(`/api/v1/tokens` said `POST`, though `GET` is there too), and `OPTIONS` with 405. Here both come from
every route whose path matches: `OPTIONS` is a 204 with `Allow`, to anyone (it says what the OpenAPI
document already says, and nothing about any data), and a 404 on a path that does not exist.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
_NOT_FOUND = json.dumps({"code": "not_found", "message": "not found", "errors": []}).encode()


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods some route takes on this request's path, with OPTIONS; empty when none does.
    (Asked of the routes themselves: FastAPI keeps included routers behind its own route objects.)"""
    methods = [
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in app.router.routes)
    ]
    return [*methods, "OPTIONS"] if methods else []


class OptionsMiddleware:
    """Answers OPTIONS on any path with what that path takes; everything else goes on unchanged."""

    def __init__(self, app: ASGIApp, *, routes_of: FastAPI) -> None:
        self.app = app
        self.routes_of = routes_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        allowed = allowed_methods(self.routes_of, scope)
        if allowed:
            status, body = 204, b""
            headers = [(b"allow", ", ".join(allowed).encode())]
        else:
            status, body = 404, _NOT_FOUND
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
