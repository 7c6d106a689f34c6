"""The server's key material: the master keyring and the keeper's public keys, loaded from files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sealbox.crypto.keyring import Keyring, load_keyring, save_new_keyring
from sealbox.crypto.sealing import PublicKeySet
from sealbox.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ServerKeys:
    master: Keyring = field(repr=False)
    keeper_public: PublicKeySet

    @classmethod
    def load(cls, *, master_key_path: Path, keeper_public_key_path: Path) -> ServerKeys:
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
        )


def ensure_master_key(path: Path) -> bool:
    """Create a master key file (0600) unless one exists; True when it was created."""
    if path.exists():
        return False
    save_new_keyring(path, Keyring.generate())
    return True
