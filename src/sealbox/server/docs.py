"""The interactive API docs at /docs: Swagger UI from a package, under the web pages' strict policy.

The assets come from the `fastapi-offline` package (Swagger UI's `swagger-ui-bundle.js` and
`swagger-ui.css`, refreshed with each release; MIT, Swagger UI itself Apache-2.0), served from
/docs/static with our own initializer (docs_assets/sealbox-docs.js). Nothing is fetched from another
site, and the page works without network access. Its Content-Security-Policy (server/middleware.py)
allows scripts and styles from this origin only, no inline script.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PACKAGE = ("fastapi_offline", "static")
STATIC = "/docs/static"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
<link rel="stylesheet" href="{static}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{static}/sealbox-docs.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """GET /docs and its assets; `app` is made with `docs_url=None` (FastAPI's page loads a CDN)."""
    assert app.openapi_url is not None
    page = _PAGE.format(
        title=html.escape(app.title), static=STATIC, openapi=html.escape(app.openapi_url, quote=True)
    )
    app.mount(
        STATIC,
        StaticFiles(directory=Path(__file__).parent / "docs_assets", packages=[ASSETS_PACKAGE]),
        name="docs-static",
    )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)
