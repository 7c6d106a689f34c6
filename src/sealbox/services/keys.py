"""The server's key material: the master keyring and the keeper's public keys, loaded from files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sealbox.crypto.keyring import (
    Keyring,
    decode_key_lines,
    load_keyring,
    read_key_text,
    save_new_keyring,
    write_key_text,
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


class KeeperPublicFile:
    """The keeper's public keys as `keeper.pub` holds them now: re-read whenever the file changes.

    `sealbox admin rotate keeper-key` rewrites the file only after the keeper confirmed (and saved) its
    new key pair, so every server process seals to the new key from its next write on, and never to a
    key the keeper lacks. A file that cannot be read at that moment keeps the keys last read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen = _identity(path)
        self._keys = _read_keeper_public(path)

    def __repr__(self) -> str:
        return f"KeeperPublicFile({self.path})"

    def current(self) -> PublicKeySet:
        seen = _identity(self.path)
        if seen is None or seen == self._seen:
            return self._keys
        with self._lock:
            if seen != self._seen:
                try:
                    self._keys = _read_keeper_public(self.path)
                except (ConfigError, OSError):
                    return self._keys
                self._seen = seen
            return self._keys


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_keeper_public(path: Path) -> PublicKeySet:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"keeper public key {path} not found; start the keeper once "
            "(`sealbox keeper`) and copy its keeper.pub there, or use `sealbox up`"
        ) from None
    return PublicKeySet.from_text(text, source=str(path))


class ServerKeys:
    """The server's keys: the master keyring and the keeper's public keys (each from its file, as it
    changes, when the file is given) and the ticket-signing key."""

    __slots__ = ("_keeper_public", "_master", "keeper_file", "master_file", "signing")

    def __init__(
        self,
        *,
        master: Keyring | None = None,
        keeper_public: PublicKeySet | None = None,
        signing: SigningKey,
        master_file: MasterKeyFile | None = None,
        keeper_file: KeeperPublicFile | None = None,
    ) -> None:
        if master is None and master_file is None:
            raise ValueError("a master keyring or its file is needed")
        if keeper_public is None and keeper_file is None:
            raise ValueError("the keeper's public keys or their file are needed")
        self._master = master
        self.master_file = master_file
        self._keeper_public = keeper_public
        self.keeper_file = keeper_file
        self.signing = signing

    def __repr__(self) -> str:
        return f"ServerKeys(keeper_public={self.keeper_public!r})"

    @property
    def keeper_public(self) -> PublicKeySet:
        if self.keeper_file is not None:
            return self.keeper_file.current()
        assert self._keeper_public is not None
        return self._keeper_public

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
        return cls(
            master_file=MasterKeyFile(master_key_path),
            keeper_file=KeeperPublicFile(keeper_public_key_path),
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
        write_key_text(path, SigningKey.generate().to_text())
    key = load_signing_key(path)
    public = path.with_suffix(".pub")
    if not public.exists() or public.read_text() != key.public_text():
        public.write_text(key.public_text())
        public.chmod(0o644)
    return key


def load_signing_key(path: Path) -> SigningKey:
    return SigningKey.from_entries(decode_key_lines(read_key_text(path), source=str(path)))
