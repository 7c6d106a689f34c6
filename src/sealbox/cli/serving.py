"""`sealbox server`: checks before listening, then granian with sealbox's limits on slow and many clients.

The limits (docs/configuration.md, "Limits on clients"):
- HTTP/1.1 only: no cleartext HTTP/2 with its own, separate timeouts (put TLS and HTTP/2 in front).
- `header_read_timeout`: a connection must send a request's headers within it, and an idle keep-alive
  connection is closed after it (hyper runs one timer for both).
- `body_read_timeout`: the whole body within it, else 408 and the connection is closed (the
  guard middleware, sealbox.server.middleware).
- `max_connections` per server process (granian's backpressure: connections beyond it wait in the
  listen backlog until one ends), and no request head over 64 KiB.
"""

from __future__ import annotations

import os
import resource
import shutil

from sealbox.cli.port_check import check_port_free
from sealbox.cli.processes import install_keeper_public_key
from sealbox.config import SERVER_MAIN_PID_VAR, ServerSettings
from sealbox.crypto.keyring import load_keyring
from sealbox.server.logs import dict_config
from sealbox.server.metrics import prepare_metrics_dir
from sealbox.server.routes.scrape import token_digest
from sealbox.services.keys import ensure_master_key, ensure_signing_key

WORKERS_KILL_TIMEOUT_S = 10
BACKLOG = 2048
MAX_HEAD_BYTES = 64 * 1024  # request line and headers (hyper's buffer; at least 8 KiB)
_SPARE_FILES = 256  # database, key files, logs, the keeper's socket


def prepare(settings: ServerSettings) -> None:
    """A free port, the keys the server creates itself, the keeper's public key; raises SealboxError."""
    check_port_free(settings.host, settings.port)
    token_digest(settings.metrics_token_path)  # an unreadable scraper token: one line now, not per worker
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.master_key_path is None:
        ensure_master_key(settings.resolved_master_key_path)
    if settings.signing_key_path is None:
        ensure_signing_key(settings.resolved_signing_key_path)
    # The master key opens now, in one line if it cannot (a key file wrapped by a sealed OpenBao), rather
    # than in each worker's log.
    load_keyring(settings.resolved_master_key_path)
    install_keeper_public_key(
        keeper_url=settings.resolved_keeper_url,
        keeper_dir=None,
        target=settings.resolved_keeper_public_key_path,
    )


def raise_open_file_limit(wanted: int) -> None:
    """Each connection is a file descriptor: lift the soft limit towards `wanted` (never past the hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def serve(settings: ServerSettings) -> None:
    """Run granian in this process until it is stopped (its workers are processes of their own)."""
    raise_open_file_limit(settings.max_connections + _SPARE_FILES)
    # The worker processes build their own settings from the environment: hand them paths, never keys.
    os.environ["SEALBOX_DATA_DIR"] = str(settings.data_dir)
    os.environ["SEALBOX_KEEPER_URL"] = settings.resolved_keeper_url
    os.environ["SEALBOX_LOG_FORMAT"] = settings.log_format  # a --log-format flag reaches the workers too
    os.environ[SERVER_MAIN_PID_VAR] = str(os.getpid())  # a worker started after this process died exits
    metrics_dir = prepare_metrics_dir(settings.data_dir)  # the workers' shared metrics files
    try:
        _serve(settings)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(settings: ServerSettings) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    Granian(
        "sealbox.server.app:app_from_env",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=settings.header_read_timeout * 1000,
            keep_alive=True,
            max_buffer_size=MAX_HEAD_BYTES,
        ),
        backlog=BACKLOG,
        backpressure=settings.max_connections,
        log_access=False,
        log_level=settings.log_level.lower(),  # type: ignore[arg-type]
        log_dictconfig=dict_config(settings.log_level, settings.log_format.lower()),
        workers_kill_timeout=WORKERS_KILL_TIMEOUT_S,  # a worker that ignores SIGTERM must not hang a stop
    ).serve()
