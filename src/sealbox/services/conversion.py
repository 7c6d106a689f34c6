"""Converting HPKE outer layers into keeper wraps, after writes and in a sweep at start.

Writes never wait for the keeper: they seal to its public key. This step lets the keeper swap
that seal for an AES-GCM wrap under a key only it holds, so a launch later costs it one
symmetric open per secret. The server stores the result and cannot open it either.
"""

from __future__ import annotations

import logging

from sealbox.domain.keeper import OuterLayer
from sealbox.errors import Unavailable
from sealbox.services.keeper_port import KeeperPort
from sealbox.services.ports import Store

log = logging.getLogger("sealbox.conversion")
BATCH = 200


def convert_pending(db: Store, keeper: KeeperPort, *, max_batches: int = 1_000_000) -> int:
    """Convert sealed versions in batches until none is left or the keeper is down; returns the count."""
    converted = 0
    for _ in range(max_batches):
        with db.reading() as uow:
            pending = uow.secrets.sealed_versions(limit=BATCH)
        if not pending:
            break
        items = [OuterLayer(secret_id=s, version=v, owner_id=o, outer=outer) for s, v, o, outer in pending]
        try:
            results = keeper.convert(items)
        except Unavailable:
            log.info("keeper unavailable; %d outer layers stay sealed for now", len(items))
            break
        done_this_batch = 0
        with db.writing() as uow:
            repo = uow.secrets
            for item, result in zip(items, results, strict=True):
                if result is None:
                    continue
                wrapped, key_id = result
                if repo.set_outer(
                    item.secret_id, item.version, expected=item.outer, outer=wrapped, keeper_key_id=key_id
                ):
                    done_this_batch += 1
        converted += done_this_batch
        if done_this_batch == 0:
            log.warning("keeper converted none of %d outer layers", len(items))
            break
    return converted
