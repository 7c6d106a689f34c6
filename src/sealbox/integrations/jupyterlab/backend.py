"""What the panel's API answers, built on the Jupyter server's side: the person's secrets from sealbox (with
the session's own credential, which never leaves this process) and what this session's folder holds.

The credential: `SEALBOX_URL` with `SEALBOX_TOKEN_FILE` (a file that holds the token, as a platform puts
one beside a session), else the CLI's config file (`$SEALBOX_CONFIG`, else ~/.config/sealbox/config.toml:
what `sealbox login` or `sealbox up` wrote). Read at each call: a login after the server started counts.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sealbox.errors import ClientError, SealboxError
from sealbox.protocol.lab_api import LabHeld, LabSecret, LabSecrets

if TYPE_CHECKING:
    from sealbox.protocol.secret_answers import SecretPublic
    from sealbox.sdk.client import Client

MANIFEST = "@sealbox.json"


class NoCredential(SealboxError):
    """The Jupyter server has no sealbox credential to call with; the message says where it looked."""


def _config_path() -> Path:
    explicit = os.environ.get("SEALBOX_CONFIG")
    if explicit:
        return Path(explicit)
    from platformdirs import user_config_path

    return user_config_path("sealbox", appauthor=False) / "config.toml"


def credential() -> tuple[str, str]:
    """The sealbox URL and token this server calls with; raises NoCredential (naming only paths)."""
    url, token_file = os.environ.get("SEALBOX_URL", ""), os.environ.get("SEALBOX_TOKEN_FILE", "")
    if url and token_file:
        try:
            return url, Path(token_file).read_text().strip()
        except OSError:
            raise NoCredential(f"SEALBOX_TOKEN_FILE ({token_file}) cannot be read") from None
    path = _config_path()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        raise NoCredential(
            f"no sealbox credential: set SEALBOX_URL and SEALBOX_TOKEN_FILE, or run `sealbox login` ({path})"
        ) from None
    found_url, found_token = data.get("url"), data.get("token")
    if not isinstance(found_url, str) or not isinstance(found_token, str):
        raise NoCredential(f"{path} needs url and token")
    return found_url, found_token


def client() -> Client:
    from sealbox.sdk.client import Client

    url, token = credential()
    return Client(url, token)


def held(folder: str | None = None) -> list[LabHeld]:
    """What the session's folder holds, from its manifest (names and kinds; no file is opened but it)."""
    where = folder if folder is not None else os.environ.get("SEALBOX_SECRETS_DIR", "")
    if not where:
        return []
    try:
        manifest: Any = json.loads((Path(where) / "..data" / MANIFEST).read_text())
    except (OSError, ValueError):
        return []
    entries = manifest.get("files", []) if isinstance(manifest, dict) else []
    out: list[LabHeld] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("field") is not None or entry.get("format"):
            continue  # one field, or a client's format: not something get_secret("NAME") reads
        name, owner = str(entry.get("secret", "")), entry.get("owner")
        secret = f"{owner}/{name}" if isinstance(owner, str) and owner else name
        out.append(LabHeld(name=str(entry.get("file", name)), secret=secret, kind=str(entry.get("kind", ""))))
    return out


def _as_lab(secret: SecretPublic, holdings: dict[str, str]) -> LabSecret:
    return LabSecret(
        ref=secret.ref,
        name=secret.name,
        owner=secret.owner,
        access=secret.access,
        kind=secret.kind,
        description=secret.description,
        expires_at=secret.expires_at,
        project=secret.project,
        shared_by=None if secret.access == "owner" else secret.owner,
        held_as=holdings.get(secret.ref),
    )


def secrets() -> LabSecrets:
    """The person's secrets (own, shared, project) and this session's; sealbox unreachable or no
    credential: an answer that says so, with what the folder holds."""
    holdings = held()
    session_id = os.environ.get("SEALBOX_SESSION_ID") or None
    try:
        with client() as sealbox:
            user = sealbox.me().name
            listed = sealbox.list_secrets()
    except NoCredential as missing:
        return LabSecrets(
            user=None, connected=False, problem=str(missing), session_id=session_id, secrets=[], held=holdings
        )
    except ClientError as refused:
        problem = f"sealbox: {refused}"
        return LabSecrets(
            user=None, connected=False, problem=problem, session_id=session_id, secrets=[], held=holdings
        )
    by_ref = {h.secret if "/" in h.secret else f"{user}/{h.secret}": h.name for h in holdings}
    return LabSecrets(
        user=user,
        connected=True,
        session_id=session_id,
        secrets=[_as_lab(s, by_ref) for s in listed],
        held=holdings,
    )
