"""Name rules: secret names are 1-128 of [A-Za-z0-9._-] and not '.' or '..'; hostile names never pass."""

from __future__ import annotations

import re
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.domain.names import (
    MAX_NAME_LENGTH,
    NAME_RULE,
    USER_NAME_RULE,
    check_secret_name,
    check_user_name,
    is_valid_secret_name,
)
from sealbox.errors import BadRequest

# The rule of TEST-PLAN T13, written independently of the code under test (ASCII only).
RULE = re.compile(r"[A-Za-z0-9._-]{1,128}", re.ASCII)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
NO_DB = settings(database=None, deadline=None, max_examples=150)


def _follows_rule(name: str) -> bool:
    return RULE.fullmatch(name) is not None and name not in {".", ".."}


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "Z",
        "0",
        "_",
        "-",
        "...",
        ".a",
        "a.",
        ".env",
        "..a",
        "a..b",
        "DB_PASSWORD",
        "aws.prod-key_2",
        "x" * MAX_NAME_LENGTH,
    ],
)
def test_valid_secret_names(name: str) -> None:
    assert is_valid_secret_name(name)
    assert check_secret_name(name) == name


HOSTILE = [
    "",
    ".",
    "..",
    "/",
    "a/b",
    "../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "..\\..\\x",
    "a\\b",
    "\\",
    "\x00",
    "a\x00",
    "a\x00b",
    "x" * (MAX_NAME_LENGTH + 1),
    "x" * 256,
    "x" * 4097,
    "\u2024",  # ONE DOT LEADER, looks like '.'
    "\u2024\u2024",
    "\uff0e\uff0e",  # FULLWIDTH FULL STOP x2, looks like '..'
    "\uff0e",
    "%2e%2e",
    "%2e",
    "%2F",
    "a b",
    " a",
    "a ",
    "a\n",
    "\na",
    "a\t",
    "a\r",
    "é",
    "\u0430",  # Cyrillic a
    "A\u200b",  # zero width space
    "\uff21",  # FULLWIDTH A
    "\u0661",  # ARABIC-INDIC DIGIT ONE
    "~",
    "a:b",
    "a*",
    "$HOME",
    "`id`",
    "a;b",
    "NAME=x",
]


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(n)[:30] for n in HOSTILE])
def test_hostile_secret_names(name: str) -> None:
    assert not is_valid_secret_name(name)
    with pytest.raises(BadRequest) as info:
        check_secret_name(name)
    exc = info.value
    assert (exc.status_code, exc.code, exc.field) == (400, "invalid_name", "name")
    assert exc.message == f"a secret name is {NAME_RULE}" == str(exc)


@pytest.mark.parametrize("value", [None, 5, b"name", ["a"], ("a",), {"a": 1}, 1.5])
def test_a_secret_name_must_be_text(value: object) -> None:
    with pytest.raises(BadRequest) as info:
        check_secret_name(value)  # type: ignore[arg-type]
    assert info.value.code == "invalid_name"


@pytest.mark.parametrize("suffix", ["/", "\x00", "/..", " ", "\u2024", "%2f", "x" * 128])
def test_a_refused_name_is_not_echoed(suffix: str) -> None:
    canary = "cnry-" + secrets.token_hex(16)
    with pytest.raises(BadRequest) as info:
        check_secret_name(canary + suffix)
    assert canary not in str(info.value)
    assert canary not in info.value.message
    assert canary not in repr(info.value.args)


def test_name_rule_text() -> None:
    assert MAX_NAME_LENGTH == 128
    assert NAME_RULE == "1-128 letters, digits, '.', '_' or '-', and not '.' or '..'"


@NO_DB
@given(st.text(max_size=140))
def test_accepted_names_match_the_rule(name: str) -> None:
    assert is_valid_secret_name(name) == _follows_rule(name)
    try:
        assert check_secret_name(name) == name
    except BadRequest as exc:
        assert not _follows_rule(name)
        assert exc.code == "invalid_name"
    else:
        assert _follows_rule(name)


@NO_DB
@given(st.text(alphabet=ALPHABET, min_size=0, max_size=140))
def test_names_from_the_allowed_alphabet(name: str) -> None:
    assert is_valid_secret_name(name) == (1 <= len(name) <= MAX_NAME_LENGTH and name not in {".", ".."})


@NO_DB
@given(
    st.text(alphabet=ALPHABET, min_size=1, max_size=64), st.text(min_size=1, max_size=4), st.integers(0, 64)
)
def test_one_foreign_character_anywhere_is_refused(name: str, insert: str, at: int) -> None:
    hostile = name[:at] + insert + name[at:]
    assert is_valid_secret_name(hostile) == _follows_rule(hostile)


# -- user names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["alice", "a", "0", "a1", "0abc", "a.b", "a_b", "a-b", "a" * 64, "bob.smith-2"]
)
def test_valid_user_names(name: str) -> None:
    assert check_user_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Alice",
        "ALICE",
        ".a",
        "-a",
        "_a",
        "a" * 65,
        "a b",
        "a/b",
        "a\x00",
        "é",
        "\uff41",
        "a\n",
        "..",
        ".",
    ],
)
def test_invalid_user_names(name: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_user_name(name)
    exc = info.value
    assert (exc.code, exc.field, exc.message) == ("invalid_name", "name", f"a user name is {USER_NAME_RULE}")


@pytest.mark.parametrize("value", [None, 5, b"alice"])
def test_a_user_name_must_be_text(value: object) -> None:
    with pytest.raises(BadRequest):
        check_user_name(value)  # type: ignore[arg-type]
