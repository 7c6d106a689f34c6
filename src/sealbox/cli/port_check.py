"""Before the server listens: is its port free, and if not, which process holds it.

granian opens its port with SO_REUSEPORT (each worker binds it), so a second server on a port that one
of ours already serves would start without an error and get half the connections. A probe bound
without SO_REUSEPORT conflicts with any socket listening there, ours or another program's; that is how
`sealbox up` and `sealbox server` refuse with one line instead.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from sealbox.errors import ConfigError

_LISTEN = "0A"  # TCP state in /proc/net/tcp


def check_port_free(host: str, port: int) -> None:
    """Raise ConfigError (one line, naming the holder where this user may see it) unless host:port is free."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise ConfigError(f"cannot listen on {host}: not an address of this machine") from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT do not count
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                holder = port_holder(port)
                by = f" by {holder}" if holder else ""
                raise ConfigError(
                    f"port {port} on {host} is already in use{by}: stop it or choose another --port"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"cannot listen on {host}: not an address of this machine") from None
            if exc.errno == errno.EACCES:
                raise ConfigError(f"port {port} needs privileges this user does not have") from None
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror})") from None


def port_holder(port: int) -> str | None:
    """ "a sealbox up (pid N)", "nginx (pid N)", or None when no process of ours to see holds it."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    for pid in _pids():
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return _describe(pid)
    return None


def _listening_inodes(port: int) -> set[str]:
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def _pids() -> list[int]:
    return sorted(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())


def _describe(pid: int) -> str:
    """Name the outermost sealbox process above a holder (a granian worker's server, that server's `up`),
    else the holder's program name. Only a sealbox command line is shown: another program's arguments
    may hold its own secrets."""
    best: str | None = None
    current = pid
    for _ in range(4):
        command = _sealbox_command(current)
        if command is not None:
            best = f"a sealbox {command} (pid {current})"
        parent = _parent(current)
        if parent is None or parent <= 1:
            break
        current = parent
    if best is not None:
        return best
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        name = "a process"
    return f"{name} (pid {pid})"


def _sealbox_command(pid: int) -> str | None:
    """The subcommand of a `sealbox ...` or `python -m sealbox ...` process, else None."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv if a]
    program = os.path.basename(words[0]) if words else ""
    if program.startswith("python") and words[1:3] == ["-m", "sealbox"]:
        rest = words[3:]
    elif program.startswith("python") and len(words) > 1 and os.path.basename(words[1]) == "sealbox":
        rest = words[2:]
    elif program == "sealbox":
        rest = words[1:]
    else:
        return None
    return rest[0] if rest and rest[0].isalpha() else "process"


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
