"""Running the keeper: key directory, hardening (no core dumps), and its listening socket."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import resource
import socket
import stat
from pathlib import Path

import uvicorn

from sealbox.config import KeeperSettings
from sealbox.errors import ConfigError
from sealbox.keeper.app import create_keeper_app
from sealbox.keeper.keys import KeyDirectory

log = logging.getLogger("sealbox.keeper")
_PR_SET_DUMPABLE = 4


def harden_process() -> None:
    """No core dumps and no ptrace/`/proc/<pid>/mem` reads by other processes of the same user."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover -- not Linux
        log.warning("could not mark the process non-dumpable")


def bind_unix_socket(path: Path) -> socket.socket:
    """Bind a 0600 unix socket in a 0700 directory, replacing a stale socket file only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    parent = path.parent.stat()
    if parent.st_uid != os.getuid() or parent.st_mode & 0o077:
        raise ConfigError(f"socket directory {path.parent} must be 0700 and owned by this user")
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ConfigError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: nothing listens there
        else:
            probe.close()
            raise ConfigError(f"a keeper already listens on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def bind_tcp_socket(host: str, port: str) -> socket.socket:
    """Bind the keeper's TCP port here, so that a taken port is one clear line, not a server's log."""
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("keeper listen address must be unix:///path or tcp://host:port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as exc:
        sock.close()
        reason = "it is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or "refused")
        raise ConfigError(f"the keeper cannot listen on {host}:{port}: {reason}") from None
    sock.listen(128)
    return sock


def serve(settings: KeeperSettings) -> None:
    harden_process()
    keys = KeyDirectory(settings.dir)
    listen = settings.resolved_listen
    socket_path = Path(listen.removeprefix("unix://")) if listen.startswith("unix://") else None
    # uvicorn re-raises SIGTERM after shutting down, so clean up in the lifespan, not in a finally.
    app = create_keeper_app(
        keys,
        server_key_path=settings.resolved_server_key_path,
        on_shutdown=(lambda: socket_path.unlink(missing_ok=True)) if socket_path else None,
    )
    log_level = settings.log_level.lower()
    if socket_path is not None:
        path = socket_path
        sock = bind_unix_socket(path)
        log.info("keeper listening on unix socket %s", path)
        try:
            config = uvicorn.Config(
                app,
                fd=sock.fileno(),
                log_level=log_level,
                log_config=None,  # uvicorn's loggers write through the root handler (server/logs.py)
                access_log=False,
                lifespan="on",
                server_header=False,
            )
            uvicorn.Server(config).run()
        finally:
            sock.close()
            path.unlink(missing_ok=True)
    elif listen.startswith("tcp://"):
        host, _, port = listen.removeprefix("tcp://").rpartition(":")
        sock = bind_tcp_socket(host.strip("[]"), port)
        log.info("keeper listening on %s:%s", host, port)
        config = uvicorn.Config(
            app, log_level=log_level, log_config=None, access_log=False, lifespan="off", server_header=False
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()
    else:
        raise ConfigError("keeper listen address must be unix:///path or tcp://host:port")
