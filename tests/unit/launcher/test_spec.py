"""What a run asks for: `--secret NAME[:FILE]`, `--env VAR=NAME[.FIELD]`, and a job's TOML or YAML spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealbox.domain.sessions import Mapping
from sealbox.errors import BadRequest
from sealbox.launcher.spec import (
    RunSpec,
    combine,
    load_spec,
    parse_env_option,
    parse_secret_option,
    split_field,
)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("aws.secret_access_key", ("aws", "secret_access_key")),
        ("prod.aws.region", ("prod.aws", "region")),
        ("db.password", ("db", "password")),
        ("my.secret", ("my.secret", None)),  # not a field name: part of the secret's name
        ("name", ("name", None)),
        (".region", (".region", None)),
        ("region", ("region", None)),
        ("a.", ("a.", None)),
    ],
)
def test_split_field(ref: str, expected: tuple[str, str | None]) -> None:
    assert split_field(ref) == expected


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("db_password", Mapping(secret="db_password", file="db_password")),
        ("db_password:pw.txt", Mapping(secret="db_password", file="pw.txt")),
        ("aws.region:region", Mapping(secret="aws", field="region", file="region")),
        ("aws.region", Mapping(secret="aws", field="region", file="aws")),
        ("my.name", Mapping(secret="my.name", file="my.name")),
        ("a:b:c", Mapping(secret="a", file="b:c")),  # refused later by the file-name rules
    ],
)
def test_parse_secret_option(option: str, expected: Mapping) -> None:
    assert parse_secret_option(option) == expected


@pytest.mark.parametrize("option", ["", ":file", ":"])
def test_parse_secret_option_refuses(option: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_secret_option(option)
    assert caught.value.code == "invalid_mapping"


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("TOKEN=gh", Mapping(secret="gh", env="TOKEN")),
        (
            "AWS_SECRET=aws.secret_access_key",
            Mapping(secret="aws", field="secret_access_key", env="AWS_SECRET"),
        ),
        ("X=my.name", Mapping(secret="my.name", env="X")),
        ("X=a=b", Mapping(secret="a=b", env="X")),
    ],
)
def test_parse_env_option(option: str, expected: Mapping) -> None:
    assert parse_env_option(option) == expected


@pytest.mark.parametrize("option", ["TOKEN", "=gh", "TOKEN=", "", "="])
def test_parse_env_option_refuses(option: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_env_option(option)
    assert caught.value.code == "invalid_mapping"


TOML = """
secrets = ["db", "gh:token.txt", { name = "aws", field = "region", file = "region" }, { name = "aws.user" }]
mount_path = "/secrets/job"
refresh = true
project = "genomics"

[env]
AWS_SECRET_ACCESS_KEY = "aws.secret_access_key"
PGPASSWORD = "db"
"""

YAML = """
secrets:
  - db
  - gh:token.txt
  - {name: aws, field: region, file: region}
  - name: aws.user
mount_path: /secrets/job
refresh: true
project: genomics
env:
  AWS_SECRET_ACCESS_KEY: aws.secret_access_key
  PGPASSWORD: db
"""

EXPECTED = RunSpec(
    mappings=(
        Mapping(secret="db", file="db"),
        Mapping(secret="gh", file="token.txt"),
        Mapping(secret="aws", field="region", file="region"),
        Mapping(secret="aws", field="user", file="aws"),
        Mapping(secret="aws", field="secret_access_key", env="AWS_SECRET_ACCESS_KEY"),
        Mapping(secret="db", env="PGPASSWORD"),
    ),
    mount_path="/secrets/job",
    refresh=True,
    project="genomics",
)


@pytest.mark.parametrize(("suffix", "text"), [(".toml", TOML), (".yaml", YAML), (".yml", YAML)])
def test_load_spec(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"job{suffix}"
    path.write_text(text)
    assert load_spec(path) == EXPECTED


def test_a_minimal_spec(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text('secrets = ["only"]\n')
    assert load_spec(path) == RunSpec(mappings=(Mapping(secret="only", file="only"),))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("job.toml", 'secrets = ["a"]\nunknown = 1\n'),
        ("job.toml", "secrets = [\n"),
        ("job.toml", "secrets = [1]\n"),
        ("job.toml", 'secrets = [{ file = "x" }]\n'),
        ("job.toml", 'env = ["A=b"]\n'),
        ("job.toml", "[env]\nA = 1\n"),
        ("job.toml", 'refresh = "yes"\n'),
        ("job.toml", "mount_path = 1\n"),
        ("job.toml", "project = true\n"),
        ("job.yaml", "- a\n- b\n"),
        ("job.yaml", "secrets: [a\n"),
        ("job.yaml", "just text"),
        ("job.toml", '[env]\n"=x" = "a"\n'),
    ],
)
def test_a_bad_spec_is_refused(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(BadRequest) as caught:
        load_spec(path)
    assert caught.value.code in {"invalid_spec", "invalid_mapping"}


def test_a_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as caught:
        load_spec(tmp_path / "absent.toml")
    assert caught.value.code == "invalid_spec"


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("secrets: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(BadRequest):
        load_spec(path)
    assert not Path("pwned").exists()


def test_flags_add_to_a_spec_and_win_for_settings() -> None:
    spec = RunSpec(mappings=(Mapping(secret="a", file="a"),), mount_path="/from/spec", project="p1")
    combined = combine(spec, ["b:bee"], ["X=c.region"], mount_path=None, refresh=True, project=None)
    assert combined == RunSpec(
        mappings=(
            Mapping(secret="a", file="a"),
            Mapping(secret="b", file="bee"),
            Mapping(secret="c", field="region", env="X"),
        ),
        mount_path="/from/spec",
        refresh=True,
        project="p1",
    )
    override = combine(spec, [], [], mount_path="/from/flag", refresh=False, project="p2")
    assert (override.mount_path, override.project, override.refresh) == ("/from/flag", "p2", False)
    assert combine(None, ["z"], [], mount_path=None, refresh=False, project=None) == RunSpec(
        mappings=(Mapping(secret="z", file="z"),)
    )


def test_a_spec_entry_names_its_format(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text(
        'secrets = ["plain", { name = "aws-prod", as = "aws" },'
        ' { name = "alice/db", file = "wh", as = "pgpass" }]\n'
    )
    spec = load_spec(path)
    assert spec.formats == {"aws-prod": "aws", "wh": "pgpass"}
    both = combine(spec, ["gh"], [], mount_path=None, refresh=False, project=None, formats=[(0, "git")])
    assert both.formats == {"aws-prod": "aws", "wh": "pgpass", "gh": "git"}
    for entry, message in (
        ('{ name = "x", as = 5 }', "as is a format name"),
        ('{ name = "x", as = "kubeconfig" }', "unknown format"),
        ('{ name = "aws.region", as = "aws" }', "whole secret"),
    ):
        path.write_text(f"secrets = [{entry}]\n")
        with pytest.raises(BadRequest, match=message):
            load_spec(path)
