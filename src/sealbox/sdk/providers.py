"""Where `get_secret()` looks, in order: the mounted folder, environment variables, a KEY=VALUE file, inline.

Default order: folder, env, file (MLRun's provider chain, with the mounted folder first because files
are the safer delivery). Change it with `sealbox.set_providers([...])` or SEALBOX_PROVIDERS="folder,env".
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sealbox.errors import BinarySecretError

DEFAULT_FOLDERS = ("/secrets",)
_MANIFEST = "@sealbox.json"
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


class Provider(Protocol):
    name: str

    def describe(self) -> str:
        """Where this provider looks, for the SecretNotFound message."""
        ...

    def get(self, key: str, field: str | None) -> str | None:
        """The value, or None when this provider does not have it."""
        ...


def _safe(name: str) -> bool:
    return bool(_SAFE_NAME.fullmatch(name)) and name not in {".", ".."}


@dataclass
class FolderProvider:
    """Files written by `sealbox run` or an init container: `DIR/NAME`, or `DIR/NAME/FIELD` for fields."""

    folders: tuple[Path, ...] | None = None
    name: str = "folder"

    def search_folders(self) -> tuple[Path, ...]:
        if self.folders is not None:
            return self.folders
        mounted = os.environ.get("SEALBOX_SECRETS_DIR")
        return tuple(Path(p) for p in ((mounted,) if mounted else ()) + DEFAULT_FOLDERS)

    def describe(self) -> str:
        return "folders " + ", ".join(str(f) for f in self.search_folders())

    def _file_for(self, folder: Path, key: str, field: str | None) -> Path | None:
        """Follow the manifest when the secret was mounted under another file name."""
        try:
            manifest = json.loads((folder / "..data" / _MANIFEST).read_text())
        except (OSError, ValueError):
            manifest = None
        if isinstance(manifest, dict):
            for entry in manifest.get("files", []):
                if (
                    entry.get("secret") == key
                    and entry.get("field") == field
                    and _safe(str(entry.get("file")))
                ):
                    return folder / str(entry["file"])
                if (
                    entry.get("secret") == key
                    and entry.get("field") is None
                    and field is not None
                    and _safe(str(entry.get("file")))
                ):
                    return folder / str(entry["file"]) / field
        if field is None:
            return folder / key
        return folder / key / field

    def get(self, key: str, field: str | None) -> str | None:
        if not _safe(key) or (field is not None and not _safe(field)):
            return None
        for folder in self.search_folders():
            path = self._file_for(folder, key, field)
            if path is not None and path.is_file():
                try:
                    return path.read_bytes().decode("utf-8")
                except UnicodeDecodeError:
                    raise BinarySecretError(key, path) from None
        return None


@dataclass
class EnvProvider:
    """Variables from `sealbox run --env` (found via SEALBOX_ENV_MAP), else a variable named like the key."""

    environ: Mapping[str, str] | None = None
    name: str = "env"

    def _env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    def describe(self) -> str:
        return "environment variables"

    def get(self, key: str, field: str | None) -> str | None:
        env = self._env()
        ref = key if field is None else f"{key}.{field}"
        try:
            mapped = json.loads(env.get("SEALBOX_ENV_MAP", "{}"))
        except ValueError:
            mapped = {}
        if isinstance(mapped, dict) and ref in mapped and mapped[ref] in env:
            return env[str(mapped[ref])]
        for candidate in (ref, ref.replace(".", "_").replace("-", "_").upper()):
            if candidate in env:
                return env[candidate]
        return None


@dataclass
class FileProvider:
    """A `KEY=VALUE` file (dotenv style; `KEY.FIELD=VALUE` for fields): SEALBOX_SECRETS_FILE or a path."""

    path: Path | None = None
    name: str = "file"

    def _path(self) -> Path | None:
        if self.path is not None:
            return self.path
        configured = os.environ.get("SEALBOX_SECRETS_FILE")
        return Path(configured) if configured else None

    def describe(self) -> str:
        path = self._path()
        return f"file {path}" if path else "no KEY=VALUE file (SEALBOX_SECRETS_FILE unset)"

    def get(self, key: str, field: str | None) -> str | None:
        path = self._path()
        if path is None or not path.is_file():
            return None
        ref = key if field is None else f"{key}.{field}"
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = line.split("=", 1)
            name = name.strip().removeprefix("export ").strip()
            if name == ref:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                return value
        return None


@dataclass
class InlineProvider:
    """Values given in code. For tests and demos only: the values sit in your source or notebook."""

    values: dict[str, str] = field(default_factory=dict, repr=False)
    name: str = "inline"

    def describe(self) -> str:
        return "inline values"

    def get(self, key: str, field: str | None) -> str | None:
        return self.values.get(key if field is None else f"{key}.{field}")


OUTSIDE_A_SESSION = "no session here: run it inside `sealbox run` or a session started with secrets"


def outside_session_hint() -> str | None:
    """The hint for SecretNotFound when nothing says this process is in a session: no SEALBOX_SECRETS_DIR
    or SEALBOX_SESSION_ID, and none of the default folders exists."""
    if os.environ.get("SEALBOX_SECRETS_DIR") or os.environ.get("SEALBOX_SESSION_ID"):
        return None
    if any(Path(folder).exists() for folder in DEFAULT_FOLDERS):
        return None
    return OUTSIDE_A_SESSION


def providers_from_env() -> list[Provider]:
    names = os.environ.get("SEALBOX_PROVIDERS", "folder,env,file")
    known: dict[str, type[FolderProvider] | type[EnvProvider] | type[FileProvider]] = {
        "folder": FolderProvider,
        "env": EnvProvider,
        "file": FileProvider,
    }
    chain: list[Provider] = []
    for name in (n.strip() for n in names.split(",")):
        if name in known:
            chain.append(known[name]())
    return chain
