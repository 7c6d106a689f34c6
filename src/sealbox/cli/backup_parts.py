"""The two parts of a backup, as folders: the server part and the keeper part, never one without the other
being needed to open a value (ARCHITECTURE.md: no single service and no copy of the database can).

    server/   backup.json, sealbox.db (SQLite; absent with --keys-only), audit.head,
              master.key, signing.key (0600), signing.pub, keeper.pub
    keeper/   backup.json, keeper.key, wrap.key (0600), keeper.pub, server.pub

The server part is what the server's data dir holds; the keeper part is what the keeper's key dir holds.
Whoever holds both can open every value in the database copy: store them in different places.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sealbox.crypto.keyring import Keyring, decode_key_lines, open_key_text, parse_keyring, read_private_file
from sealbox.errors import KEEPER_PART as KEEPER
from sealbox.errors import SERVER_PART as SERVER
from sealbox.errors import BackupRefused, ConfigError, OpenBaoError
from sealbox.private_files import write_private_file, write_public_file

if TYPE_CHECKING:
    from sealbox.store.backup_check import KeyParts

MANIFEST = "backup.json"
DATABASE = "sealbox.db"
FORMAT = 1
SERVER_PRIVATE = ("master.key", "signing.key")
SERVER_PUBLIC = ("signing.pub", "keeper.pub")
KEEPER_PRIVATE = ("keeper.key", "wrap.key")
KEEPER_PUBLIC = ("keeper.pub", "server.pub")


@dataclass(frozen=True, slots=True)
class Part:
    """One part's files by name, as read: private ones from 0600 files only."""

    name: str  # SERVER or KEEPER
    private: dict[str, str] = field(repr=False)
    public: dict[str, str]

    def write(
        self, folder: Path, *, manifest: dict[str, Any] | None = None, all_private: bool = False
    ) -> None:
        """Write the files into `folder` (made 0700): 0600, the public halves 0644 unless `all_private`."""
        make_private_dir(folder)
        for name, text in self.private.items():
            write_private_file(folder / name, text, overwrite=False)
        for name, text in self.public.items():
            if all_private:
                write_private_file(folder / name, text, overwrite=False)
            else:
                write_public_file(folder / name, text, overwrite=False)
        if manifest is not None:
            body = json.dumps({"format": FORMAT, "part": self.name, **manifest}, indent=2) + "\n"
            write_private_file(folder / MANIFEST, body, overwrite=False)


def make_private_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def require_empty(folder: Path, what: str) -> None:
    """Refuse a target that already holds something: a backup or restore never mixes with other files."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ConfigError(f"{what} {folder} is not a directory")
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{what} {folder} is not empty: give a new or empty directory")


def read_part(name: str, sources: dict[str, Path], private_names: tuple[str, ...]) -> Part:
    """Read a part's files from where they are (`sources`: file name in the part -> path)."""
    private: dict[str, str] = {}
    public: dict[str, str] = {}
    for file_name, path in sources.items():
        if file_name in private_names:
            private[file_name] = read_private_file(path)
        elif path.is_file():
            public[file_name] = path.read_text()
        else:
            raise ConfigError(f"{path} does not exist")
    return Part(name=name, private=private, public=public)


def read_backup_part(folder: Path, name: str) -> tuple[Part, dict[str, Any]]:
    """A part of a backup and its manifest; BackupRefused naming the part when anything is missing."""
    private_names, public_names = (
        (SERVER_PRIVATE, SERVER_PUBLIC) if name == SERVER else (KEEPER_PRIVATE, KEEPER_PUBLIC)
    )
    label = f"the {name} part of the backup"
    if not folder.is_dir():
        raise BackupRefused(name, f"{label} is missing: {folder} is not a directory")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupRefused(
            name, f"{label} is missing or damaged: {folder / MANIFEST} cannot be read"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("part") != name:
        raise BackupRefused(name, f"{folder} is not {label} (its {MANIFEST} names another part or format)")
    for file_name in private_names + public_names:
        if not (folder / file_name).is_file():
            raise BackupRefused(name, f"{label} is missing its {file_name} ({folder / file_name})")
    try:
        part = read_part(name, {n: folder / n for n in private_names + public_names}, private_names)
    except ConfigError as exc:
        raise BackupRefused(name, f"{label} cannot be read: {exc}") from None
    return part, manifest


def key_parts(server: Part, keeper: Part) -> KeyParts:
    """The keys the two parts hold, parsed; BackupRefused naming the part whose file is malformed."""
    from sealbox.crypto.sealing import PrivateKeySet, PublicKeySet  # here: the CLI starts without HPKE
    from sealbox.store.backup_check import KeyParts

    # A key file wrapped by OpenBao Transit is backed up as it is (wrapped); checking it asks OpenBao.
    try:
        master = _keyring(server.private["master.key"], "master.key")
        keeper_public = PublicKeySet.from_text(server.public["keeper.pub"], source="keeper.pub")
    except OpenBaoError as exc:
        raise BackupRefused(SERVER, str(exc)) from None
    except (ConfigError, ValueError):
        raise BackupRefused(SERVER, "the server part's master.key or keeper.pub is malformed") from None
    try:
        private = PrivateKeySet.from_entries(
            decode_key_lines(
                open_key_text(keeper.private["keeper.key"], source="keeper.key"), source="keeper.key"
            )
        )
        wrap = _keyring(keeper.private["wrap.key"], "wrap.key")
    except OpenBaoError as exc:
        raise BackupRefused(KEEPER, str(exc)) from None
    except (ConfigError, ValueError):
        raise BackupRefused(KEEPER, "the keeper part's keeper.key or wrap.key is malformed") from None
    return KeyParts(master=master, keeper_private=private, keeper_wrap=wrap, keeper_public=keeper_public)


def _keyring(text: str, source: str) -> Keyring:
    return parse_keyring(
        open_key_text(text, source=source), source=source
    )  # with the audit-chain keys (`chain:`, `audit:` lines)


def stamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds")
