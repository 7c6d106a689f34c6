"""A real full disk for fault tests: a small tmpfs mounted on a folder, and a filler file that takes the rest.

Mounting needs root (the tests run as root here); elsewhere the test is skipped with that reason.
"""

from __future__ import annotations

import errno
import os
import pwd
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(path: Path, *, size_mb: int, owner: str | None = None) -> Iterator[Path]:
    """Mount a tmpfs of `size_mb` MiB on `path` (created), owned by `owner` (default: us); unmount after."""
    path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "sealbox-test", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for a full disk (needs root): {out.stderr.strip()}")
    try:
        if owner is not None:
            entry = pwd.getpwnam(owner)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until its file system has no byte left; remove the file to free them."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 512, 1):
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    stats = os.statvfs(folder)
    assert stats.f_bavail * stats.f_frsize < 4096, "the filler left room"
    return filler
