"""`sealbox.private_files.write_private_file`: the one writer of private files (keys, tokens, leases)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sealbox.errors import ConfigError
from sealbox.private_files import write_private_file, write_public_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_writes_the_bytes_with_the_mode_asked_and_leaves_nothing_beside(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "key"
    write_private_file(target, "one line\n", overwrite=False, mode=mode)
    assert target.read_bytes() == b"one line\n"
    assert _mode(target) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def test_overwrite_swaps_the_file_and_keeps_it_private(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    target.write_text("old")
    target.chmod(0o644)
    write_private_file(target, b"new", overwrite=True)
    assert target.read_text() == "new"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_without_overwrite_an_existing_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "master.key"
    target.write_text("the key")
    with pytest.raises(FileExistsError):
        write_private_file(target, "another key", overwrite=False)
    assert target.read_text() == "the key"
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_symbolic_link_at_the_target_is_refused(tmp_path: Path, overwrite: bool) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched")
    link = tmp_path / "token"
    link.symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="symbolic link"):
        write_private_file(link, "value", overwrite=overwrite)
    assert elsewhere.read_text() == "untouched"
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "token"]


@pytest.mark.parametrize("mode", [0o644, 0o700, 0o000])
def test_only_private_modes(tmp_path: Path, mode: int) -> None:
    with pytest.raises(ValueError, match="0600 or 0400"):
        write_private_file(tmp_path / "f", "x", overwrite=True, mode=mode)
    assert not list(tmp_path.iterdir())


def test_a_missing_folder_is_an_os_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_private_file(tmp_path / "missing" / "f", "x", overwrite=True)
    assert not list(tmp_path.iterdir())


def test_a_public_file_is_0644_and_swapped_whole(tmp_path: Path) -> None:
    target = tmp_path / "keeper.pub"
    write_public_file(target, "public half\n", overwrite=False)
    assert _mode(target) == 0o644
    write_public_file(target, "new public half\n", overwrite=True)
    assert target.read_text() == "new public half\n"
    assert _mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["keeper.pub"]
    link = tmp_path / "server.pub"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        write_public_file(link, "x", overwrite=True)
    assert target.read_text() == "new public half\n"
