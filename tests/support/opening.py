"""Open stored secret versions straight from database rows (TEST-PLAN T1, T2, T3).

`open_value` walks the whole key hierarchy with both halves of the keys: master key -> user key
-> data key, and the keeper's keys -> inner ciphertext -> value. `attempt_with_server_keys` and
`attempt_with_keeper_keys` hold only one half and try every way that half could be used on the
stored bytes (each key on each ciphertext, under each context the row could claim, raw and as an
envelope, as a symmetric key and as an X25519 key). Each returns what it recovered at the value
layers; a correct key split recovers nothing.

Nothing here goes through the server or the keeper processes: it reads rows (or a copy of the
database) and calls the same `sealbox.crypto` recipes the services use.
"""

from __future__ import annotations

import base64
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import HEADER_BYTES, NONCE_BYTES, open_with_key
from sealbox.crypto.keyring import (
    KEY_ID_BYTES,
    Keyring,
    decode_key_lines,
    load_keyring,
    read_private_file,
    save_new_keyring,
)
from sealbox.crypto.sealing import PrivateKeySet, keeper_wrap, open_outer, open_sealed
from sealbox.crypto.wrapping import open_inner, outer_context, unwrap_data_key, unwrap_user_key
from sealbox.domain.kinds import Kind, encode_fields
from sealbox.domain.principals import Principal
from sealbox.errors import DecryptionError
from sealbox.keeper.keys import PRIVATE_FILE, WRAP_FILE, KeeperKeys, ensure_key_dir
from sealbox.services.deletion import DeletionService
from sealbox.services.keys import ServerKeys, ensure_signing_key
from sealbox.services.secrets import Limits, SecretService
from sealbox.services.users import create_user
from sealbox.store.audit_chain import install_audit_chain
from sealbox.store.database import Database
from sealbox.store.secrets import SecretRepository
from sealbox.store.tables import secret_versions, users
from sealbox.store.tables import secrets as secrets_table
from tests.support.canaries import ssh_key_shaped

_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
# Everything a failed open may raise: sealbox's one error, and what raw primitives raise on junk.
RECOVERY_WINDOW = timedelta(days=7)
_FAILED = (DecryptionError, InvalidTag, ValueError, TypeError, OverflowError)


# ---------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredRow:
    """One stored version with everything the database knows about it (and nothing else)."""

    secret_id: str
    version: int
    owner_id: str
    name: str
    wrapped_user_key: bytes = field(repr=False)
    wrapped_dek: bytes = field(repr=False)
    outer: bytes = field(repr=False)
    user_key_id: str
    keeper_key_id: str


def read_rows(conn: Connection) -> list[StoredRow]:
    """Every stored version, with its secret's owner and that owner's wrapped user key."""
    query = (
        select(
            secret_versions.c.secret_id,
            secret_versions.c.version,
            secrets_table.c.owner_id,
            secrets_table.c.name,
            users.c.user_key,
            secret_versions.c.wrapped_dek,
            secret_versions.c.outer,
            secret_versions.c.user_key_id,
            secret_versions.c.keeper_key_id,
        )
        .join(secrets_table, secrets_table.c.id == secret_versions.c.secret_id)
        .join(users, users.c.id == secrets_table.c.owner_id)
        .order_by(secrets_table.c.name, secret_versions.c.version)
    )
    return [
        StoredRow(
            secret_id=r[0],
            version=r[1],
            owner_id=r[2],
            name=r[3],
            wrapped_user_key=bytes(r[4]),
            wrapped_dek=bytes(r[5]),
            outer=bytes(r[6]),
            user_key_id=r[7],
            keeper_key_id=r[8],
        )
        for r in conn.execute(query)
    ]


def read_user_keys(conn: Connection) -> dict[str, bytes]:
    """Each user's id and wrapped user key."""
    return {r[0]: bytes(r[1]) for r in conn.execute(select(users.c.id, users.c.user_key))}


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """A plain connection (no pool, none of sealbox's settings) to a database URL, in a transaction."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def read_rows_from(url: str) -> list[StoredRow]:
    with connect(url) as conn:
        return read_rows(conn)


def count_sealed(url: str) -> int:
    """How many stored versions still carry the HPKE seal (not yet converted by the keeper)."""
    with connect(url) as conn:
        query = (
            select(func.count())
            .select_from(secret_versions)
            .where(secret_versions.c.keeper_key_id.like("hpke:%"))
        )
        return int(conn.execute(query).scalar_one())


def wait_until_converted(url: str, *, timeout: float = 60) -> None:
    """Poll until the keeper has swapped every HPKE seal for its own wrap (the server pokes it after
    each write; conversion runs in the background, so there is nothing to wait on but the rows)."""
    deadline = time.monotonic() + timeout
    while (sealed := count_sealed(url)) > 0:
        assert time.monotonic() < deadline, f"{sealed} outer layers still sealed after {timeout} s"
        time.sleep(0.1)


def sqlite_backup(source: Path, target: Path) -> Path:
    """A consistent copy of a live SQLite database (WAL included) through the online backup API."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target


