"""Key sets with public ids, current key first, read from and written to 0600 files."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Protocol

import msgspec

from sealbox import private_files
from sealbox.errors import ConfigError

KEY_ID_BYTES = 8
SYMMETRIC_KEY_BYTES = 32


def new_key_id() -> bytes:
    """A random public key id; random so that an id is never reused, even for a returning key."""
    return secrets.token_bytes(KEY_ID_BYTES)


class Keyring(msgspec.Struct, frozen=True):
    """Raw keys by id. The first is the one new ciphertexts use; the rest still open old ones.

    `chain_only` holds, for each retired master key, only the audit-chain key derived from it
    (`crypto.chain`), by the same id: it opens no ciphertext, but audit records tagged under that
    id still verify after the key itself is gone. It is written as `chain:<id>:<key>` lines.

    `audit` holds the audit-chain keys `sealbox admin rotate audit-key` made, the current one first
    (`audit:<id>:<key>` lines): once there is one, it tags new audit records instead of the key
    derived from the current master key. They open no ciphertext either.
    """

    keys: tuple[tuple[bytes, bytes], ...]
    chain_only: tuple[tuple[bytes, bytes], ...] = ()
    audit: tuple[tuple[bytes, bytes], ...] = ()

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigError("a keyring needs at least one key")
        for kid, key in (*self.keys, *self.chain_only, *self.audit):
            if len(kid) != KEY_ID_BYTES:
                raise ValueError(f"key ids must be {KEY_ID_BYTES} bytes")
            if len(key) != SYMMETRIC_KEY_BYTES:
                raise ValueError(f"keys must be {SYMMETRIC_KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return f"Keyring(ids={[kid.hex() for kid, _ in self.keys]})"

    @classmethod
    def generate(cls) -> Keyring:
        return cls(keys=((new_key_id(), secrets.token_bytes(SYMMETRIC_KEY_BYTES)),))

    @property
    def current_id(self) -> bytes:
        return self.keys[0][0]

    @property
    def current(self) -> bytes:
        return self.keys[0][1]

    def find(self, kid: bytes) -> bytes | None:
        for known, key in self.keys:
            if known == kid:
                return key
        return None

    def rotated(self) -> Keyring:
        """A keyring with a fresh current key; the old ones stay for reading."""
        fresh = (new_key_id(), secrets.token_bytes(SYMMETRIC_KEY_BYTES))
        return Keyring(keys=(fresh, *self.keys), chain_only=self.chain_only, audit=self.audit)

    def with_new_audit_key(self) -> Keyring:
        """This keyring with a fresh current audit-chain key; the earlier ones stay to verify."""
        fresh = (new_key_id(), secrets.token_bytes(SYMMETRIC_KEY_BYTES))
        return Keyring(keys=self.keys, chain_only=self.chain_only, audit=(fresh, *self.audit))

    def without_audit_keys(self, retired: set[bytes]) -> Keyring:
        """This keyring less the `retired` audit keys (never the current one)."""
        if self.audit and self.audit[0][0] in retired:
            raise ValueError("the current audit key cannot be retired")
        kept = tuple((kid, key) for kid, key in self.audit if kid not in retired)
        return Keyring(keys=self.keys, chain_only=self.chain_only, audit=kept)

    def without(self, retired: set[bytes], chain_keys: dict[bytes, bytes]) -> Keyring:
        """This keyring less the `retired` (never the current) ids; `chain_keys` gives, by id, the
        audit-chain key each retired key leaves behind."""
        if self.current_id in retired:
            raise ValueError("the current key cannot be retired")
        kept = tuple((kid, key) for kid, key in self.keys if kid not in retired)
        left = tuple((kid, chain_keys[kid]) for kid, _ in self.keys if kid in retired)
        return Keyring(keys=kept, chain_only=(*self.chain_only, *left), audit=self.audit)


CHAIN_PREFIX = "chain:"
AUDIT_PREFIX = "audit:"


def _prefixed(prefix: str, entries: tuple[tuple[bytes, bytes], ...]) -> str:
    return "".join(prefix + line for line in encode_key_lines(list(entries)).splitlines(True))


def encode_keyring(ring: Keyring) -> str:
    """A keyring file's text: its keys, current first, then its chain-only and audit-key lines."""
    return (
        encode_key_lines(list(ring.keys))
        + _prefixed(CHAIN_PREFIX, ring.chain_only)
        + _prefixed(AUDIT_PREFIX, ring.audit)
    )


def encode_key_lines(entries: list[tuple[bytes, bytes]]) -> str:
    return "".join(f"{kid.hex()}:{base64.b64encode(key).decode()}\n" for kid, key in entries)


