"""A small, real OpenID Connect issuer for the web sign-in test: the authorization-code flow with PKCE.

`python -m tests.browser.issuer_app --port N --url URL --client-id ID` serves, under uvicorn on
127.0.0.1:N (URL is what it calls itself: its `iss`, and the base of the addresses it publishes):

- `/.well-known/openid-configuration`: issuer, authorization_endpoint, token_endpoint, jwks_uri;
- `/jwks.json`: the public half of an RSA key generated when the process starts;
- `/authorize`: approves at once as a fixed user (`dana`, in the group `analysts`) and redirects to
  the `redirect_uri` with a one-time `code` and the `state` it was given; it remembers, per code,
  the client, redirect_uri, nonce and PKCE `code_challenge` (S256 only);
- `/token`: exchanges a code once, after checking the client id, the redirect_uri and that the
  PKCE verifier hashes to the challenge; answers with an ID token signed by PyJWT (iss, aud = the
  client id, iat, exp, nonce, sub, preferred_username, groups);
- `/settings` (POST `{"mode": ...}`): `redirect` (the default) as above; `consent`: `/authorize` first
  shows a page with a "Continue as dana" button, as a real issuer's sign-in page would, so that the way
  back to sealbox starts from a form on the issuer's own site; `link`: the way back is shown as a
  link instead of a redirect, for tests that alter or replay it;
- `/stats`: how many codes it issued and exchanged and why it refused any (for the test's asserts).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

USER = "dana"
GROUPS = ["analysts"]


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str
    expires: float


@dataclass
class _State:
    codes: dict[str, _Grant] = field(default_factory=dict)
    issued: int = 0
    exchanged: int = 0
    refused: list[str] = field(default_factory=list)
    # "redirect": approve at once; "consent": first a page with a "Continue as dana" button (a form on the
    # issuer's site); "link": approve, then show the way back as a link instead of redirecting (so that a
    # test can read, alter or replay it).
    mode: str = "redirect"


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def build_app(issuer: str, client_id: str) -> Any:
    """The issuer's ASGI app; its signing key is generated here, in the issuer's own process."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import (
        HTMLResponse,
        JSONResponse,
        PlainTextResponse,
        RedirectResponse,
        Response,
    )
    from starlette.routing import Route

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = "k-" + secrets.token_hex(4)
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    state = _State()

    async def discovery(_: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks.json",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
            }
        )

    async def jwks(_: Request) -> JSONResponse:
        return JSONResponse({"keys": [jwk]})

    def refuse(reason: str, status: int = 400) -> Response:
        state.refused.append(reason)
        return JSONResponse({"error": "invalid_request", "error_description": reason}, status_code=status)

    async def authorize(request: Request) -> Response:
        if request.method == "GET" and state.mode == "consent":
            # Like a real issuer's sign-in page: the browser leaves it by a form post from the issuer's site.
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in request.query_params.items()
            )
            return HTMLResponse(
                f"<!doctype html><title>Test issuer</title><form method=post action=/authorize>{fields}"
                f"<button type=submit>Continue as {USER}</button></form>"
            )
        q = request.query_params if request.method == "GET" else await request.form()
        if q.get("response_type") != "code":
            return refuse("response_type is not code")
        if q.get("client_id") != client_id:
            return refuse("unknown client")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return refuse("PKCE S256 is required")
        redirect_uri = str(q.get("redirect_uri", ""))
        if not redirect_uri.startswith(("http://127.0.0.1:", "http://localhost:")):
            return refuse("redirect_uri not allowed")
        if not q.get("state") or not q.get("nonce"):
            return refuse("state and nonce are required")
        if "openid" not in str(q.get("scope", "")).split():
            return refuse("scope must include openid")
        code = secrets.token_urlsafe(24)
        state.codes[code] = _Grant(
            client_id=client_id,
            redirect_uri=redirect_uri,
            nonce=str(q["nonce"]),
            challenge=str(q["code_challenge"]),
            expires=time.time() + 60,
        )
        state.issued += 1
        sep = "&" if "?" in redirect_uri else "?"
        target = redirect_uri + sep + urllib.parse.urlencode({"code": code, "state": str(q["state"])})
        if state.mode == "link":
            return HTMLResponse(
                f'<!doctype html><title>Test issuer</title><a id="back" href="{html.escape(target)}">Back</a>'
            )
        return RedirectResponse(target, status_code=302)

    async def token(request: Request) -> Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if values.get("grant_type") != "authorization_code":
            return refuse("grant_type is not authorization_code")
        grant = state.codes.pop(values.get("code", ""), None)  # one use only
        if grant is None or grant.expires < time.time():
            return refuse("unknown, used or expired code")
        if values.get("client_id") != grant.client_id:
            return refuse("client_id does not match the code")
        if values.get("redirect_uri") != grant.redirect_uri:
            return refuse("redirect_uri does not match the code")
        if not hmac.compare_digest(_s256(values.get("code_verifier", "")), grant.challenge):
            return refuse("PKCE verifier does not match the challenge")
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": grant.client_id,
            "sub": "user-" + USER,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "preferred_username": USER,
            "groups": GROUPS,
        }
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        state.exchanged += 1
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def settings(request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("mode") in ("redirect", "consent", "link"):
            state.mode = body["mode"]
        return JSONResponse({"mode": state.mode})

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse({"issued": state.issued, "exchanged": state.exchanged, "refused": state.refused})

    async def health(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks.json", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/settings", settings, methods=["POST"]),
            Route("/token", token, methods=["POST"]),
            Route("/stats", stats),
            Route("/healthz", health),
        ]
    )


def main() -> None:  # pragma: no cover -- runs in the issuer's own process
    import uvicorn

    parser = argparse.ArgumentParser(description="a test OpenID Connect issuer (authorization code + PKCE)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--url", required=True, help="the issuer's own URL (its iss)")
    parser.add_argument("--client-id", required=True)
    args = parser.parse_args()
    app = build_app(args.url.rstrip("/"), args.client_id)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":  # pragma: no cover
    main()
