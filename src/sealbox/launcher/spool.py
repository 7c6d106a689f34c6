"""Secret folders on the session side: how they are checked, written, swapped and removed.

Where a folder may go (a private root on a memory filesystem) is memory.py's part.

Files are 0400 in 0700 folders, created with O_NOFOLLOW|O_EXCL relative to a directory descriptor,
so a symlink planted in the folder cannot redirect a write. The layout is Kubernetes' atomic
writer's: the values live in a timestamped folder, `..data` is a symlink to it, and each visible
name is a symlink through `..data`; a refresh writes a new folder and renames a new `..data` over
the old one, so a reader sees either the old set or the new set, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Mapping
from pathlib import Path

import msgspec

from sealbox.errors import BadRequest
from sealbox.launcher.memory import filesystem_type
from sealbox.private_files import write_private_file

DATA_LINK = "..data"
MANIFEST = "@sealbox.json"  # '@' never occurs in a secret's file name, so this cannot collide
Content = bytes | Mapping[str, bytes]
_filesystem_type = filesystem_type  # the name the init container and older tests import


def own_folder(path: Path, *, mode: int = 0o700, what: str = "a private folder of yours") -> Path:
    """`path` as a folder of ours (created with `mode` when missing): not a symlink, owned by this
    user, and open to others no further than `mode` allows; BadRequest otherwise."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o777 & ~mode:
        raise BadRequest(f"{path} is not {what}", code="unsafe_mount_path")
    return path


def check_mount_path(path: Path) -> bool:
    """Refuse an unsafe mount path before anything is written; True if it already existed.

    It must be absolute; no component may be a symlink; if it exists it must be an empty folder
    owned by this user and not writable by others; otherwise its parent must exist.
    """
    if not path.is_absolute():
        raise BadRequest("the mount path must be absolute", code="invalid_mount_path")
    if any(part in {".", ".."} for part in path.parts) or "\x00" in str(path):
        raise BadRequest("the mount path must not contain '.' or '..'", code="invalid_mount_path")
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if current != path:
                raise BadRequest(
                    f"the parent folder of {path} does not exist", code="invalid_mount_path"
                ) from None
            return False
        except OSError as exc:  # a name too long, a folder we may not search, ...
            raise BadRequest(f"cannot use {current}: {exc.strerror}", code="invalid_mount_path") from None
        if stat.S_ISLNK(st.st_mode):
            raise BadRequest(f"{current} is a symlink; give the real path", code="unsafe_mount_path")
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise BadRequest(f"{path} exists and is not a folder", code="unsafe_mount_path")
    if st.st_uid != os.getuid():
        raise BadRequest(f"{path} is not owned by you", code="unsafe_mount_path")
    if st.st_mode & 0o022:
        raise BadRequest(f"{path} is writable by others", code="unsafe_mount_path")
    with os.scandir(path) as entries:
        empty = not any(entries)
    if not empty:
        raise BadRequest(f"{path} is not empty", code="unsafe_mount_path")
    return True


class SecretFolder(msgspec.Struct):
    """One session's folder: written once, swapped atomically on refresh, removed at the end."""

    path: Path
    existed: bool  # an empty folder the person gave us: we empty it at the end but leave it

    @classmethod
    def create(cls, path: Path) -> SecretFolder:
        existed = check_mount_path(path)
        if not existed:
            os.mkdir(path, 0o700)
        os.chmod(path, 0o700)
        return cls(path=path, existed=existed)

    def write(self, files: Mapping[str, Content], manifest: Mapping[str, object]) -> None:
        """Write a complete new set of files and switch to it in one rename."""
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            version_dir = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{os.urandom(4).hex()}"
            os.mkdir(version_dir, 0o700, dir_fd=fd)
            vfd = os.open(version_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            try:
                for name, content in files.items():
                    if isinstance(content, bytes):
                        _write_file(vfd, name, content)
                    else:
                        os.mkdir(name, 0o700, dir_fd=vfd)
                        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=vfd)
                        try:
                            for field_name, value in content.items():
                                _write_file(sub, field_name, value)
                        finally:
                            os.close(sub)
                _write_file(vfd, MANIFEST, json.dumps(manifest, sort_keys=True).encode())
            finally:
                os.close(vfd)
            tmp_link = f"{DATA_LINK}_tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_link, dir_fd=fd)
            os.symlink(version_dir, tmp_link, dir_fd=fd)
            os.rename(tmp_link, DATA_LINK, src_dir_fd=fd, dst_dir_fd=fd)
            self._relink(fd, set(files))
            self._prune(fd, keep=version_dir)
        finally:
            os.close(fd)

    def _relink(self, fd: int, names: set[str]) -> None:
        existing = {e.name for e in os.scandir(self.path) if not e.name.startswith("..")}
        for name in names - existing:
            os.symlink(f"{DATA_LINK}/{name}", name, dir_fd=fd)
        for name in existing - names:
            os.unlink(name, dir_fd=fd)

    def _prune(self, fd: int, *, keep: str) -> None:
        """Remove old version folders, keeping the newest two so a reader mid-swap still finds its files."""
        versions = sorted(
            (
                e.name
                for e in os.scandir(self.path)
                if e.name.startswith("..")
                and e.name not in {DATA_LINK, f"{DATA_LINK}_tmp"}
                and e.is_dir(follow_symlinks=False)
            ),
            key=lambda n: os.stat(n, dir_fd=fd, follow_symlinks=False).st_mtime_ns,
        )
        import shutil  # loaded while the server answers (launcher/prefetch.py), not before the first call

        for old in [v for v in versions if v != keep][:-1]:
            shutil.rmtree(self.path / old, ignore_errors=True)

    def remove(self) -> None:
        remove_folder(self.path, keep_folder=self.existed)


