"""What the routes share: the database, keys, services and the keeper client, built once per app."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sealbox.config import ServerSettings
from sealbox.server.web.oidc import OIDCLogin
from sealbox.services.conversion import convert_pending
from sealbox.services.identity import Authenticator
from sealbox.services.keys import ServerKeys
from sealbox.services.launches import LaunchService
from sealbox.services.ports import KeeperPort
from sealbox.services.secrets import SecretService
from sealbox.services.sharing import SharingService
from sealbox.store.database import Database

log = logging.getLogger("sealbox.server")


class Converter:
    """One background thread that asks the keeper to convert new outer layers; writes only poke it."""

    def __init__(self, db: Database, keeper: KeeperPort) -> None:
        self._db = db
        self._keeper = keeper
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealbox-converter", daemon=True)

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
        while not self._stop.is_set():
            self._wake.wait(timeout=30)
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                convert_pending(self._db, self._keeper)
            except Exception as exc:  # a background sweep must not die; it retries on the next poke
                log.warning("outer-layer conversion failed: %s", type(exc).__name__)


@dataclass(kw_only=True)
class AppContext:
    settings: ServerSettings
    db: Database
    keys: ServerKeys
    secrets: SecretService
    keeper: KeeperPort
    launches: LaunchService
    sharing: SharingService
    authenticator: Authenticator
    oidc_login: OIDCLogin | None = None
    public_keeper_url: str
    converter: Converter | None = field(default=None)
