"""Session mappings: file names, variable names and mount paths are checked before anything is written."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from sealbox.domain.env_names import check_env_name
from sealbox.domain.sessions import (
    CREDENTIAL_TTL_SECONDS,
    DEFAULT_MOUNT_PATH,
    DEFAULT_TTL_SECONDS,
    HEARTBEAT_MISSES,
    MAX_HEARTBEAT_SECONDS,
    MAX_SECRETS_PER_SESSION,
    MAX_TTL_SECONDS,
    MIN_HEARTBEAT_SECONDS,
    Mapping,
    Session,
    SessionID,
    SessionSecret,
    check_file_name,
    check_heartbeat,
    check_mappings,
    check_mount_path,
)
from sealbox.errors import BadRequest

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _refused(exc: BadRequest, code: str, field: str, *hidden: str) -> None:
    assert (exc.status_code, exc.code, exc.field) == (400, code, field)
    for value in hidden:
        assert value not in str(exc) and value not in exc.message and value not in repr(exc)


def test_constants() -> None:
    assert DEFAULT_MOUNT_PATH == "/secrets"
    assert CREDENTIAL_TTL_SECONDS <= 60 < DEFAULT_TTL_SECONDS <= MAX_TTL_SECONDS
    assert MAX_SECRETS_PER_SESSION == 500


# -- environment variable names --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A", "_", "DB_PASSWORD", "aws_key", "_X9", "X" * 128, "PATHS", "MY_LD_X"])
def test_valid_env_names(name: str) -> None:
    assert check_env_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "1A", "A-B", "A B", "A=B", "A\x00", "A\n", "\u00c9", "A.B", "X" * 129, "$A", "\uff21"]
)
def test_invalid_env_names(name: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_env_name(name)
    _refused(info.value, "invalid_env", "env")


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "path",
        "Home",
        "LD_PRELOAD",
        "ld_library_path",
        "DYLD_INSERT_LIBRARIES",
        "SEALBOX_TOKEN",
        "sealbox_anything",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "BASH_ENV",
        "NODE_OPTIONS",
        "IFS",
    ],
)
def test_reserved_env_names(name: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_env_name(name)
    _refused(info.value, "invalid_env", "env")
    assert info.value.message.startswith("that environment variable is reserved: ")


def test_a_refused_env_name_is_not_echoed() -> None:
    canary = "CNRY_" + secrets.token_hex(16).upper()
    for bad in (canary + "-", "LD_" + canary):
        with pytest.raises(BadRequest) as info:
            check_env_name(bad)
        _refused(info.value, "invalid_env", "env", canary)


# -- file names and mount paths --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["DB_PASSWORD", ".env", "a.b-c_d", "x" * 128])
def test_valid_file_names(name: str) -> None:
    assert check_file_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "/",
        "a/b",
        "../x",
        "/etc/passwd",
        "a\x00",
        "a\\b",
        "x" * 129,
        "\u2024\u2024",
        "\uff0e\uff0e",
        "%2e%2e",
    ],
)
def test_hostile_file_names(name: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_file_name(name)
    _refused(info.value, "invalid_file", "file")


@pytest.mark.parametrize("path", ["/secrets", "/", "/a/b/c", "/home/u/.secrets", "/a/..b", "/a/b."])
def test_valid_mount_paths(path: str) -> None:
    assert check_mount_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "secrets",
        "./secrets",
        "~/secrets",
        "/a/../b",
        "/..",
        "/.",
        "/a/.",
        "/a/./b",
        "/a\x00b",
        "/" + "a" * 1024,
    ],
)
def test_hostile_mount_paths(path: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_mount_path(path)
    _refused(info.value, "invalid_mount_path", "mount_path")


def test_a_refused_mount_path_is_not_echoed() -> None:
    canary = "cnry-" + secrets.token_hex(16)
    for bad in (canary, f"/{canary}/../x", f"/{canary}\x00"):
        with pytest.raises(BadRequest) as info:
            check_mount_path(bad)
        _refused(info.value, "invalid_mount_path", "mount_path", canary)


# -- mappings --------------------------------------------------------------------------------------


def test_mapping_validated() -> None:
    m = Mapping(secret="DB", field="password", file="db-password", env="DB_PASSWORD")
    assert m.validated() is m
    assert Mapping(secret="DB", file="DB").validated().field is None


@pytest.mark.parametrize(
    ("mapping", "code", "field"),
    [
        (Mapping(secret="A/b/c", file="x"), "invalid_name", "secret"),
        (Mapping(secret="..", file="x"), "invalid_name", "secret"),
        (Mapping(secret="DB", field="Password", file="x"), "invalid_field", "field"),
        (Mapping(secret="DB", field="pass-word", file="x"), "invalid_field", "field"),
        (Mapping(secret="DB", field="", file="x"), "invalid_field", "field"),
        (Mapping(secret="DB", field="x" * 33, file="x"), "invalid_field", "field"),
        (Mapping(secret="DB", file="../x"), "invalid_file", "file"),
        (Mapping(secret="DB", env="LD_PRELOAD"), "invalid_env", "env"),
        (Mapping(secret="DB", env="1X"), "invalid_env", "env"),
    ],
)
def test_mapping_refusals(mapping: Mapping, code: str, field: str) -> None:
    with pytest.raises(BadRequest) as info:
        mapping.validated()
    _refused(info.value, code, field)


def test_mapping_errors_do_not_echo() -> None:
    canary = "cnry-" + secrets.token_hex(16)
    for mapping in (
        Mapping(secret=canary + "/x/y", file="f"),
        Mapping(secret="DB", field=canary, file="f"),
        Mapping(secret="DB", file=canary + "/.."),
    ):
        with pytest.raises(BadRequest) as info:
            mapping.validated()
        _refused(info.value, info.value.code, str(info.value.field), canary)


def test_check_mappings_accepts_a_valid_list() -> None:
    mappings = [
        Mapping(secret="A", file="a"),
        Mapping(secret="B", env="B"),
        Mapping(secret="C", file="c", env="C"),
        Mapping(secret="A", field="user", file="a-user"),
    ]
    assert check_mappings(mappings) is mappings


def test_check_mappings_needs_at_least_one() -> None:
    with pytest.raises(BadRequest) as info:
        check_mappings([])
    _refused(info.value, "no_secrets", "secrets")


def test_check_mappings_limit() -> None:
    ok = [Mapping(secret=f"S{i}", file=f"f{i}") for i in range(MAX_SECRETS_PER_SESSION)]
    assert check_mappings(ok) is ok
    with pytest.raises(BadRequest) as info:
        check_mappings([*ok, Mapping(secret="X", file="x")])
    _refused(info.value, "too_many_secrets", "secrets")


@pytest.mark.parametrize(
    ("mappings", "code", "field"),
    [
        ([Mapping(secret="A", file="f"), Mapping(secret="B", file="f")], "duplicate_file", "file"),
        ([Mapping(secret="A", env="E"), Mapping(secret="B", env="E")], "duplicate_env", "env"),
        ([Mapping(secret="A", file="a"), Mapping(secret="B")], "invalid_mapping", "secrets"),
        ([Mapping(secret="A", file="a"), Mapping(secret="..", file="b")], "invalid_name", "secret"),
    ],
)
def test_check_mappings_refusals(mappings: list[Mapping], code: str, field: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_mappings(mappings)
    _refused(info.value, code, field)


# -- sessions --------------------------------------------------------------------------------------


def _session(*, status: str = "active", expires_at: datetime = NOW + timedelta(hours=1)) -> Session:
    return Session(
        id=SessionID("sess-1"),
        owner_id="u1",
        owner_name="alice",
        project=None,
        mount_path=DEFAULT_MOUNT_PATH,
        status=status,
        created_at=NOW - timedelta(hours=1),
        expires_at=expires_at,
        ended_at=None,
    )


@pytest.mark.parametrize(
    ("status", "expires_at", "live"),
    [
        ("active", NOW + timedelta(seconds=1), True),
        ("pending", NOW + timedelta(seconds=1), True),
        ("active", NOW, False),
        ("active", NOW - timedelta(seconds=1), False),
        ("ended", NOW + timedelta(hours=1), False),
    ],
)
def test_session_is_live(status: str, expires_at: datetime, live: bool) -> None:
    assert _session(status=status, expires_at=expires_at).is_live(NOW) is live


@pytest.mark.parametrize(
    ("heartbeat", "seen_ago", "status", "live", "state"),
    [
        (None, None, "active", True, "active"),  # no heartbeat asked (hubs, pods): its lifetime decides
        (30, 0, "active", True, "active"),
        (30, 89, "active", True, "active"),
        (30, 90, "active", False, "expired"),  # three intervals without a call: over
        (30, 3600, "pending", False, "expired"),
        (10, 29, "pending", True, "pending"),
        (30, 0, "ended", False, "ended"),
    ],
)
def test_a_session_not_heard_from_for_three_heartbeats_is_over(
    heartbeat: int | None, seen_ago: int | None, status: str, live: bool, state: str
) -> None:
    """Issue 12, new user 2: one rule for "live" (listing, redemption, credentials, a secret's sessions)."""
    session = replace(
        _session(status=status),
        heartbeat_seconds=heartbeat,
        last_seen_at=None if seen_ago is None else NOW - timedelta(seconds=seen_ago),
    )
    assert HEARTBEAT_MISSES == 3
    assert session.is_live(NOW) is live
    assert session.state(NOW) == state
    assert _session(expires_at=NOW).state(NOW) == "expired"


@pytest.mark.parametrize("seconds", [None, MIN_HEARTBEAT_SECONDS, 60, MAX_HEARTBEAT_SECONDS])
def test_heartbeat_bounds_accepted(seconds: int | None) -> None:
    assert check_heartbeat(seconds) == seconds


@pytest.mark.parametrize("seconds", [-1, 0, 1, MIN_HEARTBEAT_SECONDS - 1, MAX_HEARTBEAT_SECONDS + 1])
def test_heartbeat_bounds_refused(seconds: int) -> None:
    with pytest.raises(BadRequest) as info:
        check_heartbeat(seconds)
    _refused(info.value, "invalid_heartbeat", "heartbeat_seconds")


def test_session_secret_defaults() -> None:
    s = SessionSecret(
        secret_id="s1",
        secret_name="DB",
        owner_id="u1",
        owner_name="alice",
        kind="generic",
        field=None,
        file="DB",
        env=None,
        version=3,
    )
    assert s.current_version is None
    assert _session().secrets == ()
