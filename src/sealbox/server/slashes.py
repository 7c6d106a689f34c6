"""Trailing-slash redirects that never name a host: `Location: /web/`, not `http://<Host header>/web/`.

Starlette's own `redirect_slashes` builds an absolute URL from the request's Host header, which anyone
can set, so a crafted request got back a redirect to any site. Every redirect sealbox makes is a path
on this server; this one too.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send


def relative_slash_redirects(router: Router) -> None:
    """Replace the router's slash redirect (turned off here) with one to a relative location."""
    router.redirect_slashes = False
    not_found: ASGIApp = router.default

    async def redirect_or_not_found(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.strip("/"):
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            probe = {**scope, "path": other}
            if any(route.matches(probe)[0] is not Match.NONE for route in router.routes):
                # One leading slash: "//host/..." would be a link to another site.
                location = "/" + other.lstrip("/")
                if query := scope.get("query_string", b""):
                    location += "?" + query.decode("latin-1")
                await RedirectResponse(location, status_code=307)(scope, receive, send)
                return
        await not_found(scope, receive, send)

    router.default = redirect_or_not_found