def decode_key_lines(text: str, *, source: str) -> list[tuple[bytes, bytes]]:
    entries: list[tuple[bytes, bytes]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            kid_hex, key_b64 = line.split(":", 1)
            entries.append((bytes.fromhex(kid_hex), base64.b64decode(key_b64, validate=True)))
        except ValueError:
            # The message names the file, never the line: the line is key material.
            raise ConfigError(f"{source}: malformed key line") from None
    if not entries:
        raise ConfigError(f"{source}: holds no key")
    return entries


def write_private_file(path: Path, text: str, *, replace: bool = False) -> None:
    """Write a key file (0600) in a folder made private if missing, through `sealbox.private_files`.

    Without `replace` an existing file is refused (a key is never clobbered); with it, it is swapped.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_files.write_private_file(path, text, overwrite=replace)


def read_private_file(path: Path) -> str:
    """Read a key file: not through a symlink, owned by this user, readable by no one else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ConfigError(f"key file {path} does not exist") from None
    except OSError:
        raise ConfigError(f"key file {path} cannot be opened (a symlink?)") from None
    with os.fdopen(fd) as fh:
        st = os.fstat(fh.fileno())
        if st.st_uid != os.getuid():
            raise ConfigError(f"key file {path} is not owned by this user")
        if st.st_mode & 0o077:
            raise ConfigError(f"key file {path} is readable by others; chmod 600 it")
        return fh.read()


# A key file whose key another system holds (OpenBao/Vault Transit) starts with this line; the rest names
# the Transit key and holds the ciphertext. Opening one takes the wrapping the process installed at start
# (`use_key_file_wrapping`, from sealbox.openbao.transit: cli/main.py, server/app.py); without it such a
# file is refused. It is never read as key lines, and nothing falls back to a plaintext key.
WRAPPED_MARK = "# sealbox key file wrapped by OpenBao Transit"


class KeyFileWrapping(Protocol):
    def unwrap(self, text: str, *, source: str) -> str:
        """The key file's plaintext text; raises ConfigError (OpenBao sealed, unreachable, refused)."""

    def rewrap(self, old_text: str, new_text: str, *, source: str) -> str:
        """`new_text` wrapped as `old_text` is (same Transit key and purpose); raises ConfigError."""


_wrapping: list[KeyFileWrapping] = []


def use_key_file_wrapping(wrapping: KeyFileWrapping) -> None:
    """Open (and rewrite) wrapped key files through `wrapping` in this process from now on."""
    _wrapping[:] = [wrapping]


def is_wrapped(text: str) -> bool:
    return text.startswith(WRAPPED_MARK)


def _wrapping_for(source: object) -> KeyFileWrapping:
    if not _wrapping:
        raise ConfigError(f"key file {source} is wrapped by OpenBao Transit, which this program cannot open")
    return _wrapping[0]


def open_key_text(text: str, *, source: str) -> str:
    """A key file's text as read, unwrapped through OpenBao Transit when it is wrapped."""
    return _wrapping_for(source).unwrap(text, source=source) if is_wrapped(text) else text


def read_key_text(path: Path) -> str:
    """A key file's text (`read_private_file`), unwrapped through OpenBao Transit when it is wrapped."""
    return open_key_text(read_private_file(path), source=str(path))


def write_key_text(path: Path, text: str, *, replace: bool = False) -> None:
    """Write a key file (`write_private_file`); one that replaces a wrapped file is wrapped the same way."""
    if replace and path.exists():
        old = read_private_file(path)
        if is_wrapped(old):
            text = _wrapping_for(path).rewrap(old, text, source=str(path))
    write_private_file(path, text, replace=replace)


def load_keyring(path: Path) -> Keyring:
    return parse_keyring(read_key_text(path), source=str(path))


def parse_keyring(text: str, *, source: str) -> Keyring:
    """A keyring file's text (`encode_keyring`) read back: keys, `chain:` and `audit:` lines."""
    lines = text.splitlines(True)
    key_text = "".join(line for line in lines if not _is(CHAIN_PREFIX, line) and not _is(AUDIT_PREFIX, line))
    try:
        return Keyring(
            keys=tuple(decode_key_lines(key_text, source=source)),
            chain_only=_decode_prefixed(CHAIN_PREFIX, lines, source),
            audit=_decode_prefixed(AUDIT_PREFIX, lines, source),
        )
    except ValueError:
        raise ConfigError(f"{source}: a key id or key has the wrong length") from None


def _is(prefix: str, line: str) -> bool:
    return line.strip().startswith(prefix)


def _decode_prefixed(prefix: str, lines: list[str], source: str) -> tuple[tuple[bytes, bytes], ...]:
    text = "".join(line.strip()[len(prefix) :] + "\n" for line in lines if _is(prefix, line))
    return tuple(decode_key_lines(text, source=source)) if text else ()


def save_new_keyring(path: Path, ring: Keyring) -> None:
    write_key_text(path, encode_keyring(ring))


def replace_keyring(path: Path, ring: Keyring) -> None:
    """Swap the keyring file for `ring`, atomically (a reader sees the old file or the new, whole)."""
    write_key_text(path, encode_keyring(ring), replace=True)
