"""Online rotation of the keeper's keys: its X25519 key pair (outer layers sealed on write, "hpke:<id>")
and its symmetric wrap key (outer layers it converted, "wrap:<id>").

1. The command asks the keeper (a ticket signed with the server's signing key) for a new key pair and
   wrap key. The keeper saves both, makes them current and answers with its public keys. Only then
   does the command rewrite the server's `keeper.pub`, which every server process re-reads when it
   changes (`services.keys.KeeperPublicFile`): until the keeper confirmed, writes seal to the previous
   key, so no write is ever sealed to a key the keeper lacks, and the keeper keeps its previous keys
   to open rows written before.
2. After `settle` seconds for writes in flight, each outer layer under an old id is sent to the keeper
   in bounded batches, opened there and wrapped under its current wrap key; the server stores the
   result by compare-and-set on the id it read (it can open neither form). Under a lease, as for the
   master key (`services.rotation`): a runner killed at any moment is resumed by running the command
   again, without another key, and it walks the rows in key order until a count at a walk's end
   finds no row left on an old id.
3. Retiring counts again, then the server's `keeper.pub` keeps only the current key, then the keeper
   drops its old keys.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sealbox.crypto.sealing import PublicKeySet
from sealbox.crypto.session_keys import SigningKey
from sealbox.domain.keeper import OuterLayer
from sealbox.errors import Conflict
from sealbox.private_files import write_public_file
from sealbox.protocol.keeper import KeeperKeyState
from sealbox.services.rotation import (
    BATCH_ROWS,
    LEASE_TTL,
    SETTLE_SECONDS,
    RotationRows,
    lease_lost,
    leased,
)

KEEPER_LEASE = "keeper-key"
TICKET_SECONDS = 60


class KeeperKeyRows(RotationRows, Protocol):
    def keeper_key_ids_in_use(self) -> dict[str, int]: ...

    def outer_layers_off(
        self, current: tuple[str, ...], *, after: tuple[str, int] | None, limit: int
    ) -> tuple[list[tuple[OuterLayer, str]], tuple[str, int] | None]:
        """Up to `limit` rows to move after `after` in key order, and where the walk stands (None: at
        its end)."""
        ...

    def move_outer_layers(
        self,
        moves: list[tuple[OuterLayer, str, bytes, str]],
        *,
        lease: tuple[str, str],
        now: datetime,
        ttl: timedelta,
    ) -> int | None: ...


class KeeperKeyAdmin(Protocol):
    def health(self) -> dict[str, str]: ...

    def public_key_text(self) -> str: ...

    def key_step(self, step: str, ticket: str) -> KeeperKeyState: ...

    def rewrap(self, ticket: str, items: list[OuterLayer]) -> list[tuple[bytes, str] | None]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Server:
    """What the command holds of the server: its signing key and its copy of the keeper's public keys."""

    signing: SigningKey
    keeper_pub: Path

    def ticket(self, action: str, **claims: str) -> str:
        return self.signing.sign_ticket(
            {
                **claims,
                "action": action,
                "exp": time.time() + TICKET_SECONDS,
                "ticket_id": secrets.token_hex(16),
            }
        )

    def public(self) -> PublicKeySet:
        return PublicKeySet.from_text(self.keeper_pub.read_text(), source=str(self.keeper_pub))


@dataclass(frozen=True, kw_only=True, slots=True)
class KeeperRotationDone:
    new_key: bool  # False: an unfinished rotation was resumed
    key_id: str
    moved: int


def current_ids(state: KeeperKeyState) -> tuple[str, str]:
    return ("hpke:" + state.key_id, "wrap:" + state.wrap_key_id)


def rows_left(in_use: dict[str, int], current: tuple[str, ...]) -> int:
    return sum(n for kid, n in in_use.items() if kid not in current)


