"""Secret folders: where they may go, how they are written, swapped, removed; crash leftovers (T17, T18)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sealbox.errors import BadRequest
from sealbox.launcher import spool
from sealbox.launcher.spool import (
    DATA_LINK,
    MANIFEST,
    SecretFolder,
    check_mount_path,
    clean_leftovers,
    keep_session_lease,
    remove_folder,
    write_lease,
)

IS_ROOT = os.getuid() == 0


def snapshot(root: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = os.lstat(path).st_mode
    return found


# --- check_mount_path -------------------------------------------------------------------------------------


def test_a_new_folder_in_an_existing_parent_is_fine(tmp_path: Path) -> None:
    assert check_mount_path(tmp_path / "new") is False


def test_an_empty_folder_of_mine_is_fine(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir(mode=0o755)
    assert check_mount_path(tmp_path / "empty") is True


def _nonempty(tmp: Path) -> Path:
    (tmp / "m").mkdir()
    (tmp / "m" / ".hidden").write_text("")
    return tmp / "m"


def _symlink_in_the_middle(tmp: Path) -> Path:
    (tmp / "real").mkdir()
    (tmp / "link").symlink_to(tmp / "real")
    return tmp / "link" / "m"


def _symlink_at_the_end(tmp: Path) -> Path:
    (tmp / "real").mkdir()
    (tmp / "link").symlink_to(tmp / "real")
    return tmp / "link"


def _dangling_symlink(tmp: Path) -> Path:
    (tmp / "link").symlink_to(tmp / "nowhere")
    return tmp / "link"


def _mode(mode: int) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / "m").mkdir()
        os.chmod(tmp / "m", mode)
        return tmp / "m"

    return make


def _a_file(tmp: Path) -> Path:
    (tmp / "m").write_text("")
    return tmp / "m"


UNSAFE: dict[str, tuple[Callable[[Path], Path], str | None]] = {
    "relative": (lambda tmp: Path("relative/m"), "invalid_mount_path"),
    "dotdot": (lambda tmp: Path(str(tmp) + "/x/../m"), "invalid_mount_path"),
    "dot": (lambda tmp: Path(str(tmp) + "/./m"), None),  # pathlib drops '.': the same folder, allowed
    "nul": (lambda tmp: Path(str(tmp) + "/a\x00b"), "invalid_mount_path"),
    "parent-missing": (lambda tmp: tmp / "no" / "m", "invalid_mount_path"),
    "not-empty": (_nonempty, "unsafe_mount_path"),
    "symlink-in-the-middle": (_symlink_in_the_middle, "unsafe_mount_path"),
    "symlink-at-the-end": (_symlink_at_the_end, "unsafe_mount_path"),
    "dangling-symlink": (_dangling_symlink, "unsafe_mount_path"),
    "group-writable": (_mode(0o770), "unsafe_mount_path"),
    "world-writable": (_mode(0o777), "unsafe_mount_path"),
    "sticky-world-writable": (_mode(0o1777), "unsafe_mount_path"),
    "a-file": (_a_file, "unsafe_mount_path"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_an_unsafe_mount_path_is_refused_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    make, code = UNSAFE[case]
    path = make(tmp_path)
    before = snapshot(tmp_path)
    if code is None:
        check_mount_path(path)
        return
    with pytest.raises(BadRequest) as caught:
        check_mount_path(path)
    assert caught.value.code == code
    with pytest.raises(BadRequest):
        SecretFolder.create(path)
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(not IS_ROOT, reason="only root can give a folder to another user")
def test_a_folder_of_someone_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir(mode=0o700)
    os.chown(tmp_path / "m", 65534, 65534)
    with pytest.raises(BadRequest, match="not owned by you"):
        check_mount_path(tmp_path / "m")


# --- writing and swapping ---------------------------------------------------------------------------------


def test_the_atomic_writer_layout(tmp_path: Path) -> None:
    folder = SecretFolder.create(tmp_path / "s")
    assert folder.existed is False
    folder.write({"a": b"1", "aws": {"key": b"k", "secret": b"s"}}, {"files": ["a", "aws"]})
    root = tmp_path / "s"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    target = os.readlink(root / DATA_LINK)
    assert target.startswith("..") and (root / target).is_dir()
    assert os.readlink(root / "a") == f"{DATA_LINK}/a" and os.readlink(root / "aws") == f"{DATA_LINK}/aws"
    assert (root / "a").read_bytes() == b"1"
    assert (root / "aws" / "secret").read_bytes() == b"s"
    assert json.loads((root / DATA_LINK / MANIFEST).read_text()) == {"files": ["a", "aws"]}
    for rel, mode in snapshot(root / target).items():
        expected = 0o700 if stat.S_ISDIR(mode) else 0o400
        assert stat.S_IMODE(mode) == expected, rel
    assert sorted(os.listdir(root)) == sorted([DATA_LINK, target, "a", "aws"])


def test_a_swap_replaces_the_whole_set_and_keeps_two_versions(tmp_path: Path) -> None:
    folder = SecretFolder.create(tmp_path / "s")
    root = folder.path
    folder.write({"a": b"1", "b": b"1"}, {"v": 1})
    first = os.readlink(root / DATA_LINK)
    folder.write({"a": b"2", "c": b"2"}, {"v": 2})
    assert (root / "a").read_bytes() == b"2" and (root / "c").read_bytes() == b"2"
    assert not (root / "b").exists() and not (root / "b").is_symlink()
    assert (root / first).is_dir()  # the previous version stays for a reader in the middle of a pass
    folder.write({"a": b"3"}, {"v": 3})
    versions = [e for e in os.listdir(root) if e.startswith("..") and e != DATA_LINK]
    assert len(versions) == 2 and first not in versions
    assert sorted(e for e in os.listdir(root) if not e.startswith("..")) == ["a"]


def test_readers_never_see_a_mixed_or_partial_folder(tmp_path: Path) -> None:
    """A reader resolves `..data` once per pass and reads everything from there. Swaps come no faster than
    one per reader pass (the launcher swaps at most every 2 s): two versions are kept, so none vanishes."""
    folder = SecretFolder.create(tmp_path / "s")
    root = folder.path
    names = [f"f{i}" for i in range(5)]

    def content(n: int) -> dict[str, bytes | dict[str, bytes]]:
        files: dict[str, bytes | dict[str, bytes]] = {name: f"{n}-{name}".encode() for name in names}
        files["multi"] = {"x": str(n).encode(), "y": str(n).encode()}
        return files

    folder.write(content(0), {"n": 0})
    stop = threading.Event()
    problems: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            version = root / os.readlink(root / DATA_LINK)
            try:
                n = json.loads((version / MANIFEST).read_text())["n"]
                seen = {(version / name).read_text() for name in names}
                multi = {(version / "multi" / f).read_text() for f in ("x", "y")}
            except OSError as exc:
                problems.append(f"partial: {exc!r}")
                continue
            if seen != {f"{n}-{name}" for name in names} or multi != {str(n)}:
                problems.append(f"mixed at {n}")
            reads += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, 60):
            folder.write(content(n), {"n": n})
            seen = reads
            deadline = time.monotonic() + 10
            while reads < seen + 2 and time.monotonic() < deadline:
                time.sleep(0.0005)
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert reads > 0


def test_a_folder_swapped_for_a_symlink_is_never_written_through(tmp_path: Path) -> None:
    folder = SecretFolder.create(tmp_path / "s")
    folder.write({"a": b"1"}, {})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    remove_folder(folder.path, keep_folder=False)
    folder.path.symlink_to(elsewhere)  # an attacker swaps the folder for a link between writes
    with pytest.raises(OSError):
        folder.write({"a": b"2"}, {})
    assert os.listdir(elsewhere) == []


def test_a_planted_symlink_is_not_followed_when_a_file_is_created(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("untouched")
    work = tmp_path / "work"
    work.mkdir()
    (work / "secret").symlink_to(target)
    fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError):
            spool._write_file(fd, "secret", b"value")
    finally:
        os.close(fd)
    assert target.read_text() == "untouched"


def test_a_planted_tmp_link_does_not_redirect_the_swap(tmp_path: Path) -> None:
    folder = SecretFolder.create(tmp_path / "s")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder.path / f"{DATA_LINK}_tmp").symlink_to(elsewhere)
    folder.write({"a": b"1"}, {})
    assert (folder.path / "a").read_bytes() == b"1"
    assert os.listdir(elsewhere) == []
    assert not (folder.path / f"{DATA_LINK}_tmp").is_symlink()


# --- removal ------------------------------------------------------------------------------------------------


def test_remove_a_folder_we_created(tmp_path: Path) -> None:
    folder = SecretFolder.create(tmp_path / "s")
    folder.write({"a": b"1", "m": {"x": b"2"}}, {})
    folder.write({"a": b"3"}, {})
    folder.remove()
    assert not folder.path.exists()
    folder.remove()  # twice is fine


def test_remove_empties_a_folder_we_were_given_but_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir(mode=0o755)
    folder = SecretFolder.create(tmp_path / "mine")
    assert folder.existed is True
    assert stat.S_IMODE((tmp_path / "mine").stat().st_mode) == 0o700
    folder.write({"a": b"1"}, {})
    folder.remove()
    assert (tmp_path / "mine").is_dir() and os.listdir(tmp_path / "mine") == []


def test_remove_never_follows_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep")
    (tmp_path / "link").symlink_to(elsewhere)
    remove_folder(tmp_path / "link", keep_folder=False)
    assert (elsewhere / "precious").read_text() == "keep"
    inner = tmp_path / "folder"
    inner.mkdir()
    (inner / "to-elsewhere").symlink_to(elsewhere)
    remove_folder(inner, keep_folder=False)
    assert not inner.exists()
    assert (elsewhere / "precious").read_text() == "keep"


# --- leases and leftovers -----------------------------------------------------------------------------------


def _pid_that_is_not_running() -> int:
    return int(Path("/proc/sys/kernel/pid_max").read_text())  # pids stay below pid_max


def _lease(root: Path, name: str, **data: object) -> Path:
    path = root / f"lease-{name}.json"
    path.write_text(json.dumps(data))
    return path


def test_write_lease(tmp_path: Path) -> None:
    folder = SecretFolder.create(tmp_path / "run-1")
    lease = write_lease(tmp_path, path=folder.path, keep_folder=folder.existed, session_id="s-1")
    assert lease.name.startswith(f"lease-{os.getpid()}-")
    assert stat.S_IMODE(lease.stat().st_mode) == 0o600
    data = json.loads(lease.read_text())
    assert data["pid"] == os.getpid() and data["path"] == str(folder.path) and data["keep_folder"] is False
    assert data["start"] is not None and data["session"] == "s-1"
    assert clean_leftovers(tmp_path) == []  # our own, live: left alone
    assert lease.exists() and folder.path.exists()


def test_clean_leftovers_of_dead_runs(tmp_path: Path) -> None:
    dead_folder = SecretFolder.create(tmp_path / "run-dead")
    dead_folder.write({"a": b"1"}, {})
    reused_folder = SecretFolder.create(tmp_path / "run-reused")
    reused_folder.write({"a": b"1"}, {})
    given = tmp_path / "given"
    given.mkdir()
    given_folder = SecretFolder.create(given)
    given_folder.write({"a": b"1"}, {})
    dead = _lease(
        tmp_path,
        "dead",
        pid=_pid_that_is_not_running(),
        start="1",
        path=str(dead_folder.path),
        session="s-dead",
    )
    # Our own pid, but another start time: the pid was reused by a new process, the run is gone.
    reused = _lease(tmp_path, "reused", pid=os.getpid(), start="0", path=str(reused_folder.path))
    kept = _lease(
        tmp_path, "given", pid=_pid_that_is_not_running(), start="1", path=str(given), keep_folder=True
    )
    broken = tmp_path / "lease-broken.json"
    broken.write_text("{not json")
    found = clean_leftovers(tmp_path)
    assert [(f.session_id, f.lease) for f in found] == [("s-dead", dead)]  # the sessions to end on the server
    assert not dead_folder.path.exists() and not reused_folder.path.exists()
    assert given.is_dir() and os.listdir(given) == []
    assert not reused.exists() and not kept.exists()
    # The dead run's lease stays, without its folder, until the caller has ended the session.
    assert (
        json.loads(dead.read_text())["path"] is None and json.loads(dead.read_text())["session"] == "s-dead"
    )
    assert broken.exists()  # not understood: left for a person to look at
    # Asked again (the server was unreachable the first time): the same session, and nothing else touched.
    assert [f.session_id for f in clean_leftovers(tmp_path)] == ["s-dead"]


def test_a_run_that_could_not_end_its_session_leaves_only_the_session_to_end(tmp_path: Path) -> None:
    folder = SecretFolder.create(tmp_path / "run-1")
    lease = write_lease(tmp_path, path=folder.path, keep_folder=False, session_id="s-1")
    folder.remove()
    keep_session_lease(lease)
    data = json.loads(lease.read_text())
    assert data["path"] is None and data["session"] == "s-1" and data["pid"] == os.getpid()
    assert stat.S_IMODE(lease.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [lease.name]  # no temporary file left


@pytest.mark.skipif(not IS_ROOT, reason="needs root to make a folder owned by someone else")
def test_clean_leftovers_leaves_a_folder_now_owned_by_someone_else(tmp_path: Path) -> None:
    theirs = tmp_path / "run-theirs"
    theirs.mkdir()
    (theirs / "their-file").write_text("theirs")
    os.chown(theirs, 65534, 65534)
    _lease(tmp_path, "t", pid=_pid_that_is_not_running(), start="1", path=str(theirs), session="s-t")
    assert [f.session_id for f in clean_leftovers(tmp_path)] == ["s-t"]
    assert (theirs / "their-file").read_text() == "theirs"


def test_clean_leftovers_never_follows_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep")
    (tmp_path / "run-x").symlink_to(elsewhere)
    _lease(tmp_path, "x", pid=_pid_that_is_not_running(), start="1", path=str(tmp_path / "run-x"))
    assert clean_leftovers(tmp_path) == []
    assert not list(tmp_path.glob("lease-x.json"))
    assert (elsewhere / "precious").read_text() == "keep"


def test_a_leftover_names_the_server_its_session_is_on(tmp_path: Path) -> None:
    """A run ends only the leftover sessions of its own server: another server would answer 404 for one
    it does not know, and the lease would be lost before its own server heard of the end."""
    _lease(
        tmp_path, "a", pid=_pid_that_is_not_running(), start="1", path=None, session="s-a", server="http://a"
    )
    _lease(tmp_path, "old", pid=_pid_that_is_not_running(), start="1", path=None, session="s-old")
    found = sorted(clean_leftovers(tmp_path), key=lambda f: f.session_id)
    assert [(f.session_id, f.server) for f in found] == [("s-a", "http://a"), ("s-old", None)]
    assert json.loads((tmp_path / "lease-a.json").read_text())["server"] == "http://a"


def test_a_killed_process_not_yet_reaped_counts_as_gone() -> None:
    """A killed server orphaned by a killed hub stays a zombie until init reaps it (here up to about two
    seconds): its folder is a leftover all the same, or a hub restarting at once would keep it."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert spool.process_start_time(child.pid) is not None
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert spool.process_start_time(child.pid) is None  # a zombie: not waited for yet, but gone
    finally:
        child.kill()
        child.wait()
    assert spool.process_start_time(child.pid) is None