def sqlite_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{path}"


# ---------------------------------------------------------------------------------------------
# Keys


def load_keeper_keys(directory: Path) -> KeeperKeys:
    """Read a keeper's key directory without creating or rewriting anything in it."""
    private_path = directory / PRIVATE_FILE
    private = PrivateKeySet.from_entries(
        decode_key_lines(read_private_file(private_path), source=str(private_path))
    )
    return KeeperKeys(private=private, wrap=load_keyring(directory / WRAP_FILE))


def private_key_bytes(keys: PrivateKeySet) -> list[bytes]:
    return [k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()) for _, k in keys.keys]


def keeper_secret_bytes(keys: KeeperKeys) -> list[bytes]:
    """The keeper's private X25519 keys and its symmetric wrap keys, raw."""
    return private_key_bytes(keys.private) + [key for _, key in keys.wrap.keys]


def master_key_bytes(master: Keyring) -> list[bytes]:
    return [key for _, key in master.keys]


def key_file_bytes(directory: Path) -> list[bytes]:
    """Every raw key in the private key files (`*.key`, 0600) of a directory: all a process there holds."""
    raw: list[bytes] = []
    for path in sorted(directory.glob("*.key")):
        raw.extend(key for _, key in decode_key_lines(read_private_file(path), source=str(path)))
    return raw


# ---------------------------------------------------------------------------------------------
# Opening with all keys


def _ctx(row: StoredRow, layer: Layer) -> Context:
    return Context.for_version(layer, secret_id=row.secret_id, version=row.version, owner_id=row.owner_id)


def user_key_of(row: StoredRow, master: Keyring) -> bytes:
    return unwrap_user_key(master, row.wrapped_user_key, user_id=row.owner_id).key


def data_key_of(row: StoredRow, master: Keyring) -> bytes:
    user_key = unwrap_user_key(master, row.wrapped_user_key, user_id=row.owner_id)
    return unwrap_data_key(
        user_key, row.wrapped_dek, secret_id=row.secret_id, version=row.version, owner_id=row.owner_id
    )


def open_value(row: StoredRow, *, master: Keyring, keeper: KeeperKeys) -> bytes:
    """The value of one stored version, end to end; DecryptionError when any layer refuses."""
    dek = data_key_of(row, master)
    inner = open_outer(
        keeper.private,
        keeper.wrap,
        row.outer,
        outer_context(secret_id=row.secret_id, version=row.version, owner_id=row.owner_id),
    )
    return open_inner(dek, inner, secret_id=row.secret_id, version=row.version, owner_id=row.owner_id)


# ---------------------------------------------------------------------------------------------
# Opening with half of the keys


@dataclass(kw_only=True)
class Attempts:
    """How many ways were tried on one row, and what came out of the value layers (want: nothing)."""

    tried: int = 0
    opened: list[bytes] = field(default_factory=list, repr=False)


def _try(out: Attempts, sink: list[bytes], action: Callable[..., bytes], *args: Any, **kwargs: Any) -> None:
    """One attempt: what opens goes to `sink`, what fails is counted and forgotten."""
    out.tried += 1
    try:
        sink.append(action(*args, **kwargs))
    except _FAILED:
        return


def _contexts(row: StoredRow) -> list[Context]:
    """Every context a row could plausibly claim: each layer of its version, and its owner's user key."""
    return [_ctx(row, layer) for layer in Layer] + [Context.user_key(user_id=row.owner_id)]


def _aads(ciphertext: bytes, contexts: Iterable[Context]) -> list[bytes | None]:
    header = ciphertext[:HEADER_BYTES]
    aads: list[bytes | None] = [None, b"", header]
    for c in contexts:
        aads.extend([c.encode(), header + c.encode()])
    return aads


