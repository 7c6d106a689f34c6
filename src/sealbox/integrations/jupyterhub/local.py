"""Secret folders for single-user servers that run on the hub's machine (the local spawners).

Layout, on a memory filesystem (`/dev/shm`, or `c.SealboxSpawner.sealbox_memory_base`):

    <base>/sealbox-hub-<hub uid>-<random>/   0711, the hub's: users can reach their folder, not list others
        <session id>/                        0700, the server's user: SEALBOX_SECRETS_DIR (files 0400)
        leases/<session id>.json             0600, the hub's: which process holds which folder and session

The root's name is random (mkdtemp) and checked after creation (memory.find_or_make: a folder owned by the
hub's user, 0711, on tmpfs or ramfs); a restarted hub finds it again by the same check. Anyone may create
`/dev/shm/sealbox-hub-...` names first: such objects are not the hub's, so they are skipped, and they
neither receive values nor stop a spawn.

A lease names the hub process that created the folder and, once started, the single-user server's
process (pid and start time, so a reused pid is not mistaken for it). When neither lives any more, the
folder is left over from a crash: `stale_leases` finds it and `remove_lease` removes it (the hub also ends
its session). No value is ever in a lease.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sealbox.errors import BadRequest
from sealbox.launcher.contents import folder_contents
from sealbox.launcher.formats.plan import Formatted
from sealbox.launcher.memory import SHM, find_or_make, found_roots
from sealbox.launcher.redeem import Delivered
from sealbox.launcher.spool import SecretFolder, own_folder, process_start_time, remove_folder
from sealbox.private_files import write_private_file

_SESSION_ID = re.compile(r"[a-f0-9]{32}")
_ROOT_MODE = 0o711  # traverse only: each user reaches the own 0700 folder by name


def _prefix() -> str:
    return f"sealbox-hub-{os.getuid()}-"


def hub_root(base: Path | None = None) -> Path:
    """The hub's folder on the memory filesystem `base` (default /dev/shm), found or made (see above)."""
    where = base or SHM
    root = find_or_make(
        where,
        _prefix(),
        mode=_ROOT_MODE,
        refusal=f"no memory filesystem for the servers' secret folders at {where} (sealbox_memory_base)",
    )
    own_folder(root / "leases", what="a private folder of the hub's")
    return root


def find_hub_root(base: Path | None = None) -> Path | None:
    """The hub's folder if one exists (nothing is created)."""
    found = found_roots(base or SHM, _prefix(), mode=_ROOT_MODE)
    return found[0] if found else None


@dataclass(frozen=True, kw_only=True, slots=True)
class Lease:
    session_id: str
    folder: Path
    user: str
    path: Path  # the lease file


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give the folder and everything in it (links included, never followed) to the server's user."""
    if (uid, gid) == (os.getuid(), os.getgid()):
        return
    os.lchown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def write_folder(
    root: Path,
    *,
    session_id: str,
    user: str,
    items: tuple[Delivered, ...],
    uid: int,
    gid: int,
    formatted: Formatted | None = None,
) -> Path:
    """Write the session's files (0400 in a 0700 folder) for the server's user; returns the folder.
    `formatted`: the files of the secrets chosen in a client's format (render_session, for this folder).

    The lease is written first, so that a crash at any later point leaves something to clean up.
    """
    if not _SESSION_ID.fullmatch(session_id):
        raise BadRequest("a session id is 32 lowercase hex digits", code="invalid_session")
    folder = root / session_id
    _write_lease(root, session_id=session_id, folder=folder, user=user, server=None)
    secret_folder = SecretFolder.create(folder)
    files, manifest = folder_contents(items, formatted)
    secret_folder.write(files, manifest)
    _chown_tree(folder, uid, gid)
    return folder


def _process(pid: int | None) -> dict[str, object] | None:
    return None if pid is None else {"pid": pid, "start": process_start_time(pid)}


def _write_lease(root: Path, *, session_id: str, folder: Path, user: str, server: int | None) -> None:
    data = {
        "session": session_id,
        "folder": str(folder),
        "user": user,
        "hub": _process(os.getpid()),
        "server": _process(server),
    }
    write_private_file(root / "leases" / f"{session_id}.json", json.dumps(data), overwrite=True)


def record_server(root: Path, *, session_id: str, folder: Path, user: str, pid: int) -> None:
    """The server started: from now on the folder lives as long as that process (hub restarts included)."""
    _write_lease(root, session_id=session_id, folder=folder, user=user, server=pid)


def _alive(proc: object) -> bool:
    if not isinstance(proc, dict) or not isinstance(proc.get("pid"), int):
        return False
    start = process_start_time(proc["pid"])
    return start is not None and start == proc.get("start")


def stale_leases(root: Path) -> list[Lease]:
    """Leases whose server (or, before it started, whose hub) is gone: what a crash left behind."""
    found = []
    for path in sorted((root / "leases").glob("*.json")):
        try:
            data = json.loads(path.read_text())
            session_id, folder, user = str(data["session"]), Path(data["folder"]), str(data["user"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        holder = data.get("server") or data.get("hub")
        if _alive(holder) or not _SESSION_ID.fullmatch(session_id) or folder.parent != root:
            continue
        found.append(Lease(session_id=session_id, folder=folder, user=user, path=path))
    return found


def remove_lease(root: Path, session_id: str) -> None:
    """Remove a session's folder (everything sealbox wrote in it) and its lease."""
    if not _SESSION_ID.fullmatch(session_id):
        return
    remove_folder(root / session_id, keep_folder=False)
    (root / "leases" / f"{session_id}.json").unlink(missing_ok=True)
