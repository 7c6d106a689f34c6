"""What the routes share: the database, keys, services and the keeper client, built once per app."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sealbox.config import ServerSettings
from sealbox.errors import ServiceError
from sealbox.server.metrics import Metrics
from sealbox.server.web.oidc import OIDCLogin
from sealbox.services.conversion import convert_pending
from sealbox.services.deletion import DeletionService, purge_due
from sealbox.services.expiry import announce_expiring
from sealbox.services.identity import Authenticator
from sealbox.services.keeper_port import KeeperPort
from sealbox.services.keys import ServerKeys
from sealbox.services.secrets import SecretService
from sealbox.services.sessions import SessionService
from sealbox.services.sharing import SharingService
from sealbox.services.usage import UsageService
from sealbox.store.database import Database
from sealbox.store.faults import fault_code

log = logging.getLogger("sealbox.server")


class Converter:
    """One background thread that asks the keeper to convert new outer layers; writes only poke it.

    A failed sweep is retried after a pause that doubles up to `RETRY_MAX_S` (a database or keeper
    outage is not hammered), and reported once when it starts failing and once when it works again:
    a database fault by its code, like the API's 503 (`database_unavailable`, `storage_full`).
    After a sweep the thread rests `SETTLE_S` before it answers the next poke: the writes meanwhile
    share one sweep (one keeper call, one write transaction) instead of one each, as the audit
    checkpoint's writes coalesce. A lone write is still converted at once.
    """

    SETTLE_S = 0.1
    RETRY_MIN_S = 1.0
    RETRY_MAX_S = 30.0
    IDLE_S = 30.0

    def __init__(self, db: Database, keeper: KeeperPort) -> None:
        self._db = db
        self._keeper = keeper
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealbox-converter", daemon=True)
        self.failing: str | None = None  # what the last sweep failed on, None when it worked

    def start(self) -> None:
        self._thread.start()
        self._wake.set()  # sweep whatever a previous run left sealed

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        pause = self.IDLE_S
        while not self._stop.is_set():
            self._wake.wait(timeout=pause)
            if self._stop.is_set():
                return
            self._wake.clear()
            failure = self._sweep()
            if failure is None:
                pause = self.IDLE_S
                if self._stop.wait(self.SETTLE_S):
                    return
            else:
                pause = self.RETRY_MIN_S if pause >= self.IDLE_S else min(pause * 2, self.RETRY_MAX_S)

    def _sweep(self) -> str | None:
        """One sweep; what it failed on (a code or an exception type), or None."""
        try:
            convert_pending(self._db, self._keeper)
            failure = None
        except ServiceError as exc:
            failure = exc.code
        except Exception as exc:  # a background sweep must not die; it retries after a pause
            failure = fault_code(exc) or type(exc).__name__
        if failure != self.failing:
            if failure is None:
                log.warning("outer-layer conversion works again")
            else:
                log.warning("outer-layer conversion failed (%s); retrying", failure)
        self.failing = failure
        return failure


class PurgeSweeper:
    """One background thread that removes for good what is past its recovery window, and writes the
    expiry notices that are due: at start, then every `interval` seconds. Safe beside other replicas'
    sweepers (services/deletion.py: `purge_due`; services/expiry.py: `announce_expiring`)."""

    def __init__(self, db: Database, *, interval: float) -> None:
        self._db = db
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealbox-purge", daemon=True)
        self.failing: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            self._sweep()
            if self._stop.wait(self._interval):
                return

    def _sweep(self) -> None:
        try:
            purged = purge_due(self._db, now=datetime.now(UTC))
            announced = announce_expiring(self._db, now=datetime.now(UTC))
            failure = None
        except ServiceError as exc:
            failure, purged, announced = exc.code, 0, 0
        except Exception as exc:  # a background sweep must not die; the next one tries again
            failure, purged, announced = fault_code(exc) or type(exc).__name__, 0, 0
        if purged:
            log.info("removed %d deleted secrets for good: their recovery window ended", purged)
        if announced:
            log.info("wrote %d expiry notices (secret.expiring) into the audit log", announced)
        if failure != self.failing and failure is not None:
            log.warning("removing deleted secrets failed (%s); retrying", failure)
        self.failing = failure


@dataclass(kw_only=True)
class AppContext:
    settings: ServerSettings
    db: Database
    keys: ServerKeys
    secrets: SecretService
    deletion: DeletionService
    keeper: KeeperPort
    sessions: SessionService
    sharing: SharingService
    authenticator: Authenticator
    oidc_login: OIDCLogin | None = None
    public_keeper_url: str
    converter: Converter | None = field(default=None)
    metrics: Metrics | None = None

    @property
    def usage(self) -> UsageService:
        """Usage reads hold nothing but the database: made per use, not wired in by every caller."""
        return UsageService(self.db)
