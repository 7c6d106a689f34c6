"""A database rolled back beside a newer audit checkpoint (issue 12, "Under faults" 3; TEST-PLAN T31).

Before: restore an older database, start the server, and as soon as the chain grew past the
checkpoint's record number the server overwrote the checkpoint, after which `audit verify` passed.
Now, with real processes:

- the server refuses to start with one line, at every start, and the admin CLI refuses too; the
  checkpoint does not move;
- a database rolled back under a running server (the SQLite backup API writing into the live file)
  does not move the checkpoint either, however far the chain grows past it;
- `sealbox admin audit reanchor --reason ...` appends an `audit.reanchor` record naming what the
  checkpoint named and what the chain had, and anchors there; `verify` then passes and lists the gap,
  the server starts, and the anchor moves on as before;
- on PostgreSQL, two replicas each anchor in their own data dir: each refuses until re-anchored on
  its own host.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from sealbox.store.audit_anchor import CHECKPOINT_NAME, read_checkpoint
from tests.support.anchor import chain_keys, newest_record, settled, stack_url
from tests.support.canaries import make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, free_port, running_stack, sealbox_cmd, wait_for

API = "/api/v1"
REFUSAL = "error: the audit chain does not hold what its checkpoint names"


def _create(stack: Stack, prefix: str, count: int) -> None:
    with stack.client() as c:
        for i in range(count):
            name = f"{prefix}{i}"
            r = c.post(f"{API}/secrets", json={"name": name, "value": make_canary("rollback")})
            assert r.status_code == 201, r.text


def _cli(stack: Stack, *args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sealbox_cmd(*args),
        env=stack.env(SEALBOX_DATA_DIR=str(data_dir or stack.data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _start_refused(stack: Stack, data_dir: Path | None = None) -> None:
    """`sealbox server` exits at start with exactly one line, the refusal; it never serves."""
    port = free_port()
    proc = subprocess.Popen(
        sealbox_cmd("server", "--host", "127.0.0.1", "--port", str(port), "--keeper-url", stack.keeper.url),
        env=stack.env(SEALBOX_DATA_DIR=str(data_dir or stack.data_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                raise AssertionError("the server started on a chain that lost what its checkpoint names")
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server neither started nor exited"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 1, (out, err)
    lines = (out + err).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(REFUSAL), lines
    assert "sealbox admin audit reanchor" in lines[0]


def _verify(stack: Stack, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    return _cli(stack, "audit", "verify", "--data-dir", str(data_dir or stack.data_dir))


def _reanchor_record(stack: Stack, record_id: int) -> tuple[str, str]:
    engine = create_engine(stack_url(stack), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT action, detail FROM audit_events WHERE id = :i"), {"i": record_id}
            ).one()
    finally:
        engine.dispose()
    return str(row[0]), str(row[1])


def _backup(stack: Stack, target: Path) -> None:
    with (
        closing(sqlite3.connect(stack.data_dir / "sealbox.db")) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


@pytest.mark.slow
def test_a_restored_older_database_is_refused_at_every_start_until_an_audited_reanchor(
    tmp_path: Path,
) -> None:
    with running_stack(tmp_path) as stack:
        _create(stack, "before", 3)
        settled(stack)
        _backup(stack, tmp_path / "backup.db")
        restored_head = newest_record(stack)
        _create(stack, "after", 5)
        lost = settled(stack)  # the checkpoint names a record the backup does not have
        assert lost.record_id > restored_head
        stack.stop_server()
        db = stack.data_dir / "sealbox.db"
        for suffix in ("-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        shutil.copy2(tmp_path / "backup.db", db)
        checkpoint = (stack.data_dir / CHECKPOINT_NAME).read_text()

        out = _verify(stack)
        assert out.returncode == 1 and "records removed or rewritten" in out.stderr, out.stderr
        for _ in range(3):  # any number of restarts
            _start_refused(stack)
        added = _cli(stack, "admin", "user", "add", "carol")  # the admin CLI writes records too
        assert added.returncode == 1 and added.stderr.startswith(REFUSAL), added.stderr
        assert (stack.data_dir / CHECKPOINT_NAME).read_text() == checkpoint
        assert _verify(stack).returncode == 1

        assert _cli(stack, "admin", "audit", "reanchor").returncode == 2  # --reason is required
        done = _cli(stack, "admin", "audit", "reanchor", "--reason", "restored the nightly backup")
        assert done.returncode == 0, done.stderr
        record_id = int(done.stdout.split("re-anchored at record ")[1].split(",")[0])
        assert record_id == restored_head + 1
        action, detail = _reanchor_record(stack, record_id)
        assert action == "audit.reanchor"
        assert f"names record {lost.record_id} with tag {lost.head}" in detail
        assert f"the chain ends at record {restored_head} with tag " in detail
        assert "reason: restored the nightly backup" in detail
        point = read_checkpoint(stack.data_dir / CHECKPOINT_NAME, chain_keys(stack))
        assert point is not None and point.record_id == record_id
        out = _verify(stack)
        assert out.returncode == 0, out.stderr
        assert f"reaches the checkpoint at record {record_id}" in out.stdout
        assert (
            f"gap recorded at record {record_id}" in out.stdout
            and f"names record {lost.record_id}" in out.stdout
        )

        stack.start_server()  # accepted: it starts, and anchoring goes on from the new record
        _create(stack, "later", 2)
        assert settled(stack).record_id > record_id
        out = _verify(stack)
        assert out.returncode == 0 and f"gap recorded at record {record_id}" in out.stdout, out.stderr
        again = _cli(stack, "admin", "audit", "reanchor", "--reason", "again")
        assert again.returncode == 0 and "nothing to re-anchor" in again.stdout


@pytest.mark.slow
def test_a_database_rolled_back_under_a_running_server_does_not_move_the_checkpoint(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        _create(stack, "before", 3)
        settled(stack)
        _backup(stack, tmp_path / "backup.db")
        _create(stack, "after", 3)
        lost = settled(stack)
        # Restore into the live file, as `sqlite3 sealbox.db ".restore backup.db"` would.
        with (
            closing(sqlite3.connect(tmp_path / "backup.db")) as src,
            closing(sqlite3.connect(stack.data_dir / "sealbox.db")) as dst,
        ):
            src.backup(dst)
        assert newest_record(stack) < lost.record_id
        with stack.client() as c:  # the chain grows well past the checkpoint's record number
            for i in range(12):
                r = c.post(f"{API}/secrets", json={"name": f"regrown{i}", "value": make_canary("regrown")})
                assert r.status_code == 201, r.text
        assert newest_record(stack) > lost.record_id + 5
        assert stack.server is not None
        wait_for(lambda: "audit checkpoint not moved" in stack.log.read_text(), stack.server, "the refusal")
        assert read_checkpoint(stack.data_dir / CHECKPOINT_NAME, chain_keys(stack)) == lost
        out = _verify(stack)
        assert out.returncode == 1 and "records removed or rewritten" in out.stderr, out.stderr
        stack.stop_server()
        _start_refused(stack)


def _second_data_dir(stack: Stack, folder: Path) -> Path:
    """Another replica's data dir: the same keys, its own checkpoint."""
    folder.mkdir(mode=0o700)
    for name in ("master.key", "signing.key", "signing.pub", "keeper.pub"):
        shutil.copy2(stack.data_dir / name, folder / name)
    return folder


