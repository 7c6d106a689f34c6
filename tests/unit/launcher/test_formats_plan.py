"""A session's formats together: variables added after the session's own, git's GIT_CONFIG_* numbered
after any it has, one owner per variable, warnings for variables that would change or outrank the files,
and the folder's contents and manifest (formats named, no value)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sealbox.errors import BadRequest
from sealbox.launcher.contents import folder_contents
from sealbox.launcher.formats.plan import render_session
from sealbox.launcher.redeem import Delivered
from sealbox.launcher.spec import combine, formats_for, parse_secret_option

Canary = Callable[[str], str]
KEY_ID = "AKIA" + "0123456789ABCDEF"


def item(name: str, kind: str, value: dict[str, str] | str, *, file: str | None = None) -> Delivered:
    raw = json.dumps(value) if isinstance(value, dict) else value
    return Delivered(
        name=name,
        owner="me",
        kind=kind,
        field=None,
        file=file or name,
        env=None,
        version=2,
        value=raw.encode(),
    )


def aws(secret: str) -> Delivered:
    return item("prod", "aws", {"access_key_id": KEY_ID, "secret_access_key": secret})


def gh(token: str, host: str = "github.com") -> Delivered:
    return item(f"gh-{host}", "token", {"token": token, "host": host, "username": "me"})


def test_variables_files_and_manifest(canary: Canary) -> None:
    secret, token = canary("sk"), canary("tok")
    items = [aws(secret), gh(token), item("plain", "generic", "p")]
    formats = {"prod": "aws", "gh-github.com": "git"}
    out = render_session(items, formats, root="/m", python="py", base={"PATH": "/bin"})
    assert out.env["AWS_CONFIG_FILE"] == "/m/prod/config"
    assert out.env["GIT_CONFIG_COUNT"] == "2"
    assert out.env["GIT_CONFIG_KEY_1"] == "credential.https://github.com.helper"
    assert out.warnings == []
    files, manifest = folder_contents(items, out)
    assert set(files["prod"]) == {"credentials", "config"}  # type: ignore[arg-type]
    assert files["plain"] == b"p"
    assert [e.get("format") for e in manifest["files"]] == ["aws", "git", None]
    text = json.dumps([manifest, out.env, out.warnings])
    assert secret not in text and token not in text


def test_git_entries_follow_the_sessions_own() -> None:
    base = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.name", "GIT_CONFIG_VALUE_0": "me"}
    out = render_session(
        [gh("t1"), gh("t2", "gitlab.example.org")],
        {"gh-github.com": "git", "gh-gitlab.example.org": "git"},
        root="/m",
        python="py",
        base=base,
    )
    assert out.env["GIT_CONFIG_COUNT"] == "5"
    assert "GIT_CONFIG_KEY_0" not in out.env
    assert out.env["GIT_CONFIG_KEY_3"] == "credential.https://gitlab.example.org.helper"


def test_two_secrets_for_one_variable_are_refused(canary: Canary) -> None:
    secret = canary("sk")
    other = item("stage", "aws", {"access_key_id": KEY_ID, "secret_access_key": secret})
    with pytest.raises(BadRequest) as info:
        render_session([aws(secret), other], {"prod": "aws", "stage": "aws"}, root="/m", python="py", base={})
    assert info.value.code == "duplicate_env" and "AWS_" in info.value.message
    assert secret not in str(info.value)


def test_warnings_name_variables_that_outrank_or_are_replaced() -> None:
    base = {
        "AWS_ACCESS_KEY_ID": "AKIAOLDVALUE",
        "AWS_CONFIG_FILE": "/etc/aws",
        "PGPASSWORD": "",
        "PATH": "/b",
    }
    out = render_session([aws("s")], {"prod": "aws"}, root="/m", python="py", base=base)
    assert len(out.warnings) == 2
    assert out.warnings[0].startswith("AWS_CONFIG_FILE was set in this session")
    assert out.warnings[1].startswith("AWS_ACCESS_KEY_ID is set in this session and takes precedence")
    assert all('"me/prod"' in w for w in out.warnings)
    assert not any("AKIAOLDVALUE" in w or "/etc/aws" in w for w in out.warnings)  # names, not values


def test_a_format_the_secret_cannot_fill_is_refused() -> None:
    with pytest.raises(BadRequest) as info:
        render_session([item("tok", "token", "t")], {"tok": "git"}, root="/m", python="py", base={})
    assert info.value.message == 'secret "me/tok" cannot be written as git: it has no field host'


def test_as_pairs_with_the_secret_before_it() -> None:
    mappings = [parse_secret_option("aws"), parse_secret_option("alice/db:warehouse")]
    assert formats_for(mappings, [(0, "aws"), (1, "pgpass")]) == {"aws": "aws", "warehouse": "pgpass"}
    for bad in ([(-1, "aws")], [(0, "aws"), (0, "aws-process")], [(0, "yaml")]):
        with pytest.raises(BadRequest):
            formats_for(mappings, bad)
    with pytest.raises(BadRequest, match="whole secret"):
        formats_for([parse_secret_option("aws.region")], [(0, "aws")])
    spec = combine(None, ["a", "b"], [], mount_path=None, refresh=False, project=None, formats=[(1, "ssh")])
    assert spec.formats == {"b": "ssh"}
