"""The CLI's config file (`$SEALBOX_CONFIG`, else ~/.config/sealbox/config.toml, mode 0600): URL and token."""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec

from sealbox.errors import ConfigError
from sealbox.private_files import write_private_file


def config_path() -> Path:
    explicit = os.environ.get("SEALBOX_CONFIG")
    if explicit:
        return Path(explicit)
    from platformdirs import user_config_path

    # On Linux `$XDG_CONFIG_HOME/sealbox`, else ~/.config/sealbox; each platform's own folder elsewhere.
    return user_config_path("sealbox", appauthor=False) / "config.toml"


class CLIConfig(msgspec.Struct, frozen=True):
    url: str
    token: str

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"CLIConfig(url={self.url!r})"


def _on_this_machine(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_url(text: str) -> tuple[str, str | None]:
    """The server URL for what was typed, and a note to show when a scheme had to be assumed.

    Without a scheme, http:// for this machine (localhost, 127.0.0.0/8, ::1: nothing crosses a
    network) and https:// for any other host (TLS, certificate checked), never plain http to another
    machine by guess. Raises ConfigError, naming what is missing or wrong (never echoing the text)."""
    text = text.strip()
    example = "such as http://127.0.0.1:8480 or https://sealbox.example.org"
    note = None
    if "://" not in text:
        try:
            host = urlsplit("//" + text).hostname
        except ValueError:
            host = None
        if not host:
            raise ConfigError(f"the server URL has no host name; give one {example}")
        if _on_this_machine(host):
            text, note = f"http://{text}", "no scheme given: http:// assumed, as the host is this machine"
        else:
            text, note = f"https://{text}", "no scheme given: https:// assumed; give http:// for plain http"
    try:
        parts = urlsplit(text)
        if parts.port == 0:
            raise ValueError("port 0")
    except ValueError:
        raise ConfigError(
            f"the server URL has a port that is not a number from 1 to 65535; give one {example}"
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"the server URL must start with http:// or https://; give one {example}")
    if not parts.hostname:
        raise ConfigError(f"the server URL has no host name; give one {example}")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ConfigError(
            f"the server URL takes no user name, password, query or fragment; give one {example}"
        )
    return urlunsplit(parts._replace(path=parts.path.rstrip("/"))), note


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
    # JSON strings of ASCII text are valid TOML basic strings.
    text = f"url = {json.dumps(config.url)}\ntoken = {json.dumps(config.token)}\n"
    write_private_file(path, text, overwrite=True)
    return path
