"""Where values may go: private folders on a memory filesystem that we made and checked, or nowhere
(issue 12, security finding 1; T27).

These run on the real filesystems of this machine: /dev/shm is tmpfs, the pytest temporary folders are on
a disk. Squatters are stood in for by objects owned by another uid (root makes them with chown); the
end-to-end test with a real second account is tests/integration/test_memory_squat.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealbox.errors import BadRequest
from sealbox.launcher import memory
from sealbox.launcher.memory import (
    check_private,
    find_or_make,
    found_roots,
    private_root,
    private_roots,
    runtime_root,
)

IS_ROOT = os.getuid() == 0
NOBODY = 65534
SHM_IS_TMPFS = memory.filesystem_type(Path("/dev/shm")) == "tmpfs"
pytestmark = pytest.mark.skipif(not SHM_IS_TMPFS, reason="no tmpfs at /dev/shm")


@pytest.fixture
def shm() -> Iterator[Path]:
    """A stand-in for /dev/shm on the real tmpfs: world-writable and sticky, like it."""
    base = Path("/dev/shm") / f"sealbox-unit-{secrets.token_hex(6)}"
    base.mkdir()
    base.chmod(0o1777)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def entries(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir())


def test_a_new_root_is_a_random_private_folder_in_memory(shm: Path) -> None:
    root = private_root(shm=shm, environ={})
    st = os.lstat(root)
    assert root.parent == shm and root.name.startswith(f"sealbox-{os.getuid()}-")
    assert len(root.name) > len(f"sealbox-{os.getuid()}-") + 6  # a random part
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
    assert memory.filesystem_type(root) == "tmpfs"
    # The next run finds it again (its leases are there), and makes no other.
    assert private_root(shm=shm, environ={}) == root
    assert entries(shm) == [root.name]
    assert private_roots(shm=shm, environ={}) == [root]


def test_never_a_fallback_to_disk(tmp_path: Path) -> None:
    """A base on a disk (the pytest folder): refused with one line, and nothing is left there."""
    assert memory.filesystem_type(tmp_path) not in memory.MEMORY_FILESYSTEMS
    with pytest.raises(BadRequest) as caught:
        private_root(shm=tmp_path, environ={"XDG_RUNTIME_DIR": str(tmp_path)})
    assert caught.value.code == "no_memory_fs"
    assert "\n" not in caught.value.message and "--mount-path" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_no_memory_filesystem_at_all(tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as caught:
        private_root(shm=tmp_path / "missing", environ={})
    assert caught.value.code == "no_memory_fs"


@pytest.mark.skipif(not IS_ROOT, reason="needs root to make objects owned by another uid")
def test_squatted_names_are_skipped_and_cannot_stop_a_launch(shm: Path) -> None:
    """Someone else's folder, symlink and FIFO under the fixed name of older versions and under names
    with our prefix: none is used, none blocks, and none is touched."""
    prefix = f"sealbox-{os.getuid()}-"
    theirs = shm / "theirs"
    theirs.mkdir(mode=0o777)
    legacy = shm / f"sealbox-{os.getuid()}"
    legacy.symlink_to(theirs)
    (shm / f"{prefix}aaaaaaaa").mkdir(mode=0o700)
    (shm / f"{prefix}bbbbbbbb").symlink_to(theirs)
    os.mkfifo(shm / f"{prefix}cccccccc", 0o600)
    (shm / f"{prefix}dddddddd").mkdir(mode=0o777)  # world-writable, even if it were ours
    for path in [theirs, legacy, *shm.glob(f"{prefix}*")]:
        os.lchown(path, NOBODY, NOBODY)
    before = entries(shm)
    root = private_root(shm=shm, environ={})
    assert root.name not in before
    check_private(root, mode=0o700)
    assert entries(shm) == sorted([*before, root.name])
    assert list(theirs.iterdir()) == []
    assert private_roots(shm=shm, environ={}) == [root]


@pytest.mark.skipif(not IS_ROOT, reason="needs root to make objects owned by another uid")
def test_a_folder_of_ours_that_is_open_to_others_is_not_reused(shm: Path) -> None:
    first = private_root(shm=shm, environ={})
    first.chmod(0o755)
    second = private_root(shm=shm, environ={})
    assert second != first
    assert found_roots(shm, f"sealbox-{os.getuid()}-", mode=0o700) == [second]


@pytest.mark.parametrize(
    "kind", ["missing", "file", "fifo", "symlink-to-ours", "mode-0755", "mode-0711", "on-disk"]
)
def test_check_private_refuses_everything_but_our_folder_in_memory(
    shm: Path, tmp_path: Path, kind: str
) -> None:
    ours = shm / "ours"
    ours.mkdir(mode=0o700)
    ours.chmod(0o700)
    check_private(ours, mode=0o700)
    target = shm / "target"
    if kind == "file":
        target.write_text("")
    elif kind == "fifo":
        os.mkfifo(target, 0o700)
    elif kind == "symlink-to-ours":
        target.symlink_to(ours)
    elif kind.startswith("mode-"):
        target.mkdir()
        target.chmod(int(kind.removeprefix("mode-"), 8))
    elif kind == "on-disk":
        target = tmp_path / "disk"
        target.mkdir(mode=0o700)
        target.chmod(0o700)
    with pytest.raises(BadRequest):
        check_private(target, mode=0o700)


@pytest.mark.skipif(not IS_ROOT, reason="needs root to give a folder to another uid")
def test_check_private_refuses_a_folder_of_someone_else(shm: Path) -> None:
    theirs = shm / "theirs"
    theirs.mkdir(mode=0o700)
    theirs.chmod(0o700)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(BadRequest):
        check_private(theirs, mode=0o700)


def test_the_hub_root_has_its_own_prefix_and_mode(shm: Path) -> None:
    hub = find_or_make(shm, f"sealbox-hub-{os.getuid()}-", mode=0o711)
    assert stat.S_IMODE(os.lstat(hub).st_mode) == 0o711
    assert private_roots(shm=shm, environ={}) == []  # never mistaken for a run's root
    assert find_or_make(shm, f"sealbox-hub-{os.getuid()}-", mode=0o711) == hub


# --- $XDG_RUNTIME_DIR ---------------------------------------------------------------------------------------


def test_xdg_runtime_dir_of_mine_in_memory_comes_first(shm: Path) -> None:
    runtime = shm / "runtime"
    runtime.mkdir(mode=0o700)
    runtime.chmod(0o700)
    root = private_root(shm=shm, environ={"XDG_RUNTIME_DIR": str(runtime)})
    assert root == runtime / "sealbox"
    assert stat.S_IMODE(os.lstat(root).st_mode) == 0o700
    assert [p.name for p in shm.iterdir()] == ["runtime"]  # nothing made in the shared folder
    assert private_roots(shm=shm, environ={"XDG_RUNTIME_DIR": str(runtime)}) == [root]


@pytest.mark.parametrize("kind", ["on-disk", "open-to-others", "relative", "missing", "not-mine"])
def test_an_unusable_xdg_runtime_dir_is_passed_over(shm: Path, tmp_path: Path, kind: str) -> None:
    runtime = shm / "runtime"
    runtime.mkdir(mode=0o700)
    runtime.chmod(0o700)
    value = str(runtime)
    if kind == "on-disk":
        value = str(tmp_path)
    elif kind == "open-to-others":
        runtime.chmod(0o755)
    elif kind == "relative":
        value = "runtime"
    elif kind == "missing":
        value = str(shm / "missing")
    elif kind == "not-mine":
        if not IS_ROOT:
            pytest.skip("needs root to give a folder to another uid")
        os.chown(runtime, NOBODY, NOBODY)
    assert runtime_root({"XDG_RUNTIME_DIR": value}) is None
    root = private_root(shm=shm, environ={"XDG_RUNTIME_DIR": value})
    assert root.parent == shm and root.name.startswith(f"sealbox-{os.getuid()}-")
    assert not (tmp_path / "sealbox").exists()


def test_xdg_runtime_sealbox_squatted_by_a_link_is_passed_over(shm: Path) -> None:
    runtime = shm / "runtime"
    runtime.mkdir(mode=0o700)
    runtime.chmod(0o700)
    elsewhere = shm / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (runtime / "sealbox").symlink_to(elsewhere)
    assert runtime_root({"XDG_RUNTIME_DIR": str(runtime)}) is None