def _try_symmetric(key: bytes, ciphertext: bytes, contexts: list[Context], out: Attempts) -> list[bytes]:
    """`key` as an AES-256-GCM key on `ciphertext`: as a sealbox envelope (also with its format byte
    forced to the envelope's), and raw at the envelope's nonce offset with every AAD guess."""
    opened: list[bytes] = []
    candidates = [ciphertext]
    if ciphertext[:1] != b"\x01":
        candidates.append(b"\x01" + ciphertext[1:])
    for candidate in candidates:
        for c in contexts:
            _try(out, opened, open_with_key, key, candidate, c)
    if len(key) not in (16, 24, 32):
        return opened  # not an AES key at all
    for offset in (0, 1, HEADER_BYTES):
        nonce = ciphertext[offset : offset + NONCE_BYTES]
        body = ciphertext[offset + NONCE_BYTES :]
        if len(nonce) != NONCE_BYTES or len(body) < 16:
            continue
        for aad in _aads(ciphertext, contexts):
            _try(out, opened, AESGCM(key).decrypt, nonce, body, aad)
    return opened


def _try_as_x25519(key: bytes, ciphertext: bytes, contexts: list[Context], out: Attempts) -> list[bytes]:
    """`key` (32 bytes) as an X25519 private key: HPKE-open `ciphertext` with each info guess."""
    opened: list[bytes] = []
    try:
        private = X25519PrivateKey.from_private_bytes(key)
    except _FAILED:
        return opened
    for body in (ciphertext[1 + KEY_ID_BYTES :], ciphertext):
        for info in _aads(ciphertext, contexts):
            _try(out, opened, _HPKE.decrypt, body, private, info=info)
    return opened


def _try_keyrings(key: bytes, ciphertext: bytes, row: StoredRow, out: Attempts) -> list[bytes]:
    """`key` dressed up as the keeper's key set (any key id the ciphertext names), through `open_outer`."""
    opened: list[bytes] = []
    kid = ciphertext[1 : 1 + KEY_ID_BYTES]
    if len(kid) != KEY_ID_BYTES or len(key) != 32:
        return opened
    try:
        fake_private = PrivateKeySet(keys=((kid, X25519PrivateKey.from_private_bytes(key)),))
    except _FAILED:
        return opened
    ring = Keyring(keys=((kid, key),))
    _try(out, opened, open_outer, fake_private, ring, ciphertext, _ctx(row, Layer.OUTER))
    return opened


def _all_ways(keys: Iterable[bytes], ciphertext: bytes, row: StoredRow, out: Attempts) -> list[bytes]:
    contexts = _contexts(row)
    opened: list[bytes] = []
    for key in dict.fromkeys(keys):
        opened += _try_symmetric(key, ciphertext, contexts, out)
        opened += _try_as_x25519(key, ciphertext, contexts, out)
        opened += _try_keyrings(key, ciphertext, row, out)
    return opened


def attempt_with_server_keys(row: StoredRow, master: Keyring, *, extra: Iterable[bytes] = ()) -> Attempts:
    """Everything the server's keys (master key, hence user key and data key) can do to the value.

    The server legitimately unwraps the user key and the data key. What must stay shut is the outer
    layer: each of those keys is tried on `outer` every way we know, and whatever opens is then also
    tried as an inner ciphertext under the data key. `opened` collects what came out of `outer`.
    `extra`: any other key the server holds (e.g. every key file of its data directory).
    """
    out = Attempts()
    keys = [*master_key_bytes(master), *extra]
    try:
        keys.append(user_key_of(row, master))
        keys.append(data_key_of(row, master))
    except DecryptionError:
        pass  # a moved row: the server cannot even get this far
    layers = _all_ways(keys, row.outer, row, out)
    # The data key cannot open the inner layer while it is still inside the outer one; try anyway
    # on whatever came out above (should be nothing) and on `outer` as if it were the inner layer.
    for candidate in [*layers, row.outer]:
        for key in keys:
            _try(out, layers, open_inner, key, candidate, **_ids(row))
    out.opened.extend(layers)
    return out


def attempt_with_keeper_keys(row: StoredRow, keeper: KeeperKeys, *, extra: Iterable[bytes] = ()) -> Attempts:
    """Everything the keeper's keys (X25519 private keys, wrap keys) can do to the value.

    The keeper legitimately removes the outer layer. What must stay shut is the data key: the
    keeper's keys are tried on `wrapped_dek` and on the wrapped user key every way we know, and
    each key (its own and anything recovered) is then tried on the inner ciphertext.
    `opened` collects recovered key material and any plaintext of the inner layer.
    `extra`: any other key the keeper holds (e.g. every key file of its directory).
    """
    out = Attempts()
    keys = [*keeper_secret_bytes(keeper), *extra]
    inner: list[bytes] = []  # stays empty for a moved row: not even the keeper's own layer opens
    _try(Attempts(), inner, open_outer, keeper.private, keeper.wrap, row.outer, _ctx(row, Layer.OUTER))
    recovered = _all_ways(keys, row.wrapped_dek, row, out)
    recovered += _all_ways(keys, row.wrapped_user_key, row, out)
    values: list[bytes] = []
    for candidate in inner:
        values += _all_ways([*keys, *(k for k in recovered if len(k) == 32)], candidate, row, out)
    out.opened.extend(recovered + values)
    return out


