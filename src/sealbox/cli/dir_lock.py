"""One `sealbox up` per directory: an advisory lock (`flock`) on a file inside it, held while `up` runs.

The kernel drops the lock when the process ends, however it ends (kill -9 included), so a stale lock
file never blocks a later start. The file holds the owner's pid, only so that a refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sealbox.errors import ConfigError

LOCK_FILE = "up.lock"


class DirLock:
    """An exclusive lock on `<directory>/up.lock`; `release()` (or process exit) gives it up."""

    def __init__(self, directory: Path, *, what: str) -> None:
        self.path = directory / LOCK_FILE
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"another sealbox up (pid {holder})" if holder else "another sealbox up"
            raise ConfigError(f"{what} {directory} is in use by {who}") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the last descriptor drops the lock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
