"""The keeper's part of a session: check the server's ticket, remove outer layers, wrap them for the session.

The keeper keeps no database. What it trusts is the server's signature over the ticket, which
names the session's public key, the exact outer layers (by digest) and an expiry; a ticket is
served once (an in-memory replay cache until it expires). The result is sealed to the session's
key and goes back only to the caller on the session side.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sealbox.crypto.sealing import open_outer
from sealbox.crypto.session_keys import SessionWrapper, VerifyKeys, outer_digest
from sealbox.crypto.wrapping import outer_context
from sealbox.errors import ConfigError, DecryptionError, KeeperRefused
from sealbox.keeper.keys import KeyDirectory
from sealbox.protocol.keeper import InnerItem, SessionOpenRequest, SessionOpenResponse

audit_log = logging.getLogger("sealbox.keeper.audit")


@dataclass
class VerifyKeyFile:
    path: Path
    mtime: float = -1.0
    keys: VerifyKeys | None = None

    def get(self) -> VerifyKeys:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            raise KeeperRefused(reason="no server verification key installed") from None
        if self.keys is None or mtime != self.mtime:
            self.keys = VerifyKeys.from_text(self.path.read_text(), source=str(self.path))
            self.mtime = mtime
        return self.keys


class SessionAuthority:
    """Serves each signed ticket once; a refusal is a KeeperRefused, its `reason` for the audit log only."""

    def __init__(self, keys: KeyDirectory, server_key_path: Path) -> None:
        self._dir = keys
        self._verify = VerifyKeyFile(server_key_path)
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def _claim_once(self, ticket_id: str, expires: float, now: float) -> None:
        with self._lock:
            for old in [t for t, exp in self._seen.items() if exp < now]:
                del self._seen[old]
            if ticket_id in self._seen:
                raise KeeperRefused(reason="ticket replayed")
            self._seen[ticket_id] = expires

    def serve(self, body: SessionOpenRequest, *, now: float | None = None) -> SessionOpenResponse:
        """The keeper's half for a decoded request (its shape is checked by the decoder, its ticket here)."""
        now = time.time() if now is None else now
        ticket, items = body.ticket, body.items
        try:
            claims = self._verify.get().verify_ticket(ticket)
        except (DecryptionError, ConfigError):
            raise KeeperRefused(reason="bad ticket signature") from None
        session_id = str(claims.get("session_id", ""))
        try:
            expires = float(claims["exp"])
            recipient = base64.b64decode(claims["recipient"], validate=True)
            wanted = {
                (str(i["secret_id"]), int(i["version"]), str(i["owner_id"])): str(i["outer_sha256"])
                for i in claims["items"]
            }
            ticket_id = str(claims["ticket_id"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise KeeperRefused(reason="malformed ticket") from None
        if now >= expires:
            raise KeeperRefused(reason="ticket expired")
        if len(items) != len(wanted):
            raise KeeperRefused(reason="items differ from the ticket")
        parsed: list[tuple[str, int, str, bytes]] = []
        for item in items:
            key = (item.secret_id, item.version, item.owner_id)
            digest = wanted.get(key)
            if digest is None or not hmac.compare_digest(digest, outer_digest(item.outer)):
                raise KeeperRefused(reason="items differ from the ticket")
            parsed.append((*key, item.outer))
        self._claim_once(ticket_id, expires, now)
        try:
            wrapper = SessionWrapper.for_session(recipient, session_id=session_id, part="inner")
        except DecryptionError:
            raise KeeperRefused(reason="bad recipient key") from None
        results = []
        keys = self._dir.keys  # one set for the whole session, whatever a rotation does meanwhile
        for secret_id, version, owner_id, outer in parsed:
            ctx = outer_context(secret_id=secret_id, version=version, owner_id=owner_id)
            try:
                inner = open_outer(keys.private, keys.wrap, outer, ctx)
            except DecryptionError:
                raise KeeperRefused(
                    reason="an outer layer failed its integrity check", integrity=True
                ) from None
            wrapped = wrapper.wrap(inner, secret_id=secret_id, version=version, owner_id=owner_id)
            results.append(InnerItem(secret_id=secret_id, version=version, inner=wrapped))
        audit_log.info("launch served session=%s items=%d", session_id, len(results))
        return SessionOpenResponse(sealed_key=wrapper.sealed_key, items=results)
