"""Signing in to the web pages with OpenID Connect (authorization-code flow with PKCE, state and nonce).

The state, nonce and PKCE verifier travel in a short-lived HttpOnly cookie (SameSite=Lax, so that it
comes back with the issuer's redirect); the ID token is checked against the issuer's JWKS for
signature, issuer, audience (the client id), expiry and nonce before anyone is signed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.parse
from typing import Any

import httpx
import jwt

from sealbox.config import ServerSettings
from sealbox.errors import ConfigError, Unauthenticated

FLOW_COOKIE = "sealbox_oidc"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class OIDCLogin:
    def __init__(self, settings: ServerSettings) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            raise ConfigError(
                "web sign-in with OpenID Connect needs SEALBOX_OIDC_ISSUER and SEALBOX_OIDC_CLIENT_ID"
            )
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = (
            settings.oidc_client_secret_path.read_text().strip() if settings.oidc_client_secret_path else None
        )
        self.username_claim = settings.oidc_username_claim
        self.groups_claim = settings.oidc_groups_claim
        self._meta: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKClient | None = None

    def _metadata(self) -> dict[str, Any]:
        if self._meta is None:
            response = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5)
            response.raise_for_status()
            self._meta = dict(response.json())
        return self._meta

    def start(self, redirect_uri: str) -> tuple[str, str]:
        """The issuer URL to send the browser to, and the flow cookie's value."""
        state, nonce, verifier = (
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(48),
        )
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        cookie = _b64(json.dumps({"state": state, "nonce": nonce, "verifier": verifier}).encode())
        return f"{self._metadata()['authorization_endpoint']}?{query}", cookie

    def finish(
        self, *, code: str, state: str, cookie: str, redirect_uri: str
    ) -> tuple[str, str, list[str] | None]:
        """Exchange the code; returns the user name, the identity ("oidc:<iss>|<sub>") and groups."""
        try:
            flow = json.loads(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)))
            expected_state, nonce, verifier = str(flow["state"]), str(flow["nonce"]), str(flow["verifier"])
        except (ValueError, KeyError, TypeError):
            raise Unauthenticated() from None
        if not state or not hmac.compare_digest(state, expected_state):
            raise Unauthenticated()
        meta = self._metadata()
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": verifier,
        }
        auth = (self.client_id, self.client_secret) if self.client_secret else None
        try:
            response = httpx.post(meta["token_endpoint"], data=data, auth=auth, timeout=10)
            id_token = str(response.json()["id_token"])
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(str(meta["jwks_uri"]), cache_keys=True, lifespan=300, timeout=5)
            key = self._jwks.get_signing_key_from_jwt(id_token).key
            claims = jwt.decode(
                id_token,
                key,
                algorithms=["RS256", "ES256", "PS256", "EdDSA"],
                audience=self.client_id,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "nonce"]},
                leeway=30,
            )
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWTError):
            raise Unauthenticated() from None
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise Unauthenticated()
        username = claims.get(self.username_claim)
        if not isinstance(username, str):
            raise Unauthenticated()
        groups = claims.get(self.groups_claim)
        subject = f"oidc:{self.issuer}|{claims.get('sub', username)}"
        names = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else None
        return username, subject, names
