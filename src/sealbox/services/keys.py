"""The server's key material: the master keyring and the keeper's public keys, loaded from files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sealbox.crypto.keyring import (
    Keyring,
    decode_key_lines,
    load_keyring,
    read_private_file,
    save_new_keyring,
    write_private_file,
)
from sealbox.crypto.sealing import PublicKeySet
from sealbox.crypto.session_keys import SigningKey
from sealbox.errors import ConfigError


class MasterKeyFile:
    """The master keyring as its file holds it now: re-read whenever the file changes.

    `sealbox admin rotate master-key` swaps the file atomically (rename) and then re-wraps rows; each
    use of the master key checks the file's identity (inode, size, mtime: one stat, no read), so every
    server process and worker takes a new current key for its next wrap without a restart. The
    rotation's correctness does not rest on the timing: a row a slow worker wraps under an old key is
    found by the re-wrap's next pass, which loops until none is left, and retiring re-counts.
    A file that cannot be read at that moment keeps the keyring last read (the error is raised at start).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen = self._identity()
        self._ring = load_keyring(path)

    def __repr__(self) -> str:
        return f"MasterKeyFile({self.path})"

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def current(self) -> Keyring:
        seen = self._identity()
        if seen is None or seen == self._seen:
            return self._ring
        with self._lock:
            if seen != self._seen:
                try:
                    self._ring = load_keyring(self.path)
                except ConfigError:
                    return self._ring  # caught mid-change or broken: keep the last good one
                self._seen = seen
            return self._ring


class ServerKeys:
    """The server's keys: the master keyring (from its file, as it changes, when `master_file` is
    given), the keeper's public keys and the ticket-signing key."""

    __slots__ = ("_master", "keeper_public", "master_file", "signing")

    def __init__(
        self,
        *,
        master: Keyring | None = None,
        keeper_public: PublicKeySet,
        signing: SigningKey,
        master_file: MasterKeyFile | None = None,
    ) -> None:
        if master is None and master_file is None:
            raise ValueError("a master keyring or its file is needed")
        self._master = master
        self.master_file = master_file
        self.keeper_public = keeper_public
        self.signing = signing

    def __repr__(self) -> str:
        return f"ServerKeys(keeper_public={self.keeper_public!r})"

    @property
    def master(self) -> Keyring:
        if self.master_file is not None:
            return self.master_file.current()
        assert self._master is not None
        return self._master

    @classmethod
    def load(
        cls, *, master_key_path: Path, keeper_public_key_path: Path, signing_key_path: Path
    ) -> ServerKeys:
        try:
            text = keeper_public_key_path.read_text()
        except FileNotFoundError:
            raise ConfigError(
                f"keeper public key {keeper_public_key_path} not found; start the keeper once "
                "(`sealbox keeper`) and copy its keeper.pub there, or use `sealbox up`"
            ) from None
        return cls(
            master_file=MasterKeyFile(master_key_path),
            keeper_public=PublicKeySet.from_text(text, source=str(keeper_public_key_path)),
            signing=load_signing_key(signing_key_path),
        )


def ensure_master_key(path: Path) -> bool:
    """Create a master key file (0600) unless one exists; True when it was created."""
    if path.exists():
        return False
    save_new_keyring(path, Keyring.generate())
    return True


def ensure_signing_key(path: Path) -> SigningKey:
    """The server's ticket-signing key (0600), created on first use; its public half goes beside it (.pub)."""
    if not path.exists():
        write_private_file(path, SigningKey.generate().to_text())
    key = load_signing_key(path)
    public = path.with_suffix(".pub")
    if not public.exists() or public.read_text() != key.public_text():
        public.write_text(key.public_text())
        public.chmod(0o644)
    return key


def load_signing_key(path: Path) -> SigningKey:
    return SigningKey.from_entries(decode_key_lines(read_private_file(path), source=str(path)))
