"""The local spawners' folders and leases, on the real memory filesystem, with real processes standing in
for single-user servers: what is written, and what a restarted hub may (and may not) remove."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealbox.errors import BadRequest
from sealbox.integrations.jupyterhub import local
from sealbox.launcher.redeem import Delivered
from tests.support.canaries import make_canary

SESSION = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path("/dev/shm") / f"sealbox-localtest-{os.getpid()}-{make_canary()[-8:]}"
    path.mkdir(mode=0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _item(name: str, value: str, *, file: str | None = None) -> Delivered:
    return Delivered(
        name=name,
        owner="alice",
        kind="generic",
        field=None,
        file=file or name,
        env=None,
        version=1,
        value=value.encode(),
    )


def test_folder_is_private_files_read_only_and_the_lease_holds_no_value(base: Path) -> None:
    root = local.hub_root(base)
    assert stat.S_IMODE(os.lstat(root).st_mode) == 0o711
    assert stat.S_IMODE(os.lstat(root / "leases").st_mode) == 0o700
    value = make_canary("local")
    folder = local.write_folder(
        root,
        session_id=SESSION,
        user="alice",
        items=(_item("db", value, file="db.txt"),),
        uid=os.getuid(),
        gid=os.getgid(),
    )
    assert folder == root / SESSION and stat.S_IMODE(os.lstat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "db.txt").st_mode) == 0o400
    assert (folder / "db.txt").read_text() == value
    lease = (root / "leases" / f"{SESSION}.json").read_text()
    assert value not in lease and json.loads(lease)["session"] == SESSION
    with pytest.raises(Exception, match="32 lowercase hex"):
        local.write_folder(root, session_id="../x", user="alice", items=(), uid=0, gid=0)


def test_only_leases_whose_server_is_gone_are_stale(base: Path) -> None:
    root = local.hub_root(base)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for session_id, pid in ((SESSION, gone.pid), (OTHER, alive.pid)):
            local.write_folder(
                root,
                session_id=session_id,
                user="alice",
                items=(_item("db", "v"),),
                uid=os.getuid(),
                gid=os.getgid(),
            )
            local.record_server(root, session_id=session_id, folder=root / session_id, user="alice", pid=pid)
        assert [lease.session_id for lease in local.stale_leases(root)] == [SESSION]
        local.remove_lease(root, SESSION)
        assert not (root / SESSION).exists() and (root / OTHER / "db").exists()
        assert local.stale_leases(root) == []
    finally:
        alive.kill()
        alive.wait()
    assert [lease.session_id for lease in local.stale_leases(root)] == [OTHER]


def test_a_lease_pointing_outside_the_hubs_folder_is_never_followed(base: Path, tmp_path: Path) -> None:
    root = local.hub_root(base)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    bad = {"session": SESSION, "folder": str(victim), "user": "x", "hub": None, "server": None}
    (root / "leases" / f"{SESSION}.json").write_text(json.dumps(bad))
    assert local.stale_leases(root) == []
    assert (victim / "keep").read_text() == "mine"


# --- a squatted memory filesystem (issue 12, security finding 1; T27) -------------------------------------


@pytest.fixture
def shared_base() -> Iterator[Path]:
    """A stand-in for /dev/shm on the real tmpfs: world-writable and sticky, like it."""
    path = Path("/dev/shm") / f"sealbox-localtest-{os.getpid()}-{make_canary()[-8:]}"
    path.mkdir()
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make objects owned by another uid")
@pytest.mark.parametrize("kind", ["folder", "symlink", "fifo"])
def test_names_squatted_by_someone_else_neither_get_values_nor_stop_the_hub(
    shared_base: Path, tmp_path: Path, kind: str
) -> None:
    """The old fixed name (`sealbox-hub-<uid>`) and names of the present form, taken first by another uid:
    the hub makes its own folder under a new random name, checks it, and writes there."""
    lair = tmp_path / "lair"
    lair.mkdir(mode=0o777)
    names = [shared_base / f"sealbox-hub-{os.getuid()}"] + [
        shared_base / f"sealbox-hub-{os.getuid()}-{guess}" for guess in ("aaaaaaaa", "zzzzzzzz")
    ]
    for path in names:
        if kind == "folder":
            path.mkdir(mode=0o777)
        elif kind == "symlink":
            path.symlink_to(lair)
        else:
            os.mkfifo(path, 0o666)
        os.lchown(path, 65534, 65534)
    root = local.hub_root(shared_base)
    assert root not in names and root.name.startswith(f"sealbox-hub-{os.getuid()}-")
    st = os.lstat(root)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.getuid(), 0o711)
    value = make_canary("squat")
    folder = local.write_folder(
        root, session_id=SESSION, user="alice", items=(_item("db", value),), uid=os.getuid(), gid=os.getgid()
    )
    assert folder.parent == root and (folder / "db").read_text() == value
    assert list(lair.iterdir()) == []
    assert all(not p.is_dir() or p.is_symlink() or not any(p.iterdir()) for p in names)
    # A restarted hub finds its own folder again (and its leases), never a squatted one.
    assert local.hub_root(shared_base) == root == local.find_hub_root(shared_base)
    assert (root / "leases" / f"{SESSION}.json").exists() and local.stale_leases(root) == []  # its hub lives
    local.remove_lease(root, SESSION)
    assert not folder.exists()


def test_no_memory_filesystem_for_the_hub_is_one_clear_refusal(tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as caught:
        local.hub_root(tmp_path)  # a folder on the disk
    assert caught.value.code == "no_memory_fs" and "sealbox_memory_base" in caught.value.message
    assert list(tmp_path.iterdir()) == []
