"""`sealbox admin backup` under load and `sealbox admin restore` elsewhere, drilled with real processes.

Every value acknowledged before the backup started launches from the restored server; the tokens,
grants and sessions of the backup are there; `sealbox audit verify` passes on the restored checkpoint;
no value shows up in any file of the backup or in what the commands print; a backup whose keeper part
or server part is another install's, or missing, is refused with one line naming that part.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.canaries import find_in_bytes, make_canary, scan_tree
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, base_env, running_stack, sealbox_cmd
from tests.support.writes import values_through_launch

WRITERS = 4


@dataclass
class Sent:
    """Every value each name was sent, and every acknowledgement, with when (time.monotonic())."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (sent at, name, value)
    acked: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # name -> (at, value)...

    def values(self) -> list[str]:
        return [v for _, _, v in self.log]

    def acknowledged_before(self, moment: float) -> dict[str, tuple[float, str]]:
        """Per name, the last acknowledgement before `moment`."""
        last: dict[str, tuple[float, str]] = {}
        for name, acks in self.acked.items():
            earlier = [a for a in acks if a[0] < moment]
            if earlier:
                last[name] = earlier[-1]
        return last

    def sent_after(self, name: str, moment: float) -> set[str]:
        return {v for at, n, v in self.log if n == name and at > moment}


def _writer(stack: Stack, worker: int, stop: threading.Event, sent: Sent) -> None:
    with httpx.Client(
        base_url=stack.url, timeout=10, headers={"Authorization": f"Bearer {stack.admin_token}"}
    ) as c:
        n = 0
        while not stop.is_set():
            name = f"w{worker}-{n % 4}"
            value = make_canary(f"w{worker}")
            with sent.lock:
                sent.log.append((time.monotonic(), name, value))
                exists = name in sent.acked
            if exists:
                r = c.put(f"/api/v1/secrets/{name}/value", json={"value": value})
            else:
                r = c.post("/api/v1/secrets", json={"name": name, "value": value})
            if r.status_code in (200, 201):
                with sent.lock:
                    sent.acked.setdefault(name, []).append((time.monotonic(), value))
            n += 1


def _admin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sealbox_cmd("admin", *args), env=env, capture_output=True, text=True, timeout=120)


def _restore(backup: Path, target: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        "restore",
        str(backup),
        "--data-dir",
        str(target / "data"),
        "--keeper-dir",
        str(target / "data-keeper"),
    ]
    return _admin(*args, *extra, env=base_env())


def _one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


def _prepare(stack: Stack) -> tuple[dict[str, str], str, str]:
    """Secrets with several versions, a grant to bob, a session: the state a backup must carry."""
    bob_token = stack.add_user("bob")
    values: dict[str, str] = {}
    with stack.client() as c:
        for i in range(6):
            name = f"s{i}"
            assert (
                c.post("/api/v1/secrets", json={"name": name, "value": make_canary("v1")}).status_code == 201
            )
            values[name] = make_canary("v2")
            assert c.put(f"/api/v1/secrets/{name}/value", json={"value": values[name]}).status_code == 200
        grant = c.post("/api/v1/secrets/s0/grants", json={"user": "bob", "level": "use"})
        assert grant.status_code in (200, 201), grant.text
        launch = c.post("/api/v1/sessions", json={"secrets": [{"name": "s1", "file": "s1"}]})
        assert launch.status_code == 201, launch.text
    return values, bob_token, launch.json()["session"]["id"]


