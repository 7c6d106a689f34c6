"""A value's needles and the one pattern that finds them: each encoding, pieces, and what is not found."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

from sealbox.ipython.redact import MIN_LENGTH, REDACTED, WINDOW, Redactor
from tests.support.canaries import ssh_key_shaped

VALUE = 'p@ss w/rd+&="quoted" ünï-cnry-6f1c2a9e0b7d4c3f'
PEM = ssh_key_shaped(
    *["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ"] * 3
)  # armour around canary lines


def _shown(value: str) -> dict[str, str]:
    raw = value.encode()
    shown = {
        "raw": value,
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "quoted": urllib.parse.quote(value, safe=""),
        "quote_plus": urllib.parse.quote_plus(value),
        "json": json.dumps({"k": value}),
        "json-unicode": json.dumps({"k": value}, ensure_ascii=False),
        "repr": repr({"k": value}),
        "bytes-repr": repr(raw),
        "window-first": value[:WINDOW] + "...",
        "window-last": "..." + value[-WINDOW:],
    }
    for offset in range(3):
        blob = b"x" * offset + raw + b"tail"
        shown[f"b64-{offset}"] = base64.b64encode(blob).decode()
        shown[f"b64url-{offset}"] = base64.urlsafe_b64encode(blob).decode()
    return shown


@pytest.mark.parametrize("automaton", [True, False], ids=["automaton", "re"])
@pytest.mark.parametrize("form", sorted(_shown(VALUE)))
def test_each_encoding_is_redacted_inside_other_text(form: str, automaton: bool) -> None:
    redactor = Redactor([VALUE.encode()], automaton=automaton)
    shown = _shown(VALUE)[form]
    out = redactor.scrub(f"before {shown} after")
    assert REDACTED in out
    assert out.startswith("before ") and out.endswith(" after")
    # What is left of the value is at most a few characters at an encoding's edge.
    assert all(len(piece) < MIN_LENGTH + 4 for piece in out[7:-6].split(REDACTED)), out


def test_lines_of_a_multiline_value_are_found_one_by_one() -> None:
    redactor = Redactor([PEM.encode()])
    line = PEM.splitlines()[1]
    assert line not in redactor.scrub(f"line 2 is {line}!")
    assert redactor.scrub(PEM).strip() == REDACTED


def test_short_values_are_not_redacted_and_other_text_is_untouched() -> None:
    redactor = Redactor([b"abc12", VALUE.encode()])
    assert redactor.scrub("abc12 and 42") == "abc12 and 42"
    assert Redactor([]).scrub_tree({"a": ["b"]}) == {"a": ["b"]}


def test_deliberate_transformations_are_not_found() -> None:
    """Documented: a guard against accidents, not a boundary."""
    value = "cnry-8d2f0e6b1a9c4d7e"
    redactor = Redactor([value.encode()])
    for changed in (value.upper(), value[::-1], " ".join(value)):
        assert redactor.scrub(changed) == changed


@pytest.mark.parametrize("automaton", [True, False], ids=["automaton", "re"])
def test_a_value_written_in_pieces_is_held_back_until_it_is_whole(automaton: bool) -> None:
    redactor = Redactor([VALUE.encode()], automaton=automaton)
    sent, held = [], ""
    for piece in ["output: ", *VALUE, " done"]:
        ready, held = redactor.split(held + piece)
        sent.append(ready)
    sent.append(redactor.scrub(held))
    joined = "".join(sent)
    assert joined == f"output: {REDACTED} done"


def test_a_long_value_split_in_the_middle_is_not_cut_by_its_window() -> None:
    value = "cnry-" + "0123456789abcdef" * 4
    redactor = Redactor([value.encode()])
    ready, held = redactor.split("x " + value[:40])
    assert ready == "x " and held == value[:40]
    ready, held = redactor.split(held + value[40:] + " y")
    assert ready + redactor.scrub(held) == f"{REDACTED} y"


def test_scrub_tree_copies_every_string_of_a_message() -> None:
    redactor = Redactor([VALUE.encode()])
    content = {"data": {"text/plain": repr(VALUE), "text/html": f"<b>{VALUE}</b>"}, "n": 3, "ok": True}
    content["traceback"] = [f"ValueError: {VALUE}"]  # type: ignore[assignment]
    scrubbed = redactor.scrub_tree(content)
    assert VALUE not in json.dumps(scrubbed, ensure_ascii=False)
    assert scrubbed["n"] == 3 and scrubbed["ok"] is True
    assert VALUE in content["data"]["text/html"]  # the original is left as it was
    assert redactor.scrub_tree(f"{VALUE}".encode()) == REDACTED.encode()
