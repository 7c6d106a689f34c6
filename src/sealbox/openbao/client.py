"""The one way sealbox talks to OpenBao (or Vault): `hvac`, behind sealbox's own errors.

`connect()` reads the address and token as the `bao` and `vault` CLIs do (`BAO_ADDR`/`BAO_TOKEN`, else
`VAULT_ADDR`/`VAULT_TOKEN`; `BAO_CACERT`/`VAULT_CACERT` for a private CA); `connect_with_token_file()`
reads the token from a file instead (the key-wrapping processes: no token in their environment). The
token goes into the request header only: never into an argv, a log line or an error. `call()` runs one
hvac call and turns every failure into one `OpenBaoError` that names the address, what was asked and why
(sealed, refused, unreachable), and nothing from the answer: hvac's exceptions keep the response's text,
so they are dropped (`from None`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sealbox.errors import ConfigError, OpenBaoError

T = TypeVar("T")
TIMEOUT_S = 10

_WHY = {
    400: "refused the request as invalid",
    401: "refused the token (unauthenticated)",
    403: "refused the token (permission denied: check its policy)",
    404: "has nothing there",
    429: "is rate-limiting this client",
    500: "failed with an internal error",
    501: "is not initialised",
    502: "answered through a failing gateway",
    503: "is sealed or in standby",
}


class OpenBao:
    """An hvac client and the address it talks to (the token is inside the client, never shown)."""

    def __init__(self, *, addr: str, token: str, verify: bool | str = True) -> None:
        try:
            import hvac  # here: `sealbox` without the openbao extra loads no hvac until it is used
        except ImportError:
            raise ConfigError("OpenBao needs hvac: pip install 'sealbox[openbao]'") from None

        self.addr = addr.rstrip("/")
        self.hvac: Any = hvac.Client(url=self.addr, token=token, verify=verify, timeout=TIMEOUT_S)

    def __repr__(self) -> str:
        return f"OpenBao({self.addr})"

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """`fn()`, its failures as one `OpenBaoError` naming `what` (an operation and a path)."""
        import hvac.exceptions
        import requests

        try:
            return fn()
        except hvac.exceptions.VaultError as exc:
            status = _status_of(exc)
            why = _WHY.get(status, f"answered {status}") if status else "refused the request"
            raise OpenBaoError(f"OpenBao at {self.addr} {why} ({what})", status=status) from None
        except requests.exceptions.RequestException as exc:
            kind = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "cannot be reached"
            raise OpenBaoError(f"OpenBao at {self.addr} {kind} ({what})") from None

    def get(self, path: str) -> dict[str, Any]:
        """GET /v1/`path`, its JSON answer (hvac's adapter, for endpoints hvac has no method for)."""
        answer: Any = self.call(f"read {path}", lambda: self.hvac.adapter.get(f"/v1/{path}"))
        if not isinstance(answer, dict):
            raise OpenBaoError(f"OpenBao at {self.addr} gave no JSON object (read {path})")
        return answer

    def check_unsealed(self) -> None:
        """Raise `OpenBaoError` unless the server answers and is unsealed (sys/seal-status needs no token)."""
        status: Any = self.call("seal status", lambda: self.hvac.sys.read_seal_status())
        if not isinstance(status, dict) or status.get("sealed", True):
            raise OpenBaoError(f"OpenBao at {self.addr} is sealed: unseal it, then start again")


def _status_of(exc: Exception) -> int:
    import hvac.exceptions as e

    statuses: tuple[tuple[type[Exception], int], ...] = (
        (e.InvalidRequest, 400),
        (e.Unauthorized, 401),
        (e.Forbidden, 403),
        (e.InvalidPath, 404),
        (e.RateLimitExceeded, 429),
        (e.InternalServerError, 500),
        (e.VaultNotInitialized, 501),
        (e.BadGateway, 502),
        (e.VaultDown, 503),
    )
    return next((status for cls, status in statuses if isinstance(exc, cls)), 0)


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _verify(env: Mapping[str, str]) -> bool | str:
    return _first(env, "BAO_CACERT", "VAULT_CACERT") or True


def connect(env: Mapping[str, str] | None = None) -> OpenBao:
    """A client from `BAO_ADDR`/`BAO_TOKEN`, else `VAULT_ADDR`/`VAULT_TOKEN` (as the CLIs read them)."""
    env = os.environ if env is None else env
    addr = _first(env, "BAO_ADDR", "VAULT_ADDR")
    if addr is None:
        raise ConfigError(
            "set BAO_ADDR (or VAULT_ADDR) to the OpenBao address, e.g. https://bao.example:8200"
        )
    token = _first(env, "BAO_TOKEN", "VAULT_TOKEN")
    if token is None:
        raise ConfigError("set BAO_TOKEN (or VAULT_TOKEN) to a token that may read the secrets")
    return OpenBao(addr=addr, token=token, verify=_verify(env))


def connect_with_token_file(addr: str, token_file: Path, *, ca_cert: Path | None = None) -> OpenBao:
    """A client whose token is read from `token_file` (0600, owned by this user, not a symlink)."""
    from sealbox.crypto.keyring import read_private_file

    token = read_private_file(token_file).strip()
    if not token:
        raise ConfigError(f"token file {token_file} is empty")
    return OpenBao(addr=addr, token=token, verify=str(ca_cert) if ca_cert else True)