def _ids(row: StoredRow) -> dict[str, Any]:
    return {"secret_id": row.secret_id, "version": row.version, "owner_id": row.owner_id}


# ---------------------------------------------------------------------------------------------
# What the API is given, and the plaintext the store should hold for it


def canary_payload(kind: str, value: str) -> dict[str, Any]:
    """A create/replace body of `kind` that carries the canary `value` in its secret part."""
    if kind == "generic":
        return {"kind": "generic", "value": value}
    if kind == "bytes":
        raw = b"\x00\xff" + value.encode() + b"\x01\x80"
        return {"kind": "generic", "value_base64": base64.b64encode(raw).decode()}
    if kind == "token":
        return {"kind": "token", "value": value}
    if kind == "ssh-key":
        pem = ssh_key_shaped(value)
        return {"kind": "ssh-key", "value": pem}
    if kind == "aws":
        key_id = "AKIA" + secrets.token_hex(8).upper()
        return {
            "kind": "aws",
            "fields": {"access_key_id": key_id, "secret_access_key": value, "region": "eu-west-1"},
        }
    if kind == "database-url":
        return {"kind": "database", "fields": {"url": f"postgresql://app:{value}@db.internal:5432/app"}}
    if kind == "database":
        return {
            "kind": "database",
            "fields": {"host": "db.internal", "port": "5432", "user": "app", "password": value},
        }
    raise ValueError(f"unknown payload kind {kind}")


PAYLOAD_KINDS = ("generic", "bytes", "token", "ssh-key", "aws", "database-url", "database")


def expected_plaintext(payload: Mapping[str, Any]) -> bytes:
    """What the inner layer of a version written from `payload` holds."""
    if payload.get("fields") is not None:
        return encode_fields(Kind(payload.get("kind", "generic")), payload["fields"])
    if payload.get("value_base64") is not None:
        return base64.b64decode(payload["value_base64"])
    return str(payload["value"]).encode()


# ---------------------------------------------------------------------------------------------
# sealbox in-process: the services on a database URL, with keys made in a temporary directory


@dataclass(kw_only=True)
class InProcess:
    """The server's services (no HTTP) on `db`, plus the keeper's keys: both halves in one place."""

    db: Database
    master: Keyring = field(repr=False)
    keeper: KeeperKeys = field(repr=False)
    keys: ServerKeys = field(repr=False)
    secrets: SecretService
    deletion: DeletionService

    @classmethod
    def build(cls, url: str, key_dir: Path, *, versions_kept: int = 10) -> InProcess:
        master_path = key_dir / "master.key"
        save_new_keyring(master_path, Keyring.generate())
        master = load_keyring(master_path)
        keeper = ensure_key_dir(key_dir / "keeper")
        keys = ServerKeys(
            master=master,
            keeper_public=keeper.private.public(),
            signing=ensure_signing_key(key_dir / "signing.key"),
        )
        db = Database.open(url)
        install_audit_chain(db, master, data_dir=key_dir)
        limits = Limits(max_value_bytes=64 * 1024, versions_kept=versions_kept)
        return cls(
            db=db,
            master=master,
            keeper=keeper,
            keys=keys,
            secrets=SecretService(db, keys, limits),
            deletion=DeletionService(db, RECOVERY_WINDOW),
        )

    def user(self, name: str, *, now: datetime, is_admin: bool = False) -> Principal:
        user = create_user(self.db, self.master, name=name, is_admin=is_admin, now=now, requested_by=None)
        return Principal(user=user, token_id=None, client_addr="127.0.0.1")

    def rows(self) -> list[StoredRow]:
        with self.db.read() as conn:
            return read_rows(conn)

    def convert(self, rows: Iterable[StoredRow]) -> int:
        """Swap the HPKE seal of `rows` for the keeper's own wrap, with the keeper's recipe
        (`keeper/app.py` convert: open the seal, wrap under the wrap key) run in-process."""
        done = 0
        kid = "wrap:" + self.keeper.wrap.current_id.hex()
        with self.db.write() as conn:
            repo = SecretRepository(conn)
            for row in rows:
                ctx = _ctx(row, Layer.OUTER)
                wrapped = keeper_wrap(self.keeper.wrap, open_sealed(self.keeper.private, row.outer, ctx), ctx)
                done += repo.set_outer(
                    row.secret_id, row.version, expected=row.outer, outer=wrapped, keeper_key_id=kid
                )
        return done

    def close(self) -> None:
        self.db.dispose()
