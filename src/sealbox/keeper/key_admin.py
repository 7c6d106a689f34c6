"""The keeper's side of `sealbox admin rotate keeper-key`: rotate, re-wrap and retire its own keys.

Each request carries a ticket signed with the server's signing key (the keeper's one trust anchor, as
for a launch), whose claims name the step (`action`) and expire within a minute; a launch ticket
names no action and is refused here, and a ticket of these steps names no session and is refused by
a launch. The re-wrap opens each outer layer inside the keeper and returns it wrapped under the
keeper's current key: the inner ciphertext never leaves the keeper in the clear, and the server
cannot open what it gets back (nor could the keeper open the inner layer).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sealbox.crypto.sealing import keeper_wrap, open_outer
from sealbox.crypto.wrapping import outer_context
from sealbox.errors import ConfigError, DecryptionError, KeeperRefused
from sealbox.keeper.keys import KeyDirectory
from sealbox.keeper.sessions import VerifyKeyFile, audit_log
from sealbox.protocol.keeper import (
    Converted,
    ConvertResponse,
    KeeperKeyRequest,
    KeeperKeyState,
    RewrapRequest,
)

ROTATE, REWRAP, RETIRE = "keeper-key.rotate", "keeper-key.rewrap", "keeper-key.retire"


class KeyAdmin:
    def __init__(self, directory: KeyDirectory, server_key_path: Path) -> None:
        self._dir = directory
        self._verify = VerifyKeyFile(server_key_path)

    def _claims(self, ticket: str, action: str) -> dict[str, Any]:
        try:
            claims = self._verify.get().verify_ticket(ticket)
        except (DecryptionError, ConfigError):
            raise KeeperRefused(reason="bad ticket signature") from None
        if claims.get("action") != action:
            raise KeeperRefused(reason="ticket for another step")
        try:
            expired = time.time() >= float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise KeeperRefused(reason="malformed ticket") from None
        if expired:
            raise KeeperRefused(reason="ticket expired")
        return claims

    def state(self, *, created: bool) -> KeeperKeyState:
        keys = self._dir.keys
        return KeeperKeyState(
            public_keys=keys.private.public().to_text(),
            key_id=keys.private.keys[0][0].hex(),
            wrap_key_id=keys.wrap.current_id.hex(),
            created=created,
        )

    def rotate(self, body: KeeperKeyRequest) -> KeeperKeyState:
        """A new key pair and wrap key, unless the one the ticket rotates from is no longer current."""
        created = self._dir.rotate(_key_id(self._claims(body.ticket, ROTATE), "from_key_id"))
        if created is None:
            raise KeeperRefused(reason="rotation from a key this keeper does not hold")
        state = self.state(created=created)
        if created:
            audit_log.info("keeper key rotated key=%s wrap=%s", state.key_id, state.wrap_key_id)
        return state

    def retire(self, body: KeeperKeyRequest) -> KeeperKeyState:
        """Drop every key but the current pair and wrap key the ticket names."""
        claims = self._claims(body.ticket, RETIRE)
        if not self._dir.retire(_key_id(claims, "key_id"), _key_id(claims, "wrap_key_id")):
            raise KeeperRefused(reason="retire names keys that are not current")
        audit_log.info("keeper keys retired; current key=%s", claims["key_id"])
        return self.state(created=False)

    def rewrap(self, body: RewrapRequest) -> ConvertResponse:
        """Each outer layer (sealed or wrapped, under any key held) wrapped under the current wrap key."""
        self._claims(body.ticket, REWRAP)
        keys = self._dir.keys
        kid = "wrap:" + keys.wrap.current_id.hex()
        results: list[Converted | None] = []
        for item in body.items:
            ctx = outer_context(secret_id=item.secret_id, version=item.version, owner_id=item.owner_id)
            try:
                inner = open_outer(keys.private, keys.wrap, item.outer, ctx)
            except (DecryptionError, ValueError, TypeError):
                results.append(None)
                continue
            results.append(Converted(outer=keeper_wrap(keys.wrap, inner, ctx), key_id=kid))
        failed = results.count(None)
        if failed:
            audit_log.warning("rewrap: %d of %d items refused", failed, len(results))
        return ConvertResponse(results=results)


def _key_id(claims: dict[str, Any], name: str) -> bytes:
    try:
        return bytes.fromhex(str(claims[name]))
    except (KeyError, ValueError):
        raise KeeperRefused(reason="malformed ticket") from None
