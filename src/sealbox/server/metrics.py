"""What `GET /metrics` reports, in the Prometheus text format (the `prometheus-client` library).

Several worker processes answer on one port (granian's workers, `sealbox server`), and a scrape reaches
one of them: each must report the sum over all. prometheus_client's multiprocess mode does that, and is
the way its maintainers keep: every process writes its values to memory-mapped files in one directory
(`PROMETHEUS_MULTIPROC_DIR`), and the process that answers a scrape adds them up. `sealbox server` makes
that directory private and new at each start (`prepare_metrics_dir`, not under the data dir), before
the workers are forked. Per-worker labels were the other way: every series times the number of workers,
a restarted worker's counts reset, and the sum left to every dashboard. Counters of a worker that died
still count (its file stays, as it should); gauges of the "live" kinds drop a dead process's share at
the next scrape.

Labels hold only bounded, public words: the HTTP method (unknown methods are `other`), the route's
TEMPLATE (`/api/v1/secrets/{name}`, never the path asked for; no route matched: `unmatched`), the status
code, and fixed kinds and outcomes. Never a secret name, a user name or a token.

The cost per request is one histogram observation (two memory-mapped writes): the labelled children
are made once per (method, route, status) and kept (`_children`), so a request allocates no label
objects.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from starlette.types import Scope

from sealbox.errors import ConfigError, Unavailable
from sealbox.services.keeper_port import KeeperPort

MULTIPROC_VAR = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR = "metrics"  # where older releases kept the files, under the data dir (removed at start)
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The routes that launch (a session's or a service's one-time credential) and redeem.
LAUNCHES = {
    ("POST", "/api/v1/sessions"): "launch",
    ("POST", "/api/v1/service/sessions"): "launch",
    ("POST", "/api/v1/sessions/{session_id}/redeem"): "redeem",
}
_AUTH_FAILURES = {401: "unauthenticated", 403: "forbidden", 429: "rate_limited"}
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
T = TypeVar("T")


def prepare_metrics_dir(data_dir: Path) -> Path:
    """An empty private directory for this run's worker files, named in the environment the workers
    inherit (called by `sealbox server` before it starts them).

    Not under the data dir: the files are memory-mapped, and a write into a mapped page of a file system
    that is full kills the process (SIGBUS), so a full data disk, which must only refuse writes with
    storage_full, would reset connections. A fresh 0700 folder in the system's temporary directory; the
    last run's folder under the data dir (older releases) is removed."""
    shutil.rmtree(data_dir / METRICS_DIR, ignore_errors=True)
    try:
        path = Path(tempfile.mkdtemp(prefix="sealbox-metrics-"))
    except OSError as exc:
        raise ConfigError(f"the metrics directory cannot be made ({exc.strerror})") from None
    os.environ[MULTIPROC_VAR] = str(path)
    return path


def _outcome(status: int) -> str:
    return "ok" if status < 400 else "refused" if status < 500 else "failed"