@pytest.mark.slow
@pytest.mark.postgres
def test_replicas_on_postgresql_each_refuse_until_reanchored_on_their_own_host(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with fresh_database() as url, running_stack(tmp_path / "a", database_url=url) as stack:
        host_b = _second_data_dir(stack, tmp_path / "b")
        port = free_port()
        replica = subprocess.Popen(
            sealbox_cmd(
                "server", "--host", "127.0.0.1", "--port", str(port), "--keeper-url", stack.keeper.url
            ),
            env=stack.env(SEALBOX_DATA_DIR=str(host_b)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200,
                replica,
                "replica",
            )
            _create(stack, "a", 3)
            kept = newest_record(stack)
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                timeout=30,
                headers={"Authorization": f"Bearer {stack.admin_token}"},
            ) as c:
                for i in range(3):
                    r = c.post(f"{API}/secrets", json={"name": f"b{i}", "value": make_canary("b")})
                    assert r.status_code == 201, r.text
            settled(stack, host_b)
            _create(stack, "a-after", 3)  # each host's checkpoint now names a record after `kept`
            settled(stack)
        finally:
            replica.terminate()
            replica.wait(30)
        stack.stop_server()
        # A point-in-time restore to just after `kept`: the audit records since are gone, and the
        # id sequence with them (as a restored dump would have it).
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events WHERE id > :k"), {"k": kept})
            conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), :k)"), {"k": kept})
        engine.dispose()
        for data_dir in (stack.data_dir, host_b):
            _start_refused(stack, data_dir)
        assert _cli(stack, "admin", "audit", "reanchor", "--reason", "PITR on host a").returncode == 0
        stack.start_server()  # host a accepted the gap; host b has not
        _start_refused(stack, host_b)
        done = _cli(stack, "admin", "audit", "reanchor", "--reason", "PITR on host b", data_dir=host_b)
        assert done.returncode == 0, done.stderr
        _create(stack, "c", 2)
        settled(stack)
        for data_dir in (stack.data_dir, host_b):
            out = _verify(stack, data_dir)
            assert out.returncode == 0, out.stderr
            assert out.stdout.count("gap recorded at record") == 2  # each host's, both on the record
