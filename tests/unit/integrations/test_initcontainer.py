"""The pod side's local steps: reading Secret files, refusing before a credential is spent, staging keys.

Kubernetes Secret volumes are emulated with sealbox's own atomic writer, which lays files out exactly as the
kubelet does (`..data` -> timestamped folder, each name a symlink through `..data`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sealbox.errors import BadRequest, ConfigError
from sealbox.integrations.initcontainer import (
    InitOptions,
    Refresher,
    RefreshOptions,
    init_folder,
    on_memory_filesystem,
    read_small_file,
    stage_keys,
)
from sealbox.launcher.spool import SecretFolder

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens: any attempt to redeem would fail loudly


def secret_volume(path: Path, files: dict[str, bytes]) -> Path:
    """A folder laid out like a kubelet-mounted Secret volume."""
    SecretFolder.create(path).write(files, {"files": []})
    return path


def test_reads_one_line_through_kubelets_symlinks(tmp_path: Path) -> None:
    vol = secret_volume(tmp_path / "cred", {"credential": b"sbl_x_y\n", "session-id": b"abc"})
    assert (vol / "credential").is_symlink()
    assert read_small_file(vol / "credential", "session credential") == "sbl_x_y"
    (tmp_path / "two").write_text("a\nb\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "big").write_text("x" * 5000)
    for bad in ("two", "empty", "big", "missing"):
        with pytest.raises(ConfigError):
            read_small_file(tmp_path / bad, "session credential")


def test_init_refuses_before_spending_the_credential(tmp_path: Path) -> None:
    vol = secret_volume(tmp_path / "cred", {"credential": b"sbl_x_y", "session-id": b"s"})
    base = {"server_url": UNREACHABLE, "credential_file": vol / "credential"}
    with pytest.raises(BadRequest, match="does not exist"):
        init_folder(InitOptions(**base, target=tmp_path / "no-volume" / "secrets"))
    if not on_memory_filesystem(tmp_path):
        with pytest.raises(BadRequest, match="memory filesystem"):
            init_folder(InitOptions(**base, target=tmp_path / "secrets", require_memory=True))
    (tmp_path / "full").mkdir(mode=0o700)
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(BadRequest, match="not empty"):
        init_folder(InitOptions(**base, target=tmp_path / "full"))
    with pytest.raises(ConfigError, match="session id"):
        init_folder(InitOptions(**base, target=tmp_path / "s2", session_id_file=tmp_path / "nope"))
    assert not (tmp_path / "secrets").exists() and not (tmp_path / "s2").exists()


def test_refresher_needs_the_init_containers_folder(tmp_path: Path) -> None:
    opts = RefreshOptions(
        server_url=UNREACHABLE, token_file=tmp_path / "t", on_behalf_of="alice", target=tmp_path / "none"
    )
    with pytest.raises(ConfigError, match="manifest"):
        Refresher(opts).run()


def test_stage_keys_makes_private_regular_copies(tmp_path: Path) -> None:
    vol = secret_volume(tmp_path / "keys-source", {"master.key": b"k1\n", "signing.key": b"k2\n"})
    target = tmp_path / "run" / "keys"
    (tmp_path / "run").mkdir()
    assert stage_keys(vol, target) == ["master.key", "signing.key"]
    assert stat.S_IMODE(os.lstat(target).st_mode) == 0o700
    for name, content in {"master.key": b"k1\n", "signing.key": b"k2\n"}.items():
        st = os.lstat(target / name)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
        assert (target / name).read_bytes() == content
    assert sorted(os.listdir(target)) == ["master.key", "signing.key"]  # no ..data, no temporary files
    # Again (a restarted pod): the same result; a changed Secret replaces the copy.
    secret_volume(tmp_path / "keys-source-2", {"master.key": b"k3\n"})
    assert stage_keys(tmp_path / "keys-source-2", target) == ["master.key"]
    assert (target / "master.key").read_bytes() == b"k3\n"
    with pytest.raises(ConfigError):
        stage_keys(tmp_path / "missing", target)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no files"):
        stage_keys(tmp_path / "empty", tmp_path / "t2")


def test_as_options_name_a_file_and_a_format() -> None:
    from sealbox.integrations.initcontainer import parse_formats

    assert parse_formats(["aws=aws", "gh=netrc"]) == {"aws": "aws", "gh": "netrc"}
    for bad in (["aws"], ["aws=nope"], ["../x=aws"], ["a=aws", "a=gcp"], ["=aws"]):
        with pytest.raises(BadRequest):
            parse_formats(bad)
