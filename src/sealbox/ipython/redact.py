"""Which strings give a value away, and one pattern that finds them all in a text.

A value is found as it is and in the encodings output commonly shows it in: hex (both cases), base64 and
base64url (at each of the three byte alignments, so a value inside a longer encoded blob is found too),
URL-quoted, JSON- and repr-escaped; a long value also by its first and last windows (a truncated display),
and a multi-line value by each of its longer lines. Deliberate transformations (`.upper()`, reversal, a
value cut into pieces) are not found: this is a guard against accidents, not a boundary.

The needles go into one Aho-Corasick automaton (ahocorasick-rs, a DFA) when it is installed, else into one
`re` alternation (a fallback, slower: docs/performance.md); either is built once per set of values.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[sealbox:redacted]"
MIN_LENGTH = 6  # shorter values (and shorter needles) would redact ordinary words and numbers
WINDOW = 16  # a value of 2 * WINDOW characters or more is also found by its first and last WINDOW
LINE_MIN = 16  # each line of a multi-line value at least this long is a needle of its own
HOLD_MAX = 1024  # at most this much of a stream's end is held back for the next message


def _b64_cores(raw: bytes, alphabet: bytes | None) -> set[str]:
    """The characters of the value's base64 that do not depend on its neighbours, at offsets 0, 1, 2."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw, altchars=alphabet).decode().rstrip("=")
        start = -(-offset * 8 // 6)  # the first character made of the value's bits only
        end = (offset + len(raw)) * 8 // 6  # past the last one
        cores.add(encoded[start:end])
    padded = base64.b64encode(raw, altchars=alphabet).decode()
    cores.add(padded)  # the whole value encoded alone, padding included
    return cores


def _text_forms(text: str) -> set[str]:
    forms = {text, quote(text, safe=""), quote(text), quote_plus(text, safe="")}
    forms.add(json.dumps(text)[1:-1])
    forms.add(json.dumps(text, ensure_ascii=False)[1:-1])
    forms.add(repr(text)[1:-1])
    return forms


def forms(value: bytes) -> set[str]:
    """Every needle for one value (each at least MIN_LENGTH long)."""
    found: set[str] = set()
    found.update({value.hex(), value.hex().upper()})
    found.update(_b64_cores(value, None))
    found.update(_b64_cores(value, b"-_"))
    found.add(repr(value)[2:-1])
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        found.update(_text_forms(text))
        if len(text) >= 2 * WINDOW:
            found.update({text[:WINDOW], text[-WINDOW:]})
        lines = [line.strip() for line in text.splitlines()]
        if len(lines) > 1:
            found.update(line for line in lines if len(line) >= LINE_MIN)
    return {f for f in found if len(f) >= MIN_LENGTH}


class Redactor:
    """Replaces every needle of a set of values with REDACTED; built once, used for every output."""

    def __init__(self, values: Iterable[bytes], *, automaton: bool = True) -> None:
        needles: set[str] = set()
        for value in values:
            if len(value) >= MIN_LENGTH:
                needles |= forms(value)
        self.needles = sorted(needles)  # sorted: `is_prefix` bisects it
        self.longest = max((len(n) for n in self.needles), default=0)
        self._first = frozenset(n[0] for n in self.needles)
        self._automaton: Any = None
        self._pattern: re.Pattern[str] | None = None
        if not self.needles:
            return
        try:
            if not automaton:
                raise ImportError("asked for the regular expression")
            import ahocorasick_rs
        except ImportError:  # sealbox[jupyter] brings it; without it, one regular expression does the job
            by_length = sorted(self.needles, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(n) for n in by_length))
            return
        try:  # a DFA: ~3 ms a MB; a very large set of needles falls back to the (slower) contiguous NFA
            self._automaton = ahocorasick_rs.AhoCorasick(
                self.needles, implementation=ahocorasick_rs.Implementation.DFA
            )
        except Exception:  # the DFA's size limit: what it raises is not documented
            self._automaton = ahocorasick_rs.AhoCorasick(self.needles)

    @property
    def empty(self) -> bool:
        return not self.needles

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where needles are in `text` (start, end), left to right, not overlapping: with the automaton,
        every character that any needle covers (overlapping matches are joined)."""
        if self._pattern is not None:
            return [m.span() for m in self._pattern.finditer(text)]
        if self._automaton is None:
            return []
        found = sorted((start, end) for _, start, end in self._automaton.find_matches_as_indexes(text, True))
        joined: list[tuple[int, int]] = []
        for start, end in found:
            if joined and start < joined[-1][1]:
                joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
            else:
                joined.append((start, end))
        return joined

    def scrub(self, text: str) -> str:
        return self._replace(text, self.spans(text))

    @staticmethod
    def _replace(text: str, spans: list[tuple[int, int]]) -> str:
        if not spans:
            return text
        parts: list[str] = []
        done = 0
        for start, end in spans:
            parts += (text[done:start], REDACTED)
            done = end
        parts.append(text[done:])
        return "".join(parts)

    def is_prefix(self, text: str) -> bool:
        """Whether `text` begins some needle (so more text could complete it)."""
        at = bisect.bisect_left(self.needles, text)
        return at < len(self.needles) and self.needles[at].startswith(text)

    def split(self, text: str) -> tuple[str, str]:
        """(scrubbed text that can go out now, the raw end to hold back): the end is held from the first
        place where it begins a needle, so a value written in pieces is found once the next piece comes."""
        spans = self.spans(text)
        hold = len(text)
        for start in range(len(text) - min(len(text), self.longest - 1, HOLD_MAX), len(text)):
            if text[start] in self._first and self.is_prefix(text[start:]):
                hold = start
                break
        for start, end in spans:  # never cut a needle in two: hold all of one that reaches past `hold`
            if start < hold < end:
                hold = start
        return self._replace(text[:hold], [s for s in spans if s[1] <= hold]), text[hold:]

    def scrub_tree(self, data: Any) -> Any:
        """A copy of a JSON-like structure (a message's content, a notebook) with every string scrubbed."""
        if self.empty:
            return data
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, Mapping):
            return {key: self.scrub_tree(item) for key, item in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub_tree(item) for item in data]
        if isinstance(data, bytes):
            return self.scrub(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        return data
