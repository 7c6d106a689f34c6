"""Writing a private file (a key, a token, a lease, a credential) atomically, for every process of sealbox.

`write_private_file` writes into a new file beside the target (same folder, so the rename is atomic),
created 0600 by `O_EXCL | O_NOFOLLOW`, set to the asked mode (0600 or 0400), flushed and fsynced; then it
renames it over the target (`overwrite=True`) or links it in place only if the target does not exist
(`overwrite=False`: a key is never clobbered), and fsyncs the folder. A reader sees the old file or the
new one, never a part. A symbolic link at the target is refused: sealbox writes no private file through
a link someone else may have pointed elsewhere. `write_public_file` does the same for the public halves
of keys (0644), which sit beside the private ones.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from sealbox.errors import ConfigError

PRIVATE_MODES = (0o600, 0o400)
PUBLIC_MODE = 0o644


def write_private_file(path: Path, data: bytes | str, *, overwrite: bool, mode: int = 0o600) -> None:
    """Put `data` at `path` with `mode` (0600 or 0400), atomically.

    Raises `ConfigError` when `path` is a symbolic link, `FileExistsError` when `overwrite` is False and
    `path` exists, `ValueError` for another mode, and `OSError` when the folder cannot be written.
    """
    if mode not in PRIVATE_MODES:
        raise ValueError("a private file is 0600 or 0400")
    _write_atomically(path, data, overwrite=overwrite, mode=mode)


def write_public_file(path: Path, data: bytes | str, *, overwrite: bool) -> None:
    """Put `data` at `path` with mode 0644 (a public key, readable by all), atomically, as
    `write_private_file` does; the same errors but the mode's."""
    _write_atomically(path, data, overwrite=overwrite, mode=PUBLIC_MODE)


def _write_atomically(path: Path, data: bytes | str, *, overwrite: bool, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise ConfigError(f"{path} is a symbolic link; sealbox writes no key or token through one")
    payload = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if `path` appeared meanwhile
        _sync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable: fsync the folder that holds the new entry. The file is in place by now,
    so a filesystem that cannot sync a folder does not undo the write."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
