"""Advance notice of expiry: a `secret.expiring` audit record 30, 7 and 1 days before a secret expires.

The server's background sweep (server/context.py, beside the recovery-window purge) calls
`announce_expiring`. Each secret gets each notice once per expiry: the secret's row keeps the closest
notice written (`expiry_announced_days`), set in the same transaction as the record and only if no other
replica's sweep set it first; a new expiry starts over. A secret first seen 5 days before its expiry gets
the 7-day notice only: the closest due one, never a stale one. Past its expiry a secret is refused at
launch (services/session_checks.py) and the 1-day notice is the last.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sealbox.services.audit import record
from sealbox.services.ports import Store

NOTICE_DAYS = (1, 7, 30)  # closest first: a secret due for several gets only the closest
BATCH = 100


def announce_expiring(db: Store, *, now: datetime) -> int:
    """Write the notices that are due at `now`, one secret per transaction; returns how many."""
    written = 0
    for days in NOTICE_DAYS:
        while True:
            with db.reading() as uow:
                due = uow.secrets.expiring_unannounced(
                    before=now + timedelta(days=days), days=days, limit=BATCH
                )
            done = 0
            for secret in due:
                expires_at = secret.expires_at
                if expires_at is None:  # pragma: no cover -- the query's condition
                    continue
                with db.writing() as uow:
                    if uow.secrets.mark_expiry_announced(secret.id, days=days, expires_at=expires_at):
                        record(
                            uow,
                            None,
                            "secret.expiring",
                            now=now,
                            secret_id=secret.id,
                            secret_name=secret.ref,
                            version=secret.current_version,
                            detail=f"days={days} expires_at={expires_at:%Y-%m-%dT%H:%M:%SZ}",
                        )
                        done += 1
            written += done
            if len(due) < BATCH or done == 0:
                break
    return written
