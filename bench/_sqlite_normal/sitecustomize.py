"""MEASUREMENT-ONLY VARIANT: run a benchmark sealbox server with SQLite ``synchronous=NORMAL``.

sealbox always runs SQLite in WAL mode with ``synchronous=FULL`` so that an acknowledged write
survives a power loss (TEST-PLAN decision 1); it has, on purpose, no setting for NORMAL. To put a
number on what FULL costs, ``bench/stack.py`` starts one server variant with this directory on its
``PYTHONPATH`` *and* ``SEALBOX_BENCH_SQLITE_SYNCHRONOUS=NORMAL`` in its environment. Python then
imports this file at interpreter start (granian's forked workers inherit the patch), and it wraps
``sealbox.store.engine._sqlite_on_connect`` so every new connection ends with
``PRAGMA synchronous=NORMAL``. Each connection reports the value it ended up with to the file named by
``SEALBOX_BENCH_SYNC_MARKER``, so the benchmark can prove the variant was really active.

Never use this outside ``bench/``: NORMAL can lose acknowledged writes on power loss.
"""

from __future__ import annotations

import os
from typing import Any


def _install() -> None:
    if os.environ.get("SEALBOX_BENCH_SQLITE_SYNCHRONOUS") != "NORMAL":
        return
    try:
        from sealbox.store import engine
    except ImportError:  # not a sealbox process
        return
    original = engine._sqlite_on_connect
    marker = os.environ.get("SEALBOX_BENCH_SYNC_MARKER")

    def on_connect_normal(dbapi_conn: Any, record: Any) -> None:
        original(dbapi_conn, record)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=NORMAL")
        value = cur.execute("PRAGMA synchronous").fetchone()[0]
        cur.close()
        if marker:
            with open(marker, "a", encoding="ascii") as fh:
                fh.write(f"{os.getpid()} {value}\n")

    engine._sqlite_on_connect = on_connect_normal  # type: ignore[assignment]


_install()
