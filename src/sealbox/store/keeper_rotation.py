"""The rows a keeper-key rotation moves: each secret version's outer layer, by the keeper key id it names.

Implements `services.keeper_key_rotation.KeeperKeyRows`. The keeper's answer is fetched between the read
of a batch and its write, so no transaction waits on the keeper; each row then moves by compare-and-set
on the keeper key id it was read with (a row converted or moved meanwhile is left alone), in one write
transaction that first renews the lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from sealbox.domain.keeper import OuterLayer
from sealbox.store.rotation import DatabaseRotationRows, VersionKey, _renew, _walk, walked_to
from sealbox.store.tables import secret_versions, secrets

v = secret_versions.c


class DatabaseKeeperKeyRows(DatabaseRotationRows):
    def keeper_key_ids_in_use(self) -> dict[str, int]:
        """How many secret versions name each keeper key id ("hpke:<id>" sealed, "wrap:<id>" converted)."""
        with self.db.read() as conn:
            rows = conn.execute(select(v.keeper_key_id, func.count()).group_by(v.keeper_key_id)).all()
        return {str(kid): int(n) for kid, n in rows}

    def outer_layers_off(
        self, current: tuple[str, ...], *, after: VersionKey | None, limit: int
    ) -> tuple[list[tuple[OuterLayer, str]], VersionKey | None]:
        """Up to `limit` outer layers after `after` (in key order) under none of the `current` ids, each
        with the id it names, and where the walk stands (None once it read the last row)."""
        query = (
            select(
                v.secret_id,
                v.version,
                func.coalesce(v.context_owner_id, secrets.c.owner_id),
                v.outer,
                v.keeper_key_id,
            )
            .join(secrets, secrets.c.id == v.secret_id)
            .where(v.keeper_key_id.not_in(current))
        )
        with self.db.read() as conn:
            rows = conn.execute(_walk(query, after).order_by(v.secret_id, v.version).limit(limit)).all()
        found = [
            (OuterLayer(secret_id=s, version=n, owner_id=o, outer=bytes(outer)), str(kid))
            for s, n, o, outer, kid in rows
        ]
        return found, walked_to([(row.secret_id, row.version) for row, _ in found], limit)

    def move_outer_layers(
        self,
        moves: list[tuple[OuterLayer, str, bytes, str]],
        *,
        lease: tuple[str, str],
        now: datetime,
        ttl: timedelta,
    ) -> int | None:
        """Store each (row, id read, new outer layer, its id); how many moved, None if the lease is lost."""
        with self.db.write() as conn:
            if not _renew(conn, lease, now + ttl):
                return None
            moved = 0
            for row, old_id, outer, new_id in moves:
                done = conn.execute(
                    update(secret_versions)
                    .where(v.secret_id == row.secret_id, v.version == row.version, v.keeper_key_id == old_id)
                    .values(outer=outer, keeper_key_id=new_id)
                )
                moved += done.rowcount
            return moved
