"""The keeper's conversion of stored versions: the ones still HPKE-sealed, and the swap of their outer layer
for the keeper-wrapped one (a compare-and-set on the old layer). Part of `SecretRepository`.

Both statements are written once and run on the driver connection (store/raw.py): every write pokes the
conversion, and building and compiling the SQLAlchemy query each time cost more than the statement."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from sealbox.store.raw import RawReader, Statement

# The still-sealed ones, by the keeper key id's "hpke:" prefix as a range (ix_secret_versions_keeper_key_id);
# the owner id is the one the version's ciphertexts bind (not the owner's after a transfer).
_SEALED = Statement.of(
    'SELECT v.secret_id, v.version, coalesce(v.context_owner_id, s.owner_id), v."outer"'
    " FROM secret_versions v JOIN secrets s ON s.id = v.secret_id"
    " WHERE v.keeper_key_id >= ? AND v.keeper_key_id < ? LIMIT ?"
)
_SET_OUTER = Statement.of(
    'UPDATE secret_versions SET "outer" = ?, keeper_key_id = ?'
    ' WHERE secret_id = ? AND version = ? AND "outer" = ?'
)


class OuterLayers:
    conn: Connection

    def sealed_versions(self, *, limit: int) -> list[tuple[str, int, str, bytes]]:
        """Versions whose outer layer is still the HPKE seal: (secret id, version, owner id, outer); the
        owner id is the one the version's ciphertexts bind (not the owner's after a transfer)."""
        rows = RawReader(self.conn).all(_SEALED, ("hpke:", "hpke;", limit))
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def set_outer(
        self, secret_id: str, version: int, *, expected: bytes, outer: bytes, keeper_key_id: str
    ) -> bool:
        changed = RawReader(self.conn).execute(
            _SET_OUTER, (outer, keeper_key_id, secret_id, version, expected)
        )
        return changed == 1
