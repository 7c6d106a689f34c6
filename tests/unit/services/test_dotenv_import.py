"""services/dotenv_import.py: parsing a .env file as dotenv does (without interpolation) and the plan."""

from __future__ import annotations

from sealbox.domain.kinds import Kind
from sealbox.services.dotenv_import import Entry, parse_env, plan, secret_name_for


def test_values_are_read_as_written_with_or_without_a_byte_order_mark() -> None:
    text = "# comment\n\nexport A='${HOME}/x'\nB=\"two\\nlines\"\nC=plain # trailing\n"
    for data in (text.encode(), text.encode("utf-8-sig")):
        parsed = parse_env(data)
        assert [(e.key, e.line, e.value) for e in parsed.entries] == [
            ("A", 3, "${HOME}/x"),
            ("B", 4, "two\nlines"),
            ("C", 5, "plain"),
        ]
        assert parsed.problems == ()


def test_problems_by_line_and_the_last_duplicate_wins() -> None:
    parsed = parse_env(b"A=1\nnot a line\nEMPTY=\nNOVALUE\nA=2\n")
    assert [(e.key, e.line, e.value) for e in parsed.entries] == [("A", 5, "2")]
    assert [(p.line, p.message) for p in parsed.problems] == [
        (1, "A is given again on line 5, which is used"),
        (2, "not KEY=VALUE: skipped"),
        (3, "EMPTY has no value: skipped"),
        (4, "NOVALUE has no value: skipped"),
    ]


def test_bytes_that_are_not_utf8_are_reported_on_their_line() -> None:
    parsed = parse_env(b"A=1\nB=caf\xe9\n")
    assert parsed.entries == ()
    assert [(p.line, p.message) for p in parsed.problems] == [(2, "not UTF-8 text: nothing was read")]


def test_names_are_kept_when_valid_and_mapped_otherwise() -> None:
    assert secret_name_for("DB_PASSWORD") == "DB_PASSWORD"
    assert secret_name_for("odd:key") == "odd_key"
    assert secret_name_for("a/b c") == "a_b_c"
    assert secret_name_for("::") is None
    assert secret_name_for("x" * 200) == "x" * 128


def test_plan_creates_replaces_and_skips() -> None:
    keys = [("NEW", "NEW"), ("OLD", "OLD"), ("AWS", "AWS"), ("a:b", "a_b"), ("a_b", "a_b")]
    entries = tuple(Entry(key=k, name=n, line=i, value="v") for i, (k, n) in enumerate(keys))
    steps = plan(entries, {"OLD": Kind.GENERIC, "AWS": Kind.AWS})
    assert [(s.action, s.entry.key) for s in steps] == [
        ("create", "NEW"),
        ("replace", "OLD"),
        ("skip", "AWS"),
        ("create", "a:b"),
        ("skip", "a_b"),
    ]
    assert "value='v'" not in repr(steps)
