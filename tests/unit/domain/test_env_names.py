"""TEST-PLAN T29, the rule itself: which variable names a mapping may set (domain/env_names.py).

The same table goes through every path that maps a variable in tests/integration (CLI, API, service
sessions, JupyterHub form and link, web start page); here: the rule, its messages, and the OpenAPI
pattern built from it agreeing with it.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.domain.env_names import ENV_NAME_PATTERN, FAMILIES, check_env_name, reserved_family
from sealbox.domain.sessions import Mapping, check_mappings
from sealbox.errors import BadRequest
from tests.support.env_names import DANGEROUS, ORDINARY

PATTERN = re.compile(ENV_NAME_PATTERN)


def test_the_table_is_large_enough() -> None:
    assert len(set(DANGEROUS)) >= 60
    assert len(set(ORDINARY)) >= 10


@pytest.mark.parametrize("name", DANGEROUS)
def test_dangerous_names_are_refused_with_their_family(name: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_env_name(name)
    exc = info.value
    assert (exc.status_code, exc.code, exc.field) == (400, "invalid_env", "env")
    family = reserved_family(name)
    assert family is not None
    assert exc.message == f"that environment variable is reserved: {family.why}"
    assert name not in exc.message and name.upper() not in exc.message
    # and through a mapping, as every path builds one
    with pytest.raises(BadRequest):
        check_mappings([Mapping(secret="shared-owner/db", file="db", env=name)])  # pragma: allowlist secret


@pytest.mark.parametrize("name", ORDINARY)
def test_credential_names_stay_allowed(name: str) -> None:
    assert check_env_name(name) == name
    assert check_mappings([Mapping(secret="db", env=name)])  # pragma: allowlist secret


@pytest.mark.parametrize("name", [*DANGEROUS, *ORDINARY])
def test_every_letter_case_gets_the_same_answer(name: str) -> None:
    for variant in (name.upper(), name.lower(), name.swapcase()):
        assert (reserved_family(variant) is None) == (reserved_family(name) is None)


def test_every_family_says_why() -> None:
    for family in FAMILIES:
        assert family.why and (family.prefixes or family.suffixes or family.names)
        assert all(p == p.upper() for p in (*family.prefixes, *family.suffixes, *family.names))


@pytest.mark.parametrize("name", [*DANGEROUS, *ORDINARY])
def test_the_openapi_pattern_agrees_on_the_table(name: str) -> None:
    assert (PATTERN.search(name) is not None) == (reserved_family(name) is None)


def _fragments() -> st.SearchStrategy[str]:
    words = sorted({w for f in FAMILIES for w in (*f.prefixes, *f.suffixes, *f.names)})
    return st.sampled_from(words).flatmap(lambda w: st.sampled_from([w, w.lower(), w.title()]))


_NAMES = st.builds(
    lambda head, mid, tail: (head + mid + tail)[:128],
    st.one_of(st.just(""), _fragments()),
    st.from_regex(r"[A-Za-z0-9_]{0,6}", fullmatch=True),
    st.one_of(st.just(""), _fragments()),
).filter(lambda n: re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", n) is not None)


@settings(max_examples=2000, deadline=None)
@given(_NAMES)
def test_the_openapi_pattern_agrees_with_the_rule(name: str) -> None:
    """The pattern in the OpenAPI document is built from the same table: a generated client refuses
    exactly what the server refuses."""
    allowed = reserved_family(name) is None
    assert (PATTERN.search(name) is not None) == allowed, name
    if allowed:
        assert check_env_name(name) == name
    else:
        with pytest.raises(BadRequest):
            check_env_name(name)
