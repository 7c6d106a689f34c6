"""The server's key material: the master keyring and the keeper's public keys, loaded from files."""

from __future__ import annotations

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
from sealbox.crypto.sealing import PublicKeySet
from sealbox.crypto.session_keys import SigningKey
from sealbox.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ServerKeys:
    master: Keyring = field(repr=False)
    keeper_public: PublicKeySet
    signing: SigningKey = field(repr=False)

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
            master=load_keyring(master_key_path),
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
