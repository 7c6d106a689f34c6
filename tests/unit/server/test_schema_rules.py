"""The OpenAPI document states what the server enforces (issue 12, fault finding 5; TEST-PLAN T32).

Each pattern the document carries (domain/patterns.py, server/schemas) is checked against the rule that
enforces it, on generated input: strings the pattern makes, and strings near them. A pattern that
accepts what the rule refuses makes schema-valid requests fail (schemathesis ST202); one that refuses
what the rule accepts makes a generated client refuse good input (and ST201).
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.schema_rules import RULES, python, stated


def near(pattern: str, extra: str) -> st.SearchStrategy[str]:
    """Strings the pattern makes, the same with a character changed or added, and short noise."""
    made = st.from_regex(python(pattern), fullmatch=True)
    alphabet = st.sampled_from(string.ascii_letters + string.digits + extra)
    changed = st.tuples(made, st.integers(0, 300), alphabet).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
    )
    added = st.tuples(made, st.integers(0, 300), alphabet).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :])
    return st.one_of(made, changed, added, st.text(alphabet, max_size=12))


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_pattern_says_what_its_rule_enforces(name: str) -> None:
    pattern, rule, extra = RULES[name]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(near(pattern, extra))
    def agree(text: str) -> None:
        assert stated(name, text) == rule(text), (name, text)

    agree()
