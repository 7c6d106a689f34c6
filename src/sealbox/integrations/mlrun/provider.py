"""Reading a session's secrets from MLRun code: `secret_provider` for `mlrun.get_secret_or_env`, and the
`--env` mappings whose variables `context.get_secret` reads (it falls back to the environment).

Nothing here imports mlrun: MLRun only calls the provider (`secret_provider(key)`), and the mappings are
plain strings. `import sealbox.integrations.mlrun` works without mlrun installed.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path

from sealbox.errors import BadRequest
from sealbox.sdk.secrets import get_secret

# Set by `sealbox_secrets(...)` in a Kubernetes job's pod: the folder of the mounted credential Secret.
CREDENTIAL_DIR_ENV = "SEALBOX_MLRUN_CREDENTIAL_DIR"
SERVER_URL_ENV = "SEALBOX_MLRUN_SERVER_URL"
KEEPER_URL_ENV = "SEALBOX_MLRUN_KEEPER_URL"

_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
_redeem_lock = threading.Lock()


def env_name(ref: str) -> str:
    """The variable a secret reference is given when no name is chosen: `db-password` -> DB_PASSWORD,
    `aws.secret_access_key` -> AWS_SECRET_ACCESS_KEY (what sealbox's env provider also tries)."""
    return ref.replace(".", "_").replace("-", "_").upper()


def env_mappings(secrets: Iterable[str]) -> dict[str, str]:
    """`["db_password", "aws.secret_access_key", "TOKEN=slack"]` -> {VAR: "NAME[.FIELD]"}, in order.

    Each entry is `NAME`, `NAME.FIELD`, or `VAR=NAME[.FIELD]` to choose the variable. Names and variables
    are checked as `sealbox run` checks them (a reserved variable such as PATH or LD_PRELOAD is refused);
    the same variable twice is refused. Raises BadRequest (`invalid_mapping`, `invalid_env`).
    """
    from sealbox.domain.env_names import check_env_name

    mappings: dict[str, str] = {}
    for entry in secrets:
        var, eq, ref = entry.partition("=")
        if not eq:
            var, ref = env_name(entry), entry
        owner, slash, name = ref.rpartition("/")
        if not _NAME.fullmatch(name) or (slash and not owner):
            raise BadRequest(
                "a secret reference is NAME, NAME.FIELD or VAR=NAME[.FIELD]", code="invalid_mapping"
            )
        check_env_name(var)
        if var in mappings:
            raise BadRequest("two secrets map to the same variable", code="invalid_mapping")
        mappings[var] = ref
    return mappings


def run_env_args(secrets: Iterable[str]) -> list[str]:
    """The arguments of `sealbox run` for those mappings: `["--env", "DB_PASSWORD=db_password", ...]`."""
    args: list[str] = []
    for var, ref in env_mappings(secrets).items():
        args += ["--env", f"{var}={ref}"]
    return args


def _split(key: str) -> list[tuple[str, str | None]]:
    """A key as a whole name, and (when it has a dot) as NAME.FIELD: names may hold dots."""
    candidates: list[tuple[str, str | None]] = [(key, None)]
    name, dot, field = key.rpartition(".")
    if dot and name and field:
        candidates.append((name, field))
    return candidates


def redeem_job_secrets() -> Path | None:
    """In a job that `sealbox_secrets(...)` prepared: redeem the one-time credential into the memory
    folder named by SEALBOX_SECRETS_DIR, once per pod. Returns that folder, or None outside such a job.

    Called by `secret_provider` on its first use; call it at the top of a handler to fail early. A second
    call (or a second process in the pod) finds the folder made and redeems nothing.
    """
    credential_dir = os.environ.get(CREDENTIAL_DIR_ENV)
    target = os.environ.get("SEALBOX_SECRETS_DIR")
    server_url = os.environ.get(SERVER_URL_ENV)
    if not credential_dir or not target or not server_url:
        return None
    folder = Path(target)
    with _redeem_lock:
        if folder.is_dir():
            return folder
        # The launcher (and with it cryptography) only when a job redeems: the provider stays light.
        from sealbox.integrations.initcontainer import InitOptions, harden, init_folder

        harden()
        init_folder(
            InitOptions(
                server_url=server_url,
                credential_file=Path(credential_dir) / "credential",
                session_id_file=Path(credential_dir) / "session-id",
                target=folder,
                keeper_url=os.environ.get(KEEPER_URL_ENV) or None,
                require_memory=True,
            )
        )
    return folder


class SecretProvider:
    """`mlrun.get_secret_or_env(key, secret_provider=secret_provider)`: the session's value for `key`, or
    None so MLRun falls back to its own places (the environment, then its default).

    `key` is a secret's name (`db_password`), `NAME.FIELD` (`aws.secret_access_key`), or a variable a
    mapping set (`DB_PASSWORD`). It is looked up as `sealbox.get_secret` looks (the session folder first,
    then the environment; `sealbox.set_providers` and SEALBOX_PROVIDERS apply), so `mask_logging()` hides
    what it returns. In a Kubernetes job prepared by `sealbox_secrets`, the first call redeems the job's
    credential (`redeem_job_secrets`).
    """

    def __call__(self, key: str) -> str | None:
        if not isinstance(key, str) or not key:
            return None
        redeem_job_secrets()
        for name, field in _split(key):
            value = get_secret(name, field=field, default=None)
            if value is not None:
                return value
        return None

    def __repr__(self) -> str:
        return "sealbox.integrations.mlrun.secret_provider"


secret_provider = SecretProvider()
