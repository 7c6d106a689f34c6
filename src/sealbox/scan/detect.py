"""Finding credentials in units: detect-secrets in-process (its plugins and its filters), a few patterns
of sealbox's own, and an exact match against the values of the session the scan runs in.

detect-secrets verifies nothing over the network here (its verification filter is off), and its log,
which can quote a candidate value at INFO level, is silenced while a scan runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from sealbox.scan import CODE, MARKDOWN, OUTPUT, Finding, Ref, Unit
from sealbox.scan.python import literals
from sealbox.scan.sources import is_env_file

MISSING = "sealbox scan needs detect-secrets: pip install 'sealbox[scan]'"
SESSION_VALUE = "Session Secret"
INCOMPLETE_KEY = "Private Key (incomplete)"
# Patterns detect-secrets 1.5 has no plugin for.
OWN_PATTERNS = (
    ("Hugging Face Token", re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9])")),
    ("sealbox Token", re.compile(r"sbx_[a-z2-7]{16}_[A-Za-z0-9_-]{43}")),
)
# Kinds that say only "this looks random" or "this is assigned to a word like password".
GENERIC = frozenset({"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword"})
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----.*?-----END \1-----\n?", re.S)
NOT_CREDENTIALS = ("IPPublicDetector",)  # an address is no credential, and notebooks print many
_VERIFICATION = "detect_secrets.filters.common.is_ignored_due_to_verification_policies"


class DetectorMissing(Exception):
    """detect-secrets is not installed (it comes with the `scan` extra)."""


def _fake_name(unit: Unit) -> str:
    """The file name detect-secrets is told: it picks the keyword patterns by the suffix."""
    if unit.where == CODE and unit.python:
        return "cell.py"
    if unit.where in (OUTPUT, MARKDOWN):
        return "output.txt"
    if is_env_file(os.path.basename(unit.path)):
        return "settings.properties"  # KEY=value, unquoted: the patterns of config files
    return unit.path


@contextlib.contextmanager
def detector() -> Iterator[None]:
    """detect-secrets' settings (all plugins, default filters, no verification) for the `with` body."""
    try:
        from detect_secrets.core import scan as _scan  # the line pass _detect_secrets calls
        from detect_secrets.core.log import log
        from detect_secrets.settings import default_settings
    except ImportError:
        raise DetectorMissing(MISSING) from None
    if not hasattr(_scan, "_process_line_based_plugins"):
        raise DetectorMissing(MISSING + " (version 1.5)")
    level, log.level = log.level, logging.CRITICAL + 1
    try:
        with default_settings() as settings:
            settings.disable_filters(_VERIFICATION)
            settings.disable_plugins(*NOT_CREDENTIALS)
            yield
    finally:
        log.level = level


def _whole_match(kind: str, line: str, value: str) -> str:
    """The whole token for a plugin whose pattern captures only its prefix (GitHub's `(ghp|gho|...)_...`
    yields `ghp`): a captured group shorter than 8 characters is no secret, the match around it is."""
    if len(value) >= 8:
        return value
    from detect_secrets.settings import get_plugins

    for plugin in get_plugins():
        if getattr(plugin, "secret_type", None) == kind:
            for pattern in getattr(plugin, "denylist", ()):
                for match in pattern.finditer(line):
                    if value in match.groups():
                        return str(match.group(0))
    return value


def _detect_secrets(unit: Unit) -> Iterator[tuple[int, str, str]]:
    # scan_file's line pass over lines we read ourselves (cells and outputs are no files of their own).
    from detect_secrets.core.scan import _process_line_based_plugins

    lines = unit.text.split("\n")
    for secret in _process_line_based_plugins(list(enumerate(lines, start=1)), filename=_fake_name(unit)):
        value: Any = secret.secret_value
        if isinstance(value, str) and value:
            yield (
                secret.line_number,
                secret.type,
                _whole_match(secret.type, lines[secret.line_number - 1], value),
            )


def _own_patterns(unit: Unit) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(unit.text.split("\n"), start=1):
        if "pragma: allowlist secret" in line:  # detect-secrets' own marker, honoured here too
            continue
        for kind, pattern in OWN_PATTERNS:
            for match in pattern.finditer(line):
                yield number, kind, match.group()


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _pem_blocks(unit: Unit) -> dict[int, str]:
    """Line of a BEGIN marker -> the whole key block, from the text or (in code) a string literal."""
    blocks = {_line_of(unit.text, m.start()): m.group() for m in _PEM.finditer(unit.text)}
    if unit.python:
        for lit in literals(unit.text):
            for m in _PEM.finditer(lit.value or ""):
                line = _line_of(unit.text, unit.text.find("BEGIN", lit.start))
                blocks[line] = m.group()
    return blocks


def _known(unit: Unit, known: Mapping[str, Ref]) -> Iterator[tuple[int, str, str]]:
    for value in known:
        start = unit.text.find(value)
        while start >= 0:
            yield _line_of(unit.text, start), SESSION_VALUE, value
            start = unit.text.find(value, start + 1)
    if unit.python:
        for lit in literals(unit.text):
            for value in known:
                if lit.value is not None and value in lit.value and value not in unit.text:
                    yield lit.line, SESSION_VALUE, value


def _as_evaluated(unit: Unit, found: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """In code, a value detect-secrets read as written inside a literal with escapes (`"a\\nb"`) becomes
    the literal's value, which is what the code holds and what a move stores."""
    lits = [lit for lit in literals(unit.text) if lit.value is not None]
    out: list[tuple[int, str, str]] = []
    for line, kind, value in found:
        if not any(value in (lit.value or "") for lit in lits):
            for lit in lits:
                written = unit.text[lit.start : lit.end]
                if written.lstrip("rRuU").strip("'\"") == value:
                    value = lit.value or value
                    break
        out.append((line, kind, value))
    return out


def _specific(kind: str) -> bool:
    return kind not in GENERIC


def _dominated(a: tuple[int, str, str], found: list[tuple[int, str, str]]) -> bool:
    """Whether `a` is a part of another finding (or a generic one holding a specific one)."""
    for b in found:
        if b[2] == a[2]:
            continue
        if a[2] in b[2] and (_specific(b[1]) or not _specific(a[1])):
            return True
        if b[2] in a[2] and _specific(b[1]) and not _specific(a[1]):
            return True
    return False


def scan_unit(unit: Unit, known: Mapping[str, Ref]) -> list[Finding]:
    """The findings in one unit, one per (line, value), the most specific kind kept. Call it inside
    `with detector():`."""
    found = [*_detect_secrets(unit), *_own_patterns(unit)]
    blocks = _pem_blocks(unit) if any(kind == "Private Key" for _, kind, _ in found) else {}
    found = [
        (line, kind, blocks[line]) if kind == "Private Key" and line in blocks else
        (line, INCOMPLETE_KEY if kind == "Private Key" else kind, value)
        for line, kind, value in found
    ]  # fmt: skip
    if unit.python:
        found = _as_evaluated(unit, found)
    found += _known(unit, known)
    found = [f for f in found if not _dominated(f, found)]
    best: dict[tuple[int, str], str] = {}
    for line, kind, value in found:
        current = best.get((line, value))
        if current is None or (
            current in (SESSION_VALUE, *GENERIC) and kind not in (SESSION_VALUE, *GENERIC)
        ):
            best[(line, value)] = kind
    return [
        Finding(
            path=unit.path,
            where=unit.where,
            line=line,
            kind=kind,
            value=value,
            cell=unit.cell,
            commit=unit.commit,
            known=known.get(value),
        )
        for (line, value), kind in sorted(best.items(), key=lambda item: item[0][0])
    ]
