"""The key rotations' progress in `/metrics`: rows left per kind and when each kind last completed.

Computed when scraped (a few counts and a look at the `done:` rows, `store/rotation_progress.py`),
kept for `CACHE_SECONDS` in the process that answers, so a scraper hammering /metrics costs at most a
few queries a minute per worker. The keeper-key figure needs the keeper's current key ids, which only
the keeper knows (its wrap key never leaves it): one health call per computation, and no keeper-key
figure while the keeper does not answer. Labels are the rotation kinds only, never a user or a key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sealbox.crypto.keyring import Keyring
from sealbox.services.keeper_port import KeeperPort
from sealbox.store.database import Database
from sealbox.store.rotation import DatabaseRotationRows
from sealbox.store.rotation_progress import RotationProgress

CACHE_SECONDS = 5.0
log = logging.getLogger("sealbox.server")


class RotationProgressCollector(Collector):
    def __init__(self, db: Database, master: Callable[[], Keyring], keeper: KeeperPort) -> None:
        self.rows = DatabaseRotationRows(db)
        self.master = master
        self.keeper = keeper
        self._lock = threading.Lock()
        self._cached: tuple[float, RotationProgress] | None = None

    def _progress(self) -> RotationProgress | None:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
            try:
                found = self.rows.progress(self.master().current_id.hex(), self._keeper_current())
            except Exception as exc:  # a database that does not answer: no figure, not a failed scrape
                log.warning("rotation progress not read (%s)", type(exc).__name__)
                return None
            self._cached = (now, found)
            return found

    def _keeper_current(self) -> tuple[str, str] | None:
        try:
            health = self.keeper.health()
        except Exception as exc:  # a keeper that does not answer: no keeper-key figure
            log.warning("keeper key ids not read (%s)", type(exc).__name__)
            return None
        return ("hpke:" + health["key_id"], "wrap:" + health["wrap_key_id"])

    def describe(self) -> Any:
        """The families without figures: a registry asks this on `register` (otherwise it would collect,
        and a count over every secret version would run at each worker's start)."""
        return _families()

    def collect(self) -> Any:
        found = self._progress()
        if found is None:
            return
        left, done = _families()
        for kind, n in sorted(found.rows_left.items()):
            left.add_metric([kind], n)
        yield left
        for kind, at in sorted(found.completed.items()):
            done.add_metric([kind], at.timestamp())
        yield done


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    left = GaugeMetricFamily(
        "sealbox_key_rotation_rows_left",
        "Rows a key rotation still has to re-wrap (master-key: user keys on an old master key; "
        "user-keys: data keys under a previous user key; keeper-key: outer layers under none of "
        "the keeper's current key ids)",
        labels=["kind"],
    )
    done = GaugeMetricFamily(
        "sealbox_key_rotation_last_completed_timestamp_seconds",
        "When the last rotation of each kind completed (Unix time)",
        labels=["kind"],
    )
    return left, done
