"""The keeper's key directory: its X25519 private keys, its symmetric wrap keys, and the public file.

Rotation (`KeyDirectory.rotate`) writes the new wrap key first and the new key pair second, each file
swapped atomically: a keeper killed between the two has a new wrap key and its old key pair, which the
next rotation request treats as not rotated yet (it makes another pair; the extra wrap key is harmless).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sealbox.crypto.keyring import (
    Keyring,
    decode_key_lines,
    load_keyring,
    read_key_text,
    replace_keyring,
    save_new_keyring,
    write_key_text,
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
    return _load(directory)


def _load(directory: Path) -> KeeperKeys:
    private_path = directory / PRIVATE_FILE
    if not private_path.exists():
        write_key_text(private_path, PrivateKeySet.generate().to_text())
    wrap_path = directory / WRAP_FILE
    if not wrap_path.exists():
        save_new_keyring(wrap_path, Keyring.generate())
    private = PrivateKeySet.from_entries(
        decode_key_lines(read_key_text(private_path), source=str(private_path))
    )
    public_path = directory / PUBLIC_FILE
    public_text = private.public().to_text()
    if not public_path.exists() or public_path.read_text() != public_text:
        write_public_file(public_path, public_text, overwrite=True)
    return KeeperKeys(private=private, wrap=load_keyring(wrap_path))


class KeyDirectory:
    """The keeper's keys as its directory holds them, swapped whole by a rotation or a retirement."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self.keys = ensure_key_dir(directory)

    def rotate(self, from_key_id: bytes) -> bool | None:
        """A new key pair and wrap key, current, when `from_key_id` is the current pair's id (True);
        False when it is an older one (the rotation it asks for is done); None when unknown."""
        with self._lock:
            ids = [kid for kid, _ in self.keys.private.keys]
            if from_key_id not in ids:
                return None
            if ids[0] != from_key_id:
                return False
            replace_keyring(self.directory / WRAP_FILE, self.keys.wrap.rotated())
            fresh = PrivateKeySet.generate().keys[0]
            rotated = PrivateKeySet(keys=(fresh, *self.keys.private.keys))
            write_key_text(self.directory / PRIVATE_FILE, rotated.to_text(), replace=True)
            self.keys = _load(self.directory)
            return True

    def retire(self, key_id: bytes, wrap_key_id: bytes) -> bool:
        """Keep only the current pair and wrap key, when they are the ones named; False otherwise."""
        with self._lock:
            private, wrap = self.keys.private, self.keys.wrap
            if private.keys[0][0] != key_id or wrap.current_id != wrap_key_id:
                return False
            replace_keyring(self.directory / WRAP_FILE, Keyring(keys=wrap.keys[:1]))
            kept = PrivateKeySet(keys=private.keys[:1])
            write_key_text(self.directory / PRIVATE_FILE, kept.to_text(), replace=True)
            self.keys = _load(self.directory)
            return True
