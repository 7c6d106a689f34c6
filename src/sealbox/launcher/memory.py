"""Where values may be written on the session side: private folders on a memory filesystem, or nowhere.

`/dev/shm` is writable by every local user, so any fixed name there (`/dev/shm/sealbox-<uid>`) can be
taken first by someone else: a folder of theirs, a symlink, a FIFO. Nothing here trusts a name it did
not just create. A private root is one of:

- `$XDG_RUNTIME_DIR/sealbox`, when $XDG_RUNTIME_DIR is this user's own folder (0700, on a memory
  filesystem): nobody else can create anything inside it;
- else `<base>/<prefix><random>`, made by `mkdtemp` (a new name, created exclusively) and checked
  after creation; a later run reuses one that passes the same check: a folder, not a link, owned by
  this user, with exactly the expected mode, on tmpfs or ramfs (fstatfs on the opened folder);
- else nothing: the caller refuses with one line (`no_memory_fs`). There is no fallback to a disk.

A squatter's objects never pass the check (they are not owned by us), so they are skipped and cannot
stop a launch either: a fresh random name is always available.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from sealbox.errors import BadRequest

SHM = Path("/dev/shm")  # noqa: S108 -- only folders created here under random names are used  # nosec B108
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
_MAGIC = {0x01021994: "tmpfs", 0x858458F6: "ramfs"}  # statfs(2) f_type
NO_MEMORY_FS = (
    "no memory filesystem to hold the secrets ($XDG_RUNTIME_DIR or /dev/shm); sealbox never writes them "
    "to a disk: pass --mount-path DIR to choose a folder yourself"
)


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem `path` is on, from /proc/self/mounts (longest mount prefix wins)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    best, best_type = "", None
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point = parts[1].replace("\\040", " ")
        if (target == mount_point or target.startswith(mount_point.rstrip("/") + "/")) and len(
            mount_point
        ) >= len(best):
            best, best_type = mount_point, parts[2]
    return best_type


def _fd_filesystem_type(fd: int, path: Path) -> str | None:
    """The filesystem type of an open folder, by fstatfs(2); from the mount table without libc."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(256)  # larger than struct statfs; f_type comes first
        if libc.fstatfs(fd, buffer) != 0:
            return None
        magic = ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF
        return _MAGIC.get(magic, "other")
    except (OSError, AttributeError):
        return filesystem_type(path)


def check_private(path: Path, *, mode: int) -> None:
    """BadRequest unless `path` is a folder (not a link) owned by this user, with exactly `mode`, on a memory
    filesystem. It is opened (without following links) and checked by the descriptor, so what is checked
    is what is there."""
    refused = BadRequest(f"{path} is not a private folder of yours in memory", code="unsafe_mount_path")
    try:
        st = os.lstat(path)
    except OSError:
        raise refused from None
    # A FIFO or anything else is refused before it is opened (opening a FIFO would block).
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) != mode:
        raise refused
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise refused from None
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) or opened.st_uid != os.getuid():
            raise refused
        if _fd_filesystem_type(fd, path) not in MEMORY_FILESYSTEMS:
            raise BadRequest(f"{path} is not on a memory filesystem", code="no_memory_fs")
    finally:
        os.close(fd)


def is_private(path: Path, *, mode: int) -> bool:
    try:
        check_private(path, mode=mode)
    except BadRequest:
        return False
    return True


def found_roots(base: Path, prefix: str, *, mode: int) -> list[Path]:
    """Folders `<base>/<prefix>*` that pass `check_private`, by name (what earlier runs made)."""
    try:
        with os.scandir(base) as entries:
            names = sorted(e.name for e in entries if e.name.startswith(prefix))
    except OSError:
        return []
    return [base / name for name in names if is_private(base / name, mode=mode)]


def find_or_make(base: Path, prefix: str, *, mode: int, refusal: str = NO_MEMORY_FS) -> Path:
    """A private folder `<base>/<prefix><random>`: the first that an earlier run made and that still passes
    `check_private`, else a new one (mkdtemp, then the same check). BadRequest `no_memory_fs` (`refusal`)
    when none can be had."""
    found = found_roots(base, prefix, mode=mode)
    if found:
        return found[0]
    import tempfile  # only the first run of a user makes its folder

    try:
        made = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    except OSError:
        raise BadRequest(refusal, code="no_memory_fs") from None
    try:
        fd = os.open(made, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        check_private(made, mode=mode)
    except (OSError, BadRequest):
        with contextlib.suppress(OSError):
            os.rmdir(made)
        raise BadRequest(refusal, code="no_memory_fs") from None
    return made


def runtime_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """`$XDG_RUNTIME_DIR/sealbox` (created when missing) when $XDG_RUNTIME_DIR is this user's own 0700
    folder on a memory filesystem; None otherwise."""
    runtime = (os.environ if environ is None else environ).get("XDG_RUNTIME_DIR")
    if not runtime or not os.path.isabs(runtime):
        return None
    base = Path(runtime)
    try:
        st = os.lstat(base)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    try:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if _fd_filesystem_type(fd, base) not in MEMORY_FILESYSTEMS:
            return None  # checked before anything is created there
    finally:
        os.close(fd)
    root = base / "sealbox"
    with contextlib.suppress(OSError):
        os.mkdir(root, 0o700)
    return root if is_private(root, mode=0o700) else None


def user_prefix() -> str:
    return f"sealbox-{os.getuid()}-"


def private_root(*, shm: Path = SHM, environ: Mapping[str, str] | None = None) -> Path:
    """This user's private root for secret folders and leases (see the module's docstring)."""
    return runtime_root(environ) or find_or_make(shm, user_prefix(), mode=0o700)


def private_roots(*, shm: Path = SHM, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Every private root of this user that exists now (for cleaning up after crashed runs), including the
    fixed-name folder of older versions when it passes the same check."""
    roots = [r for r in [runtime_root(environ)] if r is not None]
    roots += found_roots(shm, user_prefix(), mode=0o700)
    legacy = shm / f"sealbox-{os.getuid()}"
    if is_private(legacy, mode=0o700):
        roots.append(legacy)
    return roots
