"""Rotating the audit chain's key: a new key tags new records at once; old records keep theirs.

The audit chain's keys live in the master key file (`audit:` lines, the current one first; see
`crypto.keyring.Keyring.audit`), so every server process follows a rotation the way it follows a
master-key rotation: it re-reads the changed file on its next audit record (`audit_chain.LiveChainKeys`).
Nothing is re-tagged: each record names the key id that tagged it, and `sealbox audit verify` checks
it under that key, so records from before and after the change verify alike.

Retiring: an audit key stays as long as one record (or the checkpoint file) names it; without it that
part of the chain could no longer be verified, which is what the chain is for. `--retire` removes only
old audit keys that tagged nothing, and refuses, in one line, while any old one is named.

Both commands hold the master-key lease: they and a master-key rotation all rewrite the master key
file, and one runner at a time never loses another's change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import load_keyring, replace_keyring
from sealbox.errors import Conflict
from sealbox.services.rotation import MASTER_LEASE, RotationRows, leased

AUDIT_KIND = "audit-key"


class AuditKeyRows(RotationRows, Protocol):
    def audit_key_uses(self, key_ids: set[str]) -> dict[str, int]:
        """How many audit records (the checkpoint file counting as one) name each of `key_ids`."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditKeyDone:
    current_id: str
    previous_id: str


def rotate_audit_key(rows: AuditKeyRows, key_path: Path) -> AuditKeyDone:
    """Make a new audit key current in the master key file, and record that under the new key."""
    with leased(rows, MASTER_LEASE):
        ring = load_keyring(key_path)
        previous = ChainKeys.derive(ring).current_id
        ring = ring.with_new_audit_key()
        replace_keyring(key_path, ring)
        current = ring.audit[0][0].hex()
        now = datetime.now(UTC)
        rows.record("key.rotate", f"audit key {current} is current (was {previous})", now=now)
        rows.mark_done(AUDIT_KIND, now=now)
    return AuditKeyDone(current_id=current, previous_id=previous)


def retire_audit_keys(rows: AuditKeyRows, key_path: Path) -> tuple[str, ...]:
    """Remove the old audit keys no record names; Conflict (nothing removed) while a record names one."""
    with leased(rows, MASTER_LEASE):
        ring = load_keyring(key_path)
        old = {kid for kid, _ in ring.audit[1:]}
        if not old:
            return ()
        _refuse_if_named(rows, old)
        replace_keyring(key_path, ring.without_audit_keys(old))
        try:
            _refuse_if_named(rows, old)  # a server that had not seen the rotation tagged one meanwhile
        except Conflict:
            replace_keyring(key_path, ring)
            raise
        retired = tuple(sorted(kid.hex() for kid in old))
        rows.record("key.retire", "audit keys retired: " + ", ".join(retired), now=datetime.now(UTC))
    return retired


def _refuse_if_named(rows: AuditKeyRows, old: set[bytes]) -> None:
    used = {kid: n for kid, n in rows.audit_key_uses({kid.hex() for kid in old}).items() if n}
    if used:
        raise Conflict(
            f"{sum(used.values())} audit record(s) name old audit key(s) {', '.join(sorted(used))}: an "
            "audit key is kept while a record it tagged is, so that `sealbox audit verify` can check "
            "the chain; nothing retired",
            code="audit_key_in_use",
        )
