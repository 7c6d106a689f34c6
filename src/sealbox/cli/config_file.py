"""The CLI's config file (`$SEALBOX_CONFIG`, else ~/.config/sealbox/config.toml, mode 0600): URL and token."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sealbox.errors import ConfigError


def config_path() -> Path:
    explicit = os.environ.get("SEALBOX_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sealbox" / "config.toml"


@dataclass(frozen=True, slots=True)
class CLIConfig:
    url: str
    token: str = field(repr=False)


def load() -> CLIConfig:
    path = config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"not logged in: no {path}; run `sealbox up` or `sealbox login URL`") from None
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"{path} is not valid TOML") from None
    url, token = data.get("url"), data.get("token")
    if not isinstance(url, str) or not isinstance(token, str):
        raise ConfigError(f"{path} needs url and token")
    return CLIConfig(url=url, token=token)


def save(config: CLIConfig) -> Path:
    """Write the config atomically with mode 0600 (it holds a token)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        # JSON strings of ASCII text are valid TOML basic strings.
        fh.write(f"url = {json.dumps(config.url)}\ntoken = {json.dumps(config.token)}\n")
    os.replace(tmp, path)
    return path
