"""Settings for the server and the keeper, read from flags and `SEALBOX_*` environment variables.

Nothing here is read at import time: `ServerSettings.from_env()` builds one when a process starts.
Key material is only ever read from files whose paths the settings name, never from an
environment value, so no key sits in a process environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from sealbox.errors import ConfigError


def default_data_dir() -> Path:
    """The user's data folder for sealbox: on Linux `$XDG_DATA_HOME/sealbox`, else ~/.local/share/sealbox."""
    from platformdirs import user_data_path

    return user_data_path("sealbox", appauthor=False)


def keeper_dir_for(data_dir: Path) -> Path:
    """The keeper's key directory beside a data directory: `<data_dir>-keeper`, never inside it."""
    return data_dir.with_name(data_dir.name + "-keeper")


def default_keeper_dir() -> Path:
    return keeper_dir_for(default_data_dir())


MAX_DEFAULT_WORKERS = 8  # each worker has its own connection pool and ~90 MB: more only when asked
SERVER_MAIN_PID_VAR = "SEALBOX_SERVER_MAIN_PID"  # set by `sealbox server` for its workers (not a setting)


def default_workers() -> int:
    """One server process per CPU this process may run on (a worker runs one request's Python at a
    time), at most `MAX_DEFAULT_WORKERS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus))


def _bound(field: FieldInfo, name: str) -> object | None:
    return next((getattr(m, name) for m in field.metadata if getattr(m, name, None) is not None), None)


def describe_setting(field: FieldInfo) -> str:
    """What a setting takes, from its declaration only (never from the value that was given)."""
    if field.description:
        return field.description
    if field.annotation is int:
        low, high = _bound(field, "ge"), _bound(field, "le")
        if low is not None and high is not None:
            return f"an integer from {low} to {high}"
        if low is not None:
            return f"an integer of at least {low}"
        return "an integer"
    if field.annotation is bool:
        return "true or false"
    if field.annotation in (Path, Path | None):
        return "a path"
    return "text"


class _Settings(BaseSettings):
    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Settings from `SEALBOX_*` and the given flags (None: not given). A value out of range is one
        ConfigError naming the setting and what it takes."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first.get("loc") else ""
            field = cls.model_fields.get(name)
            if field is None:
                raise ConfigError("a setting is not valid") from None
            prefix = str(cls.model_config.get("env_prefix", ""))
            raise ConfigError(f"{prefix}{name.upper()} must be {describe_setting(field)}") from None


LOG_LEVEL = Field(
    default="info",
    pattern=r"^(?i:debug|info|warning|error|critical)$",
    description="one of debug, info, warning, error, critical",
)
LOG_FORMAT = Field(default="text", pattern=r"^(?i:text|json)$", description="text or json")


class ServerSettings(_Settings):
    """The server's settings; each field is `SEALBOX_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SEALBOX_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: SQLite file sealbox.db in data_dir
    master_key_path: Path | None = None  # default: data_dir/master.key
    keeper_public_key_path: Path | None = None  # default: data_dir/keeper.pub
    signing_key_path: Path | None = None  # default: data_dir/signing.key (its public half: signing.pub)
    keeper_url: str | None = None  # default: unix://<data_dir>-keeper/keeper.sock
    host: str = Field(default="127.0.0.1", min_length=1, max_length=255, description="a host name or address")
    port: int = Field(default=8480, ge=1, le=65535)
    max_value_bytes: int = Field(default=64 * 1024, ge=1, le=1024 * 1024)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    versions_kept: int = Field(default=10, ge=1, le=1000)
    # How long a deleted secret stays restorable before it is removed for good (7 days; 1 s to 90 days).
    recovery_window_seconds: int = Field(default=7 * 86400, ge=1, le=90 * 86400)
    log_level: str = LOG_LEVEL
    log_format: str = LOG_FORMAT  # json: one JSON object per log line (server/logs.py)
    workers: int = Field(default_factory=default_workers, ge=1, le=64)
    # Limits on clients (docs/configuration.md): seconds for a request's headers (also how long an idle
    # keep-alive connection stays open), seconds for a whole body, open connections per server process.
    header_read_timeout: int = Field(default=10, ge=1, le=60)
    body_read_timeout: int = Field(default=30, ge=1, le=600)
    max_connections: int = Field(default=512, ge=16, le=65536)

    public_keeper_url: str | None = None  # the keeper address sessions use; default: keeper_url
    oidc_issuer: str | None = None  # OpenID Connect: accept bearer JWTs from this issuer
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None  # default: from the issuer's discovery document
    oidc_username_claim: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    trusted_proxies: str = ""  # comma-separated addresses/CIDRs allowed to send the user header
    proxy_user_header: str = "X-Forwarded-User"
    oidc_client_id: str | None = None  # the web pages' sign-in with the issuer (authorization-code flow)
    oidc_client_secret_path: Path | None = None  # a file holding the client secret (never an env value)
    # GET /metrics takes an admin's token, or the one held in this file (a scraper's own, never an env value)
    metrics_token_path: Path | None = None
    auth_failure_limit: int = Field(default=20, ge=1, le=10_000)  # failed attempts per minute per IP/identity
    # The web page "Start with secrets" links to `{jupyterhub_url}/hub/spawn?sealbox_secret=...` when set.
    jupyterhub_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s?#]+$",
        max_length=2048,
        description="an http:// or https:// URL without query or fragment, at most 2048 characters",
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+pysqlite:///{self.data_dir / 'sealbox.db'}"

    @property
    def resolved_master_key_path(self) -> Path:
        return self.master_key_path or self.data_dir / "master.key"

    @property
    def resolved_keeper_public_key_path(self) -> Path:
        return self.keeper_public_key_path or self.data_dir / "keeper.pub"

    @property
    def resolved_signing_key_path(self) -> Path:
        return self.signing_key_path or self.data_dir / "signing.key"

    @property
    def resolved_keeper_url(self) -> str:
        return self.keeper_url or f"unix://{keeper_dir_for(self.data_dir) / 'keeper.sock'}"


class KeeperSettings(_Settings):
    """The keeper's settings: `SEALBOX_KEEPER_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SEALBOX_KEEPER_", extra="ignore")

    dir: Path = Field(default_factory=default_keeper_dir)
    listen: str | None = None  # unix:///path.sock (default: keeper.sock in dir) or tcp://host:port
    server_key_path: Path | None = None  # the server's ticket-verification key; default dir/server.pub
    log_level: str = LOG_LEVEL
    log_format: str = LOG_FORMAT

    @property
    def resolved_server_key_path(self) -> Path:
        return self.server_key_path or self.dir / "server.pub"

    @property
    def resolved_listen(self) -> str:
        return self.listen or f"unix://{self.dir / 'keeper.sock'}"
