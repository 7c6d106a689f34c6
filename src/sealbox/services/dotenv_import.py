"""Importing a `.env` file: each KEY=VALUE line a secret of its own, planned before anything is written.

The file is read as `python-dotenv` reads it (quotes, escapes, `export`, comments), with interpolation
off: dotenv would expand `${HOME}` even inside single quotes, and a stored value must be what the file
says. Bytes are decoded as UTF-8, with or without a byte-order mark. A key that is a valid secret name
keeps it (`DB_PASSWORD` stays `DB_PASSWORD`); another is mapped and the plan says so. The plan names
keys, names and line numbers only: values stay in `Entry.value` (never in a repr) until they are stored.
Both `sealbox secret import` (through the API) and the web page's form use this module.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dotenv.parser import parse_stream

from sealbox.domain.kinds import Kind
from sealbox.domain.names import MAX_NAME_LENGTH, is_valid_secret_name

if TYPE_CHECKING:
    from sealbox.domain.principals import Principal
    from sealbox.services.ports import Store

MAX_FILE_BYTES = 1024 * 1024  # far beyond any .env file; the web form and the CLI refuse larger ones
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")
# Kinds whose one value a line of a .env file can replace; the others take fields or a key file.
REPLACEABLE = frozenset({Kind.GENERIC, Kind.TOKEN})


@dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """One KEY=VALUE line: the key as written, the secret name it becomes, its line."""

    key: str
    name: str
    line: int
    value: str = field(repr=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """A line that imports nothing, or a note on one (a duplicate key, a mapped name)."""

    line: int
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Parsed:
    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """What the import does with one entry: create, replace or skip (with why)."""

    action: str  # create, replace, skip
    entry: Entry
    reason: str = ""


def secret_name_for(key: str) -> str | None:
    """`key` if it is a valid secret name; else each character a name cannot hold becomes '_' (None when
    nothing usable is left)."""
    if is_valid_secret_name(key):
        return key
    mapped = _NOT_IN_NAME.sub("_", key)[:MAX_NAME_LENGTH]
    return mapped if is_valid_secret_name(mapped) and mapped.strip("_") else None


def _decode(data: bytes) -> tuple[str, Problem | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", Problem(line=line, message="not UTF-8 text: nothing was read")


def _line_of(original: str, start: int) -> int:
    """The line a binding's text begins on: dotenv counts from the blank lines it read before it."""
    leading = original[: len(original) - len(original.lstrip())]
    return start + leading.count("\n")


def parse_env(data: bytes) -> Parsed:
    """The entries of a .env file's bytes, and its problems by line. A key given twice keeps its last
    value (as dotenv and a shell do), and the earlier lines are reported."""
    if len(data) > MAX_FILE_BYTES:
        return Parsed(entries=(), problems=(Problem(line=1, message="larger than 1 MiB: nothing was read"),))
    text, bad = _decode(data)
    if bad is not None:
        return Parsed(entries=(), problems=(bad,))
    problems: list[Problem] = []
    by_key: dict[str, Entry] = {}
    for binding in parse_stream(io.StringIO(text)):
        line = _line_of(binding.original.string, binding.original.line)
        if binding.error:
            problems.append(Problem(line=line, message="not KEY=VALUE: skipped"))
            continue
        key = binding.key
        if key is None:  # a comment or a blank line
            continue
        if binding.value is None or binding.value == "":
            problems.append(Problem(line=line, message=f"{key} has no value: skipped"))
            continue
        name = secret_name_for(key)
        if name is None:
            problems.append(Problem(line=line, message=f"{key} cannot be a secret name: skipped"))
            continue
        earlier = by_key.pop(key, None)
        if earlier is not None:
            problems.append(
                Problem(line=earlier.line, message=f"{key} is given again on line {line}, which is used")
            )
        by_key[key] = Entry(key=key, name=name, line=line, value=binding.value)
    entries = sorted(by_key.values(), key=lambda e: e.line)
    return Parsed(entries=tuple(entries), problems=tuple(sorted(problems, key=lambda p: p.line)))


def plan(entries: tuple[Entry, ...], existing: Mapping[str, Kind]) -> list[Step]:
    """Each entry's step, given the importer's own secrets by name and kind. Two keys that map to one
    name: the first one is imported, the other skipped."""
    steps: list[Step] = []
    taken: dict[str, Entry] = {}
    for entry in entries:
        first = taken.get(entry.name)
        if first is not None:
            reason = f"{entry.key} and {first.key} (line {first.line}) both become {entry.name}"
            steps.append(Step(action="skip", entry=entry, reason=reason))
            continue
        taken[entry.name] = entry
        kind = existing.get(entry.name)
        if kind is None:
            steps.append(Step(action="create", entry=entry))
        elif kind in REPLACEABLE:
            steps.append(Step(action="replace", entry=entry))
        else:
            reason = f"{entry.name} exists as a {kind.value} secret, which one line cannot replace"
            steps.append(Step(action="skip", entry=entry, reason=reason))
    return steps


def mapped_note(entry: Entry) -> str:
    """'' for a key kept as the secret's name, else what it became."""
    return "" if entry.name == entry.key else f"from {entry.key}"


def own_kinds(db: Store, requested_by: Principal, names: list[str]) -> dict[str, Kind]:
    """The kinds of those of `names` the requester already owns (live ones: a deleted secret's name,
    still taken in its recovery window, makes its create fail with the API's own message)."""
    with db.reading() as uow:
        found = uow.secrets.get_many(owner_id=requested_by.user.id, names=names)
    return {name: secret.kind for name, secret in found.items()}
