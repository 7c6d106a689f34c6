"""The keeper's key directory: its X25519 private keys, its symmetric wrap keys, and the public file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sealbox.crypto.keyring import (
    Keyring,
    decode_key_lines,
    load_keyring,
    read_private_file,
    save_new_keyring,
    write_private_file,
)
from sealbox.crypto.sealing import PrivateKeySet
from sealbox.errors import ConfigError
from sealbox.private_files import write_public_file

PRIVATE_FILE = "keeper.key"
WRAP_FILE = "wrap.key"
PUBLIC_FILE = "keeper.pub"


@dataclass(frozen=True, slots=True)
class KeeperKeys:
    private: PrivateKeySet = field(repr=False)
    wrap: Keyring = field(repr=False)


def ensure_key_dir(directory: Path) -> KeeperKeys:
    """Load the keeper's keys, generating them on first start; the directory is kept at 0700."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = directory.stat()
    if st.st_uid != os.getuid():
        raise ConfigError(f"keeper directory {directory} is not owned by this user")
    if st.st_mode & 0o077:
        os.chmod(directory, 0o700)
    private_path = directory / PRIVATE_FILE
    if not private_path.exists():
        write_private_file(private_path, PrivateKeySet.generate().to_text())
    wrap_path = directory / WRAP_FILE
    if not wrap_path.exists():
        save_new_keyring(wrap_path, Keyring.generate())
    private = PrivateKeySet.from_entries(
        decode_key_lines(read_private_file(private_path), source=str(private_path))
    )
    public_path = directory / PUBLIC_FILE
    public_text = private.public().to_text()
    if not public_path.exists() or public_path.read_text() != public_text:
        write_public_file(public_path, public_text, overwrite=True)
    return KeeperKeys(private=private, wrap=load_keyring(wrap_path))