class Metrics:
    """The metrics of one server process; `render()` answers for all of them."""

    def __init__(self, *, checkpoint: Path | None, token_digest: bytes | None = None) -> None:
        # prometheus_client picks how values are stored when it is first imported; a worker forked from
        # a process that imported it before the directory was named picks again here.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        self.directory = os.environ.get(MULTIPROC_VAR) or None
        self.checkpoint = checkpoint
        self.token_digest = token_digest  # the scraper's own token (routes/scrape.py)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # A histogram's `_count` is the count of what it timed: no separate counters of requests or
        # launches (one memory write less on every request).
        self.latency = Histogram(
            "sealbox_http_request_duration_seconds",
            "Time to answer an HTTP request (`_count`: requests answered)",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.launch_time = Histogram(
            "sealbox_launch_duration_seconds",
            "Time from a launch or redemption request to its answer (`_count`: launches, redemptions)",
            ["kind", "outcome"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.auth_failures = Counter(
            "sealbox_auth_failures",
            "Requests refused for their credentials (401, 403, 429)",
            ["kind"],
            registry=r,
        )
        self.keeper_calls = Histogram(
            "sealbox_keeper_round_trip_seconds",
            "Round trips to the keeper",
            ["operation", "outcome"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.pool_in_use = Gauge(
            "sealbox_db_connections_in_use",
            "Database connections checked out of the pools",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.pool_size = Gauge(
            "sealbox_db_pool_size", "Connections the pools keep", multiprocess_mode="livesum", registry=r
        )
        r.register(_ScrapeTime(self))
        self._scrape_time: list[Collector] = []
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._templates: dict[int, str] = {}

    # --- requests (GuardMiddleware calls `observe` once a request is answered) -----------------------

    def know_routes(self, routes: list[Any]) -> None:
        """Templates of routes that do not name themselves in the scope (mounts, plain Starlette routes)."""
        try:
            from fastapi.routing import iter_route_contexts  # FastAPI >= 0.13x: included routers nest

            routes = list(iter_route_contexts(routes))
        except ImportError:  # older FastAPI: app.routes is already flat
            pass
        for route in routes:
            original = getattr(route, "original_route", route)
            endpoint = getattr(original, "endpoint", None) or getattr(original, "app", None)
            path = getattr(route, "path", None)
            if endpoint is not None and isinstance(path, str):
                self._templates.setdefault(id(endpoint), path)

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        if route is not None:
            template: str = route.path
        else:
            endpoint = scope.get("endpoint")
            template = self._templates.get(id(endpoint), UNMATCHED) if endpoint is not None else UNMATCHED
        method: str = scope["method"]
        if method not in _METHODS:
            method = "other"  # a client's made-up methods must not grow the series (or `_children`)
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._labelled(method, template, status)
        latency, launch_time, auth_failure = children
        latency.observe(seconds)
        if launch_time is not None:
            launch_time.observe(seconds)
        if auth_failure is not None:
            auth_failure.inc()

    def _labelled(self, method: str, template: str, status: int) -> tuple[Any, Any, Any]:
        """The children one (method, route, status) moves: made once, then kept in `_children`."""
        latency = self.latency.labels(method, template, str(status))
        kind = LAUNCHES.get((method, template))
        launch_time = self.launch_time.labels(kind, _outcome(status)) if kind is not None else None
        failure = _AUTH_FAILURES.get(status)
        auth_failure = self.auth_failures.labels(failure) if failure is not None else None
        return latency, launch_time, auth_failure

    # --- the database pool and the keeper ------------------------------------------------------------

    def watch_pool(self, engine: Engine) -> None:
        pool: Any = engine.pool
        self.pool_size.inc(pool.size() if callable(getattr(pool, "size", None)) else 0)
        # Connections out already (the database's held read connection, taken at start) count too.
        self.pool_in_use.inc(pool.checkedout() if callable(getattr(pool, "checkedout", None)) else 0)
        event.listen(engine, "checkout", lambda *_: self.pool_in_use.inc())
        event.listen(engine, "checkin", lambda *_: self.pool_in_use.dec())

    def metered_keeper(self, keeper: KeeperPort) -> KeeperPort:
        return MeteredKeeper(keeper, self)

    # --- the scrape ----------------------------------------------------------------------------------

    def add_scrape_time(self, collector: Collector) -> None:
        """Report `collector`'s figures, read when scraped (the same from any worker), too."""
        self._scrape_time.append(collector)
        self.registry.register(collector)

    def render(self) -> bytes:
        if self.directory is None:
            return generate_latest(self.registry)
        _forget_dead_processes(self.directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        registry.register(_ScrapeTime(self))
        for collector in self._scrape_time:
            registry.register(collector)
        return generate_latest(registry)


class _ScrapeTime(Collector):
    """Figures read when scraped, the same from any worker: the audit checkpoint's age (how long since
    the checkpoint file `audit.head` was last written; it moves with every audited write)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Any:
        path = self.metrics.checkpoint
        if path is None:
            return
        try:
            age = max(0.0, time.time() - path.stat().st_mtime)
        except OSError:
            return  # no checkpoint yet: no figure rather than a made-up one
        yield GaugeMetricFamily(
            "sealbox_audit_checkpoint_age_seconds",
            "Seconds since the audit checkpoint was written",
            value=age,
        )


def _forget_dead_processes(directory: str) -> None:
    """Drop the live gauges of worker processes that are gone (granian restarts a worker that dies)."""
    for name in os.listdir(directory):
        if not name.startswith("gauge_live") or not name.endswith(".db"):
            continue
        pid_text = name.rsplit("_", 1)[-1].removesuffix(".db")
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(int(pid_text), directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, someone else's: not ours to judge


class MeteredKeeper:
    """A KeeperPort that times each round trip (operation, and `ok` or `unavailable`)."""

    def __init__(self, keeper: KeeperPort, metrics: Metrics) -> None:
        self.keeper = keeper
        hist = metrics.keeper_calls
        self._timers = {
            (op, outcome): hist.labels(op, outcome)
            for op in ("health", "convert")
            for outcome in ("ok", "unavailable", "failed")
        }

    def _timed(self, operation: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = call()
            outcome = "ok"
            return result
        except Unavailable:
            outcome = "unavailable"
            raise
        finally:
            self._timers[operation, outcome].observe(time.perf_counter() - started)

    def health(self) -> dict[str, str]:
        return self._timed("health", self.keeper.health)

    def convert(self, items: list[Any]) -> list[tuple[bytes, str] | None]:
        return self._timed("convert", lambda: self.keeper.convert(items))
