"""Does a backup's key material open its rows? Tried on the rows themselves, not judged by file presence.

Each part is tried on its own, as its service would use it, and no value is ever formed: the server
part's master key must unwrap the user keys, and those the data keys, of the rows tried; the keeper
part's keys must remove the outer layer of the same rows (what the keeper does at a launch: what comes
out is the inner ciphertext, which it cannot open). For every key id the rows name, a few rows under
that id are tried, so a part that lacks one key of a rotated keyring is found out too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from sealbox.crypto.envelope import key_id_of
from sealbox.crypto.keyring import Keyring
from sealbox.crypto.sealing import PrivateKeySet, PublicKeySet, open_outer
from sealbox.crypto.wrapping import UserKey, outer_context, unwrap_data_key, unwrap_user_key
from sealbox.errors import KEEPER_PART as KEEPER
from sealbox.errors import SERVER_PART as SERVER
from sealbox.errors import BackupRefused, DecryptionError
from sealbox.store.tables import previous_user_keys, secret_versions, secrets, users

ROWS_PER_KEY = 20  # rows tried under each key id the database names


@dataclass(frozen=True, slots=True)
class KeyParts:
    """The two halves of a backup's key material, loaded; the server's keeper.pub is what it seals to."""

    master: Keyring = field(repr=False)
    keeper_private: PrivateKeySet = field(repr=False)
    keeper_wrap: Keyring = field(repr=False)
    keeper_public: PublicKeySet


@dataclass(frozen=True, slots=True)
class RowCheck:
    user_keys: int  # user keys unwrapped with the server part's master key
    versions: int  # secret versions whose data key and outer layer both opened


def check_rows(conn: Connection, parts: KeyParts, *, per_key: int = ROWS_PER_KEY) -> RowCheck:
    """Raise BackupRefused naming the part whose keys fail on the rows; else how many rows opened."""
    user_keys = _open_user_keys(conn, parts.master, per_key)
    versions = _open_versions(conn, parts, user_keys, per_key)
    _keeper_holds_what_the_server_seals_to(parts)  # also with no rows yet: new writes must open too
    return RowCheck(user_keys=len(user_keys), versions=versions)


def _open_user_keys(conn: Connection, master: Keyring, per_key: int) -> dict[str, UserKey]:
    opened: dict[str, UserKey] = {}
    key_ids = conn.execute(select(users.c.master_key_id).distinct()).scalars().all()
    for kid in key_ids:
        rows = conn.execute(
            select(users.c.id, users.c.user_key)
            .where(users.c.master_key_id == kid, users.c.removed_at.is_(None))  # a removed user has no key
            .order_by(func.random())
            .limit(per_key)
        ).all()
        for user_id, wrapped in rows:
            try:
                opened[user_id] = unwrap_user_key(master, wrapped, user_id=user_id)
            except DecryptionError:
                raise BackupRefused(
                    SERVER,
                    f"the server part's master key does not open this backup's rows: the user keys under "
                    f"master key id {kid} do not unwrap (its master.key is from another install, or lacks "
                    "that key)",
                ) from None
    return opened


def _previous_user_key(conn: Connection, master: Keyring, owner_id: str, kid: bytes) -> UserKey:
    wrapped = conn.execute(
        select(previous_user_keys.c.user_key).where(
            previous_user_keys.c.user_id == owner_id, previous_user_keys.c.key_id == kid.hex()
        )
    ).scalar_one_or_none()
    if wrapped is None:
        raise DecryptionError
    return unwrap_user_key(master, bytes(wrapped), user_id=owner_id)


def _keeper_holds_what_the_server_seals_to(parts: KeyParts) -> None:
    for kid, public in parts.keeper_public.keys[:1]:  # the current one: new writes are sealed to it
        private = parts.keeper_private.find(kid)
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        if private is None or private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) != raw:
            raise BackupRefused(
                KEEPER,
                f"the keeper part lacks the private key of keeper public key {kid.hex()}, which new values "
                "are sealed to (its keeper keys are from another install)",
            )


def _open_versions(conn: Connection, parts: KeyParts, user_keys: dict[str, UserKey], per_key: int) -> int:
    tried = 0
    key_ids = conn.execute(select(secret_versions.c.keeper_key_id).distinct()).scalars().all()
    for kid in key_ids:
        rows = conn.execute(
            select(
                secret_versions.c.secret_id,
                secret_versions.c.version,
                secrets.c.owner_id,
                # The owner id the contexts bind: the writer's, for a secret transferred since.
                func.coalesce(secret_versions.c.context_owner_id, secrets.c.owner_id),
                secret_versions.c.wrapped_dek,
                secret_versions.c.outer,
                users.c.user_key,
            )
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .join(users, users.c.id == secrets.c.owner_id)
            .where(secret_versions.c.keeper_key_id == kid)
            .order_by(func.random())
            .limit(per_key)
        ).all()
        for secret_id, version, owner_id, bound, wrapped_dek, outer, wrapped_user_key in rows:
            ids = {"secret_id": secret_id, "version": version, "owner_id": bound}
            try:
                user_key = user_keys.get(owner_id) or unwrap_user_key(
                    parts.master, wrapped_user_key, user_id=owner_id
                )
                if key_id_of(wrapped_dek) != user_key.kid:  # a user-key rotation not yet finished
                    user_key = _previous_user_key(conn, parts.master, owner_id, key_id_of(wrapped_dek))
                unwrap_data_key(user_key, wrapped_dek, **ids)
            except DecryptionError:
                raise BackupRefused(
                    SERVER,
                    f"the server part's keys do not open this backup's rows: the data key of version "
                    f"{version} of secret {secret_id} does not unwrap",
                ) from None
            try:
                open_outer(parts.keeper_private, parts.keeper_wrap, outer, outer_context(**ids))
            except DecryptionError:
                raise BackupRefused(
                    KEEPER,
                    f"the keeper part's keys do not open this backup's rows: the outer layers under keeper "
                    f"key {kid} do not open (its keeper keys are from another install, or lack that key)",
                ) from None
            tried += 1
    return tried
