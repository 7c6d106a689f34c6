"""Bulk-load encrypted secrets straight into a sealbox database (in-process, not over HTTP).

Each row is what sealbox itself would hold after ``POST /api/v1/secrets`` and the keeper's
background conversion: a fresh data key per secret, the value encrypted with it (AES-GCM inner
layer), the data key wrapped by the owner's user key, and the outer layer in the keeper's converted
form (``keeper_wrap`` under its wrap key), plus the version row and the ``secret.create`` audit
record, chained and tagged as the server does it (so ``audit verify`` and a restore accept them). With ``via_keeper_seal`` each outer layer is first HPKE-sealed to the keeper and converted
exactly as the keeper's ``/v1/convert`` does (``encrypt_version``, ``open_outer``, ``keeper_wrap``:
the same stored form, five times the CPU); without it the converted form is built directly, which
seeds 1,000,000 secrets in minutes. Only the HTTP, pydantic and per-request transaction overhead is
skipped. ``verify`` opens a sample back through the full path (user key, data key, keeper layer,
inner layer).

The keeper's keys are read from the benchmark's own throwaway keeper directory; sealbox's server
never does that.
"""

from __future__ import annotations

import random
import secrets as random_ids
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import seal_with_key
from sealbox.crypto.keyring import (
    SYMMETRIC_KEY_BYTES,
    Keyring,
    decode_key_lines,
    load_keyring,
    new_key_id,
    read_private_file,
)
from sealbox.crypto.sealing import PrivateKeySet, PublicKeySet, keeper_wrap, open_outer
from sealbox.crypto.wrapping import (
    UserKey,
    encrypt_version,
    open_inner,
    outer_context,
    unwrap_data_key,
    unwrap_user_key,
)
from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.store.audit import AuditRepository
from sealbox.store.audit_chain import install_audit_chain
from sealbox.store.database import Database
from sealbox.store.tables import secret_versions, secrets, users

__all__ = ["BulkResult", "bulk_insert", "count_pending_conversion", "count_secrets", "value_for"]

DESCRIPTION = "seeded by bench/store.py"
SEED_CACHE_KIB = 256 * 1024


@dataclass(frozen=True)
class BulkResult:
    inserted: int
    seconds: float
    crypto_seconds: float
    verified: int

    @property
    def per_s(self) -> float:
        return self.inserted / self.seconds if self.seconds else 0.0


def value_for(prefix: str, i: int, size: int = 64) -> bytes:
    """The deterministic plaintext of bulk secret ``prefix + str(i)`` (so a sample can be checked)."""
    return f"bench-{prefix}{i}-".encode().ljust(size, b"x")


def _keeper_keys(keeper_dir: Path) -> tuple[PrivateKeySet, Keyring]:
    private_path = keeper_dir / "keeper.key"
    private = PrivateKeySet.from_entries(
        decode_key_lines(read_private_file(private_path), source=str(private_path))
    )
    return private, load_keyring(keeper_dir / "wrap.key")


def _converted(
    user_key: UserKey, wrap_ring: Keyring, plaintext: bytes, *, secret_id: str, owner_id: str
) -> tuple[bytes, bytes]:
    """(wrapped data key, outer layer) of version 1 as it is stored once the keeper converted it."""

    def ctx(layer: Layer) -> Context:
        return Context.for_version(layer, secret_id=secret_id, version=1, owner_id=owner_id)

    dek = random_ids.token_bytes(SYMMETRIC_KEY_BYTES)
    inner = seal_with_key(dek, new_key_id(), plaintext, ctx(Layer.INNER))
    wrapped_dek = seal_with_key(user_key.key, user_key.kid, dek, ctx(Layer.DATA_KEY))
    return wrapped_dek, keeper_wrap(wrap_ring, inner, ctx(Layer.OUTER))