def _write_file(dir_fd: int, name: str, content: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400, dir_fd=dir_fd)
    try:
        view = memoryview(content)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def remove_folder(path: Path, *, keep_folder: bool, owner: int | None = None) -> None:
    """Remove everything sealbox put in `path` (and `path` itself unless it was given to us); with `owner`,
    only while the folder still belongs to that user."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return  # not ours any more: never follow a link to delete elsewhere
    if owner is not None and st.st_uid != owner:
        return  # someone else's folder under a name we once used
    import shutil  # as above

    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    if not keep_folder:
        with contextlib.suppress(OSError):
            os.rmdir(path)


# Leases: a record of each live folder, so that the next run removes what a crashed run left.


def process_start_time(pid: int) -> str | None:
    """When a living process started (its identity beside the pid, which the system reuses); None when it is
    gone. A zombie counts as gone: it is only a record waiting for its parent (or, orphaned, for init, which
    may reap it seconds later), and the folder it held is left over."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat_line.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def write_lease(
    root: Path, *, path: Path | None, keep_folder: bool, session_id: str, server: str | None = None
) -> Path:
    """Record a live run (process, folder, session and its server; no value) so the next run can clean up
    after a crash."""
    lease = root / f"lease-{os.getpid()}-{os.urandom(4).hex()}.json"
    _write_lease_file(
        lease,
        {
            "pid": os.getpid(),
            "start": process_start_time(os.getpid()),
            "path": str(path) if path is not None else None,
            "keep_folder": keep_folder,
            "session": session_id,
            "server": server,
        },
    )
    return lease


def _write_lease_file(lease: Path, data: Mapping[str, object]) -> None:
    write_private_file(lease, json.dumps(data), overwrite=True)


def keep_session_lease(lease: Path) -> None:
    """The run is over and its folder removed, but its session could not be ended (server unreachable):
    keep only the session in the lease, so that the next run ends it."""
    try:
        data = json.loads(lease.read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict):
        _write_lease_file(lease, {**data, "path": None})


class Leftover(msgspec.Struct, frozen=True):
    session_id: str
    lease: Path  # remove it once the session is ended; keep it to try again next time
    server: str | None = None  # the server the session is on (None: a lease of an older version)


def clean_leftovers(root: Path) -> list[Leftover]:
    """Remove the folders of runs whose process is gone (crashed or killed); returns their sessions, whose
    leases the caller removes once each is ended."""
    found: list[Leftover] = []
    for lease in root.glob("lease-*.json"):
        try:
            data = json.loads(lease.read_text())
            pid, start = int(data["pid"]), data["start"]
            path = Path(data["path"]) if data.get("path") else None
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if start is not None and process_start_time(pid) == start:
            continue  # still running
        if path is not None:
            remove_folder(path, keep_folder=bool(data.get("keep_folder")), owner=os.getuid())
        if isinstance(data.get("session"), str):
            keep_session_lease(lease)  # the folder is gone; the session may still need ending
            server = data.get("server")
            found.append(
                Leftover(
                    session_id=data["session"],
                    lease=lease,
                    server=server if isinstance(server, str) else None,
                )
            )
        else:
            lease.unlink(missing_ok=True)
    return found
