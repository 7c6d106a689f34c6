"""`sealbox.get_credential(kind, resource=...)`: among the mounted credentials of a kind, the one whose
scope matches the resource most specifically (issue 5, "Typed credentials carry optional scopes").

The mounted folder is built by hand exactly as `sealbox run` lays it out: the manifest at
`DIR/..data/@sealbox.json` (entries `{secret, owner, field, file, kind, version, scopes}`) and a
multi-field secret as `DIR/<file>/<field>` files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sealbox
from sealbox import AmbiguousCredential, CredentialNotFound, SecretNotFound, get_credential
from sealbox.sdk.credentials import specificity


def aws(key_id: str) -> dict[str, str]:
    return {"access_key_id": key_id, "secret_access_key": f"sk-{key_id}"}


def mount(
    folder: Path, *creds: tuple[str, str, list[str] | None, dict[str, str]], field_entries: int = 0
) -> Path:
    """A folder with `(secret, kind, scopes, fields)` credentials mounted as DIR/<secret>/<field>."""
    folder.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    for secret, kind, scopes, fields in creds:
        (folder / secret).mkdir()
        for name, text in fields.items():
            (folder / secret / name).write_text(text)
        entry: dict[str, Any] = {
            "secret": secret,
            "owner": "alice",
            "field": None,
            "file": secret,
            "kind": kind,
            "version": 1,
        }
        if scopes is not None:
            entry["scopes"] = scopes
        entries.append(entry)
    for i in range(field_entries):  # single fields mounted as files: never a whole credential
        (folder / f"key{i}").write_text("AKIAFIELDONLY0000")
        entries.append(
            {
                "secret": f"f{i}",
                "owner": "alice",
                "field": "access_key_id",
                "file": f"key{i}",
                "kind": "aws",
                "version": 1,
                "scopes": [],
            }
        )
    (folder / "..data").mkdir(parents=True, exist_ok=True)
    (folder / "..data" / "@sealbox.json").write_text(json.dumps({"files": entries, "version": 1}))
    return folder


@pytest.fixture
def team(tmp_path: Path) -> Path:
    return mount(
        tmp_path / "secrets",
        ("team", "aws", ["s3://team-data/*"], aws("TEAM")),
        ("raw", "aws", ["s3://team-data/raw/*"], aws("RAW")),
        ("fallback", "aws", [], aws("ANY")),
        ("db", "database", ["s3://team-data/raw/*"], {"password": "pw"}),
        field_entries=2,
    )


@pytest.mark.parametrize(
    ("resource", "chosen"),
    [
        ("s3://team-data/raw/x.csv", "RAW"),  # both team scopes match: the longer literal prefix wins
        ("s3://team-data/raw/deep/er/y.parquet", "RAW"),
        ("s3://team-data/curated/x.csv", "TEAM"),
        ("s3://team-data/rawish.csv", "TEAM"),  # not under raw/
        ("s3://elsewhere/x.csv", "ANY"),  # no scope matches: the unscoped one
        ("S3://TEAM-DATA/raw/x.csv", "ANY"),  # patterns are case-sensitive
        ("gs://team-data/raw/x.csv", "ANY"),
    ],
)
def test_picks_the_most_specific_matching_scope(team: Path, resource: str, chosen: str) -> None:
    assert get_credential("aws", resource=resource, folders=(team,)) == aws(chosen)


def test_the_package_exports_it_and_it_reads_the_mounted_folder_from_the_environment(
    team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALBOX_SECRETS_DIR", str(team))
    assert sealbox.get_credential("aws", resource="s3://team-data/raw/a") == aws("RAW")
    assert sealbox.get_credential("database", resource="s3://team-data/raw/a") == {"password": "pw"}


def test_an_exact_pattern_beats_a_wildcard_with_the_same_prefix(tmp_path: Path) -> None:
    exact = "s3://team-data/raw/x.csv"
    folder = mount(
        tmp_path / "s",
        ("prefix", "aws", ["s3://team-data/raw/x.csv*"], aws("PREFIX")),
        ("exact", "aws", [exact], aws("EXACT")),
    )
    assert specificity(exact) == len(exact) + 1 > specificity("s3://team-data/raw/x.csv*")
    assert get_credential("aws", resource=exact, folders=(folder,)) == aws("EXACT")
    assert get_credential("aws", resource=exact + ".bak", folders=(folder,)) == aws("PREFIX")


def test_the_best_of_a_credentials_several_scopes_counts(tmp_path: Path) -> None:
    folder = mount(
        tmp_path / "s",
        ("wide", "aws", ["s3://other/*", "s3://team-data/raw/2024/*"], aws("WIDE")),
        ("narrow", "aws", ["s3://team-data/raw/*"], aws("NARROW")),
    )
    assert get_credential("aws", resource="s3://team-data/raw/2024/x", folders=(folder,)) == aws("WIDE")
    assert get_credential("aws", resource="s3://team-data/raw/2023/x", folders=(folder,)) == aws("NARROW")


def test_none_matching_is_credential_not_found(tmp_path: Path) -> None:
    folder = mount(tmp_path / "s", ("team", "aws", ["s3://team-data/*"], aws("TEAM")))
    with pytest.raises(CredentialNotFound) as caught:
        get_credential("aws", resource="s3://elsewhere/x", folders=(folder,))
    assert isinstance(caught.value, SecretNotFound)  # callers that catch SecretNotFound still do
    assert "s3://elsewhere/x" in str(caught.value) and str(folder) in str(caught.value)
    with pytest.raises(CredentialNotFound):
        get_credential("gcp", resource="s3://team-data/x", folders=(folder,))  # no credential of the kind
    with pytest.raises(CredentialNotFound):
        get_credential("aws", resource="s3://team-data/x", folders=(tmp_path / "nothing-here",))


def test_single_fields_and_broken_manifests_are_not_credentials(tmp_path: Path) -> None:
    fields_only = mount(tmp_path / "fields", field_entries=3)
    broken = tmp_path / "broken"
    (broken / "..data").mkdir(parents=True)
    (broken / "..data" / "@sealbox.json").write_text("{not json")
    listed = tmp_path / "listed"
    (listed / "..data").mkdir(parents=True)
    (listed / "..data" / "@sealbox.json").write_text("[]")
    for folder in (fields_only, broken, listed):
        with pytest.raises(CredentialNotFound):
            get_credential("aws", resource="s3://x/y", folders=(folder,))


@pytest.mark.parametrize(
    ("scopes_a", "scopes_b"),
    [
        (["s3://team-data/*"], ["s3://team-data/*"]),  # the same pattern twice
        (["s3://team-data/r*"], ["s3://team-data/r?w/*"]),  # equally long literal prefixes
        ([], []),  # two unscoped: both fall back equally
    ],
)
def test_a_tie_is_ambiguous_and_names_both(tmp_path: Path, scopes_a: list[str], scopes_b: list[str]) -> None:
    folder = mount(
        tmp_path / "s",
        ("first", "aws", scopes_a, aws("A")),
        ("second", "aws", scopes_b, aws("B")),
    )
    with pytest.raises(AmbiguousCredential) as caught:
        get_credential("aws", resource="s3://team-data/raw/x", folders=(folder,))
    assert "first" in str(caught.value) and "second" in str(caught.value)


def test_a_tie_below_the_winner_is_no_ambiguity(tmp_path: Path) -> None:
    folder = mount(
        tmp_path / "s",
        ("a", "aws", ["s3://team-data/*"], aws("A")),
        ("b", "aws", ["s3://team-data/*"], aws("B")),
        ("raw", "aws", ["s3://team-data/raw/*"], aws("RAW")),
    )
    assert get_credential("aws", resource="s3://team-data/raw/x", folders=(folder,)) == aws("RAW")


def test_the_first_folder_with_that_kind_decides(tmp_path: Path) -> None:
    first = mount(tmp_path / "first", ("general", "aws", [], aws("FIRST")))
    second = mount(tmp_path / "second", ("exact", "aws", ["s3://team-data/raw/*"], aws("SECOND")))
    empty = mount(tmp_path / "empty", ("db", "database", [], {"password": "x"}))
    resource = "s3://team-data/raw/x"
    assert get_credential("aws", resource=resource, folders=(first, second)) == aws("FIRST")
    assert get_credential("aws", resource=resource, folders=(empty, second)) == aws("SECOND")
    # A folder whose credentials of that kind all miss does not hide the next one.
    miss = mount(tmp_path / "miss", ("other", "aws", ["s3://other/*"], aws("MISS")))
    assert get_credential("aws", resource=resource, folders=(miss, second)) == aws("SECOND")


def test_missing_scopes_key_means_unscoped(tmp_path: Path) -> None:
    folder = mount(tmp_path / "s", ("old", "aws", None, aws("OLD")))  # a manifest from before scopes
    assert get_credential("aws", resource="s3://anything/x", folders=(folder,)) == aws("OLD")