def rotate_keeper_key(
    rows: KeeperKeyRows,
    keeper: KeeperKeyAdmin,
    server: Server,
    *,
    progress: Callable[[int], None],
    limit: int = BATCH_ROWS,
    settle: float = SETTLE_SECONDS,
) -> KeeperRotationDone:
    """Make a new keeper key current and move every outer layer onto it; resume an unfinished one."""
    with leased(rows, KEEPER_LEASE) as holder:
        known = server.public().current_id.hex()
        health = keeper.health()
        state = KeeperKeyState(public_keys="", key_id=known, wrap_key_id=health["wrap_key_id"], created=False)
        resume = rows_left(rows.keeper_key_ids_in_use(), current_ids(state)) > 0
        if health["key_id"] != known or not resume:
            # A new key when the keeper's current one is the server's; else the one a lost answer named.
            state = keeper.key_step("rotate", server.ticket("keeper-key.rotate", from_key_id=known))
            write_public_file(server.keeper_pub, state.public_keys, overwrite=True)
            rows.record("key.rotate", f"keeper key {state.key_id} is current", now=datetime.now(UTC))
            time.sleep(settle)
        moved = _rewrap_all(rows, keeper, server, current_ids(state), holder, progress=progress, limit=limit)
        rows.mark_done(KEEPER_LEASE, now=datetime.now(UTC))
    return KeeperRotationDone(new_key=state.created, key_id=state.key_id, moved=moved)


def _rewrap_all(
    rows: KeeperKeyRows,
    keeper: KeeperKeyAdmin,
    server: Server,
    current: tuple[str, str],
    holder: str,
    *,
    progress: Callable[[int], None],
    limit: int,
) -> int:
    moved = 0
    left = rows_left(rows.keeper_key_ids_in_use(), current)
    progress(left)
    after: tuple[str, int] | None = None
    while left:
        batch, after = rows.outer_layers_off(current, after=after, limit=limit)
        results = keeper.rewrap(server.ticket("keeper-key.rewrap"), [row for row, _ in batch])
        moves = [
            (row, old_id, result[0], result[1])
            for (row, old_id), result in zip(batch, results, strict=True)
            if result is not None and result[1] == current[1]
        ]
        if batch and not moves:
            raise Conflict(
                f"the keeper holds no key for {len(batch)} outer layer(s) (was its directory replaced?)",
                code="rotation_stuck",
            )
        n = rows.move_outer_layers(moves, lease=(KEEPER_LEASE, holder), now=datetime.now(UTC), ttl=LEASE_TTL)
        if n is None:
            raise lease_lost()
        moved += n
        # Counted again only where a walk ends (a row written under an old key behind it starts another).
        left = rows_left(rows.keeper_key_ids_in_use(), current) if after is None else max(left - n, 1)
        progress(left)
    return moved


@dataclass(frozen=True, kw_only=True, slots=True)
class KeeperRetireDone:
    retired: tuple[str, ...]


def retire_keeper_keys(rows: KeeperKeyRows, keeper: KeeperKeyAdmin, server: Server) -> KeeperRetireDone:
    """Remove every keeper key but the current pair and wrap key, once no row names another.

    Refused (Conflict) while rows are left on an old id, or while the server's keeper.pub is behind the
    keeper (a rotation whose answer was lost: run the rotation again).
    """
    with leased(rows, KEEPER_LEASE):
        public = server.public()
        health = keeper.health()
        current = ("hpke:" + health["key_id"], "wrap:" + health["wrap_key_id"])
        left = rows_left(rows.keeper_key_ids_in_use(), current)
        if left or public.current_id.hex() != health["key_id"]:
            raise Conflict(
                f"{left} secret version(s) still use an old keeper key; run "
                "`sealbox admin rotate keeper-key` to finish the re-wrap, then retire",
                code="rotation_unfinished",
            )
        held = PublicKeySet.from_text(keeper.public_key_text(), source="the keeper")
        old = tuple(sorted({kid.hex() for kid, _ in (*public.keys[1:], *held.keys[1:])}))
        write_public_file(server.keeper_pub, PublicKeySet(keys=public.keys[:1]).to_text(), overwrite=True)
        keeper.key_step(
            "retire",
            server.ticket("keeper-key.retire", key_id=health["key_id"], wrap_key_id=health["wrap_key_id"]),
        )
        if old:
            rows.record("key.retire", "keeper keys retired: " + ", ".join(old), now=datetime.now(UTC))
    return KeeperRetireDone(retired=old)