def bulk_insert(
    database_url: str,
    *,
    master_key_path: Path,
    keeper_public_key_path: Path,
    keeper_dir: Path,
    owner_name: str,
    prefix: str,
    start: int,
    count: int,
    value_size: int = 64,
    batch: int = 5000,
    verify: int = 5,
    via_keeper_seal: bool = False,
) -> BulkResult:
    """Insert secrets ``prefix{start}`` .. ``prefix{start + count - 1}`` for ``owner_name``."""
    master = load_keyring(master_key_path)
    keeper_public = PublicKeySet.from_text(
        keeper_public_key_path.read_text(), source=str(keeper_public_key_path)
    )
    private, wrap_ring = _keeper_keys(keeper_dir)
    wrap_kid = "wrap:" + wrap_ring.current_id.hex()
    db = Database.open(database_url, run_migrations=False)
    install_audit_chain(db, master, data_dir=None)  # no checkpoint moved: the server's stays behind
    t0 = time.perf_counter()
    crypto_s = 0.0
    try:
        with db.read() as conn:
            row = conn.execute(select(users.c.id, users.c.user_key).where(users.c.name == owner_name)).one()
        owner_id = str(row[0])
        user_key = unwrap_user_key(master, bytes(row[1]), user_id=owner_id)
        base = datetime.now(UTC) - timedelta(seconds=count)
        for lo in range(start, start + count, batch):
            hi = min(lo + batch, start + count)
            s_rows: list[dict[str, Any]] = []
            v_rows: list[dict[str, Any]] = []
            a_rows: list[AuditEvent] = []
            c0 = time.perf_counter()
            for i in range(lo, hi):
                sid = random_ids.token_hex(16)
                name = f"{prefix}{i}"
                at = base + timedelta(seconds=i - start)
                plaintext = value_for(prefix, i, value_size)
                if via_keeper_seal:
                    stored = encrypt_version(
                        user_key, keeper_public, plaintext, secret_id=sid, version=1, owner_id=owner_id
                    )
                    ctx = outer_context(secret_id=sid, version=1, owner_id=owner_id)
                    wrapped_dek = stored.wrapped_dek
                    converted = keeper_wrap(wrap_ring, open_outer(private, wrap_ring, stored.outer, ctx), ctx)
                else:
                    wrapped_dek, converted = _converted(
                        user_key, wrap_ring, plaintext, secret_id=sid, owner_id=owner_id
                    )
                s_rows.append(
                    {
                        "id": sid,
                        "owner_id": owner_id,
                        "name": name,
                        "kind": "generic",
                        "description": DESCRIPTION,
                        "field_names": "",
                        "created_at": at,
                        "created_by": owner_name,
                        "updated_at": at,
                        "updated_by": owner_name,
                        "expires_at": None,
                        "current_version": 1,
                    }
                )
                v_rows.append(
                    {
                        "secret_id": sid,
                        "version": 1,
                        "created_at": at,
                        "created_by": owner_name,
                        "size": len(plaintext),
                        "wrapped_dek": wrapped_dek,
                        "user_key_id": user_key.kid.hex(),
                        "outer": converted,
                        "keeper_key_id": wrap_kid,
                    }
                )
                a_rows.append(
                    AuditEvent(
                        at=at,
                        actor_id=owner_id,
                        actor_name=owner_name,
                        token_id=None,
                        action="secret.create",
                        outcome=Outcome.SUCCESS,
                        secret_id=sid,
                        secret_name=name,
                        version=1,
                        client_addr="127.0.0.1",
                        detail="kind=generic",
                    )
                )
            crypto_s += time.perf_counter() - c0
            with db.write() as conn:
                # A larger page cache for this connection: the indexes outgrow sealbox's 1 MiB.
                if db.is_sqlite:
                    conn.exec_driver_sql(f"PRAGMA cache_size=-{SEED_CACHE_KIB}")
                conn.execute(insert(secrets), s_rows)
                conn.execute(insert(secret_versions), v_rows)
                AuditRepository(conn).append_many(a_rows)
        seconds = time.perf_counter() - t0
        verified = _verify(db, master, private, wrap_ring, owner_id, prefix, start, count, value_size, verify)
    finally:
        db.dispose()
    return BulkResult(inserted=count, seconds=seconds, crypto_seconds=crypto_s, verified=verified)


def _verify(
    db: Database,
    master: Keyring,
    private: PrivateKeySet,
    wrap_ring: Keyring,
    owner_id: str,
    prefix: str,
    start: int,
    count: int,
    value_size: int,
    n: int,
) -> int:
    """Open ``n`` random inserted secrets through the whole key hierarchy; raise on any mismatch."""
    rng = random.Random(count)
    with db.read() as conn:
        wrapped_uk = bytes(conn.execute(select(users.c.user_key).where(users.c.id == owner_id)).scalar_one())
        user_key = unwrap_user_key(master, wrapped_uk, user_id=owner_id)
        for i in rng.sample(range(start, start + count), min(n, count)):
            row = conn.execute(
                select(secrets.c.id, secret_versions.c.wrapped_dek, secret_versions.c.outer)
                .join(secret_versions, secret_versions.c.secret_id == secrets.c.id)
                .where(secrets.c.owner_id == owner_id, secrets.c.name == f"{prefix}{i}")
            ).one()
            sid = str(row[0])
            dek = unwrap_data_key(user_key, bytes(row[1]), secret_id=sid, version=1, owner_id=owner_id)
            inner = open_outer(
                private, wrap_ring, bytes(row[2]), outer_context(secret_id=sid, version=1, owner_id=owner_id)
            )
            value = open_inner(dek, inner, secret_id=sid, version=1, owner_id=owner_id)
            if value != value_for(prefix, i, value_size):
                raise RuntimeError(f"bulk secret {prefix}{i} did not decrypt to its value")
    return min(n, count)


def count_secrets(database_url: str, *, name_prefix: str | None = None) -> int:
    """Secrets in the database (optionally only names starting with ``name_prefix``)."""
    db = Database.open(database_url, run_migrations=False)
    try:
        with db.read() as conn:
            q = select(func.count()).select_from(secrets)
            if name_prefix is not None:
                q = q.where(secrets.c.name.like(name_prefix.replace("_", r"\_") + "%", escape="\\"))
            return int(conn.execute(q).scalar_one())
    finally:
        db.dispose()


def count_pending_conversion(database_url: str) -> int:
    """Versions whose outer layer the keeper has not converted yet (still ``hpke:``)."""
    db = Database.open(database_url, run_migrations=False)
    try:
        with db.read() as conn:
            q = (
                select(func.count())
                .select_from(secret_versions)
                .where(secret_versions.c.keeper_key_id.like("hpke:%"))
            )
            return int(conn.execute(q).scalar_one())
    finally:
        db.dispose()