@pytest.mark.slow
def test_backup_under_load_restores_elsewhere_and_refuses_foreign_keys(tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    (tmp_path / "a").mkdir()
    with running_stack(tmp_path / "a") as stack:
        values, bob_token, session_id = _prepare(stack)
        sent, stop = Sent(), threading.Event()
        threads = [threading.Thread(target=_writer, args=(stack, w, stop, sent)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        started = time.monotonic()
        taken = _admin("backup", str(backup), env=stack.env())
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(15)
        token = stack.admin_token
        assert find_in_bytes(stack.logs(), [*values.values(), *sent.values()]) == []
    assert taken.returncode == 0, taken.stderr
    assert len(taken.stdout.strip().splitlines()) == 1 and "store the two apart" in taken.stdout
    before = sent.acknowledged_before(started)
    assert len(before) >= WRITERS, "the writers should have had writes acknowledged before the backup"

    # Private throughout, and no value anywhere in it or in what the command printed.
    for path in [backup, *backup.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {oct(mode)}"
    canaries = [*values.values(), *sent.values()]
    assert scan_tree(backup, canaries) == {}
    assert find_in_bytes((taken.stdout + taken.stderr).encode(), canaries) == []
    assert sorted(p.name for p in (backup / "keeper").iterdir()) == [
        "backup.json",
        "keeper.key",
        "keeper.pub",
        "server.pub",
        "wrap.key",
    ]
    assert not any((backup / "server" / n).exists() for n in ("keeper.key", "wrap.key"))

    _refusals(tmp_path, backup)

    restored = _restore(backup, tmp_path / "b")
    assert restored.returncode == 0, restored.stderr
    assert len(restored.stdout.strip().splitlines()) == 1 and "restored" in restored.stdout
    assert find_in_bytes((restored.stdout + restored.stderr).encode(), canaries) == []
    with running_stack(tmp_path / "b") as stack:
        stack.admin_token = token  # the backup's users and tokens came back with it
        assert values_through_launch(stack, sorted(values)) == {n: v.encode() for n, v in values.items()}
        got = values_through_launch(stack, sorted(before))
        for name, (acked_at, value) in before.items():  # that value, or one sent after it was acknowledged
            assert got[name].decode() in {value, *sent.sent_after(name, acked_at)}, name
        with stack.client() as c:
            assert c.get(f"/api/v1/sessions/{session_id}").status_code == 200
            grants = c.get("/api/v1/secrets/s0/grants").json()
            assert [(g["grantee"], g["level"]) for g in grants] == [("bob", "use")], grants
        with stack.client(bob_token) as c:
            assert c.get("/api/v1/secrets").status_code == 200
        verified = subprocess.run(
            sealbox_cmd("audit", "verify"), env=stack.env(), capture_output=True, text=True, timeout=120
        )
        assert verified.returncode == 0, verified.stderr
        assert "audit chain ok" in verified.stdout and "reaches the checkpoint" in verified.stdout
        assert find_in_bytes(stack.logs(), canaries) == []


def _refusals(tmp_path: Path, backup: Path) -> None:
    """Another install's keeper keys, another install's master key, a missing server part: refused."""
    (tmp_path / "other").mkdir()
    with running_stack(tmp_path / "other") as other:
        other_backup, other_keeper = tmp_path / "other-backup", tmp_path / "elsewhere" / "other-keeper"
        taken = _admin("backup", str(other_backup), "--keeper-part", str(other_keeper), env=other.env())
        assert taken.returncode == 0, taken.stderr
    assert not (other_backup / "keeper").exists() and (other_keeper / "keeper.key").is_file()

    swapped = _restore(backup, tmp_path / "t1", "--keeper-part", str(other_keeper))
    line = _one_line_error(swapped)
    assert "the keeper part's keys do not open" in line and "server part" not in line, line
    assert not (tmp_path / "t1" / "data").exists() and not (tmp_path / "t1" / "data-keeper").exists()

    foreign_master = tmp_path / "foreign-master"
    shutil.copytree(backup, foreign_master)
    (foreign_master / "server" / "master.key").unlink()
    shutil.copy2(other_backup / "server" / "master.key", foreign_master / "server" / "master.key")
    line = _one_line_error(_restore(foreign_master, tmp_path / "t2"))
    assert "server part" in line and "keeper part" not in line, line

    no_server = tmp_path / "no-server"
    no_server.mkdir()
    shutil.copytree(backup / "keeper", no_server / "keeper")
    line = _one_line_error(_restore(no_server, tmp_path / "t3"))
    assert "server part" in line and "missing" in line, line

    occupied = tmp_path / "t4"
    (occupied / "data").mkdir(parents=True)
    (occupied / "data" / "something").write_text("x")
    line = _one_line_error(_restore(backup, occupied))
    assert "not empty" in line, line


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_keys_part_and_pg_dump_restore_elsewhere(tmp_path: Path) -> None:
    """The documented PostgreSQL procedure: the keys part first, then pg_dump; pg_restore, then restore."""
    backup, dump, early = tmp_path / "backup", tmp_path / "sealbox.pgdump", tmp_path / "early.pgdump"
    (tmp_path / "a").mkdir()
    with fresh_database() as url, running_stack(tmp_path / "a", database_url=url) as stack:
        values = {f"p{i}": make_canary("pg") for i in range(5)}
        with stack.client() as c:
            for name, value in values.items():
                assert c.post("/api/v1/secrets", json={"name": name, "value": value}).status_code == 201
            _pg_dump(url, early)  # the wrong order: a dump older than the keys part taken below
            assert (
                c.post("/api/v1/secrets", json={"name": "late", "value": make_canary("pg")}).status_code
                == 201
            )
        assert _admin("backup", str(backup), env=stack.env()).returncode == 1  # rows: pg_dump's job
        taken = _admin("backup", str(backup), "--keys-only", env=stack.env())
        assert taken.returncode == 0, taken.stderr
        assert not (backup / "server" / "sealbox.db").exists()
        _pg_dump(url, dump)
        token = stack.admin_token
    with fresh_database() as url3:
        _pg_restore(early, url3)
        line = _one_line_error(_restore_onto(backup, tmp_path / "c", url3))
        assert "does not reach the record its audit checkpoint names" in line and "pg_dump" in line, line
    with fresh_database() as url2:
        _pg_restore(dump, url2)
        restored = _restore_onto(backup, tmp_path / "b", url2)
        assert restored.returncode == 0, restored.stderr
        with running_stack(tmp_path / "b", database_url=url2) as stack:
            stack.admin_token = token
            assert values_through_launch(stack, sorted(values)) == {n: v.encode() for n, v in values.items()}
            verified = subprocess.run(
                sealbox_cmd("audit", "verify"), env=stack.env(), capture_output=True, text=True
            )
            assert verified.returncode == 0 and "reaches the checkpoint" in verified.stdout, verified.stderr
    assert scan_tree(backup, values.values()) == {}


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _pg_dump(url: str, dump: Path) -> None:
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", _libpq(url)], check=True, timeout=120)


def _pg_restore(dump: Path, url: str) -> None:
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={_libpq(url)}", str(dump)], check=True, timeout=120
    )


def _restore_onto(backup: Path, target: Path, url: str) -> subprocess.CompletedProcess[str]:
    args = [
        "restore",
        str(backup),
        "--data-dir",
        str(target / "data"),
        "--keeper-dir",
        str(target / "data-keeper"),
    ]
    return _admin(*args, env=base_env(SEALBOX_DATABASE_URL=url))
