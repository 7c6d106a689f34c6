"""One SQLite writer at a time across processes (store/writer_lock.py): the flock beside the database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sealbox.store.writer_lock import SUFFIX, WriterLock

_TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""


def _seen_from_another_process(lock_file: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _TRY, str(lock_file)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_a_writer_holds_the_lock_for_other_processes_until_its_outermost_exit(tmp_path: Path) -> None:
    database = tmp_path / "sealbox.db"
    lock = WriterLock(database)
    lock_file = tmp_path / ("sealbox.db" + SUFFIX)
    try:
        assert lock_file.stat().st_mode & 0o777 == 0o600
        assert _seen_from_another_process(lock_file) == "free"
        with lock.held():
            assert _seen_from_another_process(lock_file) == "held"
            with lock.held():  # nested writes in one thread: the inner exit keeps the lock
                pass
            assert _seen_from_another_process(lock_file) == "held"
        assert _seen_from_another_process(lock_file) == "free"
    finally:
        lock.close()


def test_without_a_file_only_threads_are_ordered(tmp_path: Path) -> None:
    lock = WriterLock(None)
    with lock.held(), lock.held():
        pass
    lock.close()
    assert list(tmp_path.iterdir()) == []
