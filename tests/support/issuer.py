"""A real OpenID Connect token issuer for the identity tests, and servers restarted with extra settings.

Issue 5 asks for OIDC "against a real token issuer started by the tests (a small signing service made
with the same libraries a real issuer uses), not by patching the validator". `python -m
tests.support.issuer --port N` is that issuer: a Starlette app under uvicorn that generates an RSA key
pair when it starts, publishes its public half at `/jwks.json` (found through
`/.well-known/openid-configuration`), and signs JWTs with PyJWT at `POST /token`. For negative tests
it also holds a second, "rogue" RSA key that is never published, and signs with either key under any
`kid` the test names. Unsigned (`alg: none`) and HMAC-confusion tokens are crafted by the tests.

`restart_server(stack, **env)` and `replica(stack, **env)` run sealbox servers on a stack's data dir
with extra `SEALBOX_*` settings (OIDC, trusted proxies, failure limit) or as a second replica.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import Stack, base_env, free_port, sealbox_cmd, wait_for

AUDIENCE = "sealbox-tests"
REPO_ROOT = Path(__file__).resolve().parents[2]


# --- the issuer process ---------------------------------------------------------------------------------


def build_app(issuer: str) -> Any:
    """The issuer's ASGI app; keys are generated here, in the issuer's own process."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    keys = {
        "main": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rogue": rsa.generate_private_key(public_exponent=65537, key_size=2048),  # never published
    }
    kid = "main-" + secrets.token_hex(4)
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["main"].public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")

    async def discovery(_: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/jwks.json",
                "token_endpoint": f"{issuer}/token",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "PS256"],
            }
        )

    async def jwks(_: Request) -> JSONResponse:
        return JSONResponse({"keys": [jwk]})

    async def token(request: Request) -> JSONResponse:
        body = await request.json()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            # A real provider's subject is stable per person: derive it from the name (case-folded).
            "sub": "sub-" + str((body.get("claims") or {}).get("preferred_username") or "").casefold(),
        }
        claims.update(body.get("claims") or {})
        claims = {k: v for k, v in claims.items() if v is not None}  # None: leave the claim out
        key = keys[str(body.get("key", "main"))]
        signed = jwt.encode(
            claims, key, algorithm=str(body.get("alg", "RS256")), headers={"kid": body.get("kid") or kid}
        )
        return JSONResponse({"token": signed, "kid": kid})

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks.json", jwks),
            Route("/token", token, methods=["POST"]),
        ]
    )


def main() -> None:  # pragma: no cover -- runs in the issuer's own process
    import uvicorn

    parser = argparse.ArgumentParser(description="a test OpenID Connect issuer")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    issuer = f"http://127.0.0.1:{args.port}"
    uvicorn.run(build_app(issuer), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


# --- the test side --------------------------------------------------------------------------------------


@dataclass
class Issuer:
    """A running issuer: its URL (also its `iss`), and a way to have it sign tokens."""

    url: str
    proc: subprocess.Popen[bytes]

    def token(self, *, key: str = "main", kid: str | None = None, alg: str = "RS256", **claims: Any) -> str:
        """A JWT signed by the issuer; claims given as None are left out (defaults: iss, aud, exp...)."""
        resp = httpx.post(
            f"{self.url}/token", json={"claims": claims, "key": key, "kid": kid, "alg": alg}, timeout=10
        )
        resp.raise_for_status()
        return str(resp.json()["token"])

    def jwks(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/jwks.json", timeout=10).json()
        return result


@contextmanager
def running_issuer(root: Path) -> Iterator[Issuer]:
    port = free_port()
    log = root / "issuer.log"
    env = base_env(PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.issuer", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    issuer = Issuer(url=f"http://127.0.0.1:{port}", proc=proc)
    try:
        wait_for(
            lambda: httpx.get(f"{issuer.url}/.well-known/openid-configuration", timeout=1).status_code == 200,
            proc,
            "issuer",
        )
        yield issuer
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- servers with extra settings ------------------------------------------------------------------------


def start_server_process(stack: Stack, port: int, **extra: str) -> subprocess.Popen[bytes]:
    """A sealbox server on the stack's data dir, keeper and database, with extra SEALBOX_* settings."""
    with stack.log.open("ab") as log:
        proc = subprocess.Popen(
            sealbox_cmd(
                "server", "--host", "127.0.0.1", "--port", str(port), "--keeper-url", stack.keeper.url
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=stack.env(**extra),
        )
    wait_for(
        lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503),
        proc,
        "server",
        timeout=60,
    )
    return proc


def restart_server(stack: Stack, **extra: str) -> None:
    """Stop the stack's server and start it again, on a fresh port, with extra settings.

    The stack's `url`, `port` and `server` follow, so `stack.client()` and the stack's own clean-up
    keep working.
    """
    stack.stop_server()
    port = free_port()
    stack.server = start_server_process(stack, port, **extra)
    stack.port = port
    stack.url = f"http://127.0.0.1:{port}"


@contextmanager
def replica(stack: Stack, **extra: str) -> Iterator[str]:
    """A second server process on the same data dir and database; yields its URL."""
    port = free_port()
    proc = start_server_process(stack, port, **extra)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":  # pragma: no cover
    main()
