"""The keeper's conversion of stored versions: the ones still HPKE-sealed, and the swap of their outer layer
for the keeper-wrapped one (a compare-and-set on the old layer). Part of `SecretRepository`."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from sealbox.store.tables import secret_versions, secrets


class OuterLayers:
    conn: Connection

    def sealed_versions(self, *, limit: int) -> list[tuple[str, int, str, bytes]]:
        """Versions whose outer layer is still the HPKE seal: (secret id, version, owner id, outer); the
        owner id is the one the version's ciphertexts bind (not the owner's after a transfer)."""
        rows = self.conn.execute(
            select(
                secret_versions.c.secret_id,
                secret_versions.c.version,
                func.coalesce(secret_versions.c.context_owner_id, secrets.c.owner_id),
                secret_versions.c.outer,
            )
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .where(secret_versions.c.keeper_key_id >= "hpke:", secret_versions.c.keeper_key_id < "hpke;")
            .limit(limit)
        )
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def set_outer(
        self, secret_id: str, version: int, *, expected: bytes, outer: bytes, keeper_key_id: str
    ) -> bool:
        result = self.conn.execute(
            update(secret_versions)
            .where(
                secret_versions.c.secret_id == secret_id,
                secret_versions.c.version == version,
                secret_versions.c.outer == expected,
            )
            .values(outer=outer, keeper_key_id=keeper_key_id)
        )
        return result.rowcount == 1
