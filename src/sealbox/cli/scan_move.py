"""`sealbox scan --move`: each value found becomes a secret (asked for a name, or with --yes one derived
from its kind and file), and the notebooks and Python scripts holding it are rewritten to `get_secret`.

A value is moved only when every notebook and script holding it can be rewritten (a file is rewritten
whole or not at all); a value the session already holds keeps its name and is not stored again; a
value found twice is stored once. Secrets are stored first, files written after (atomically), so a
refusal from the server leaves every file as it was.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import typer

from sealbox.cli.output import print_json, print_table
from sealbox.domain.names import NAME_RULE, is_valid_secret_name
from sealbox.scan import CODE, OUTPUT, Finding, Ref, Unit
from sealbox.scan.detect import INCOMPLETE_KEY
from sealbox.scan.python import still_holds
from sealbox.scan.rewrite import Edited, edit_notebook, edit_script
from sealbox.scan.sources import PYTHON_SUFFIXES, is_env_file, is_notebook, units_of

HISTORY_NOTICE = (
    "git history still holds every value that was ever committed: rewriting the files does not remove "
    "it. Rotate those credentials where they were issued, then purge them from history with git "
    "filter-repo: `git filter-repo --replace-text FILE`, FILE holding one `VALUE==>REMOVED` line per "
    "value (keep FILE outside the repository and delete it after), and force-push; clones made before "
    "still hold them."
)
_PLACEHOLDER = Ref(name="placeholder")


def _editable(path: str) -> bool:
    name = os.path.basename(path)
    return is_notebook(name) or os.path.splitext(name)[1].lower() in PYTHON_SUFFIXES


@dataclass
class _Files:
    """The notebooks and scripts to rewrite: their text and their units, read again from disk."""

    texts: dict[str, str] = field(default_factory=dict)
    units: dict[str, list[Unit]] = field(default_factory=dict)

    @classmethod
    def read(cls, paths: Iterable[str]) -> _Files:
        files = cls()
        for path in sorted(set(paths)):
            data = Path(path).read_bytes()
            units: list[Unit] = []
            if units_of(path, data, units) is None:
                files.texts[path] = data.decode("utf-8-sig")
                files.units[path] = units
        return files

    def holding(self, values: Iterable[str]) -> dict[str, set[str]]:
        """path -> the values in it (in code as written or inside a literal, elsewhere as written)."""
        found: dict[str, set[str]] = {}
        for path, units in self.units.items():
            here = {
                v
                for v in values
                for u in units
                if (still_holds(u.text, {v: _PLACEHOLDER}) if u.where == CODE and u.python else v in u.text)
            }
            if here:
                found[path] = here
        return found

    def edit(self, values: set[str], refs: dict[str, Ref]) -> dict[str, Edited]:
        edits: dict[str, Edited] = {}
        for path, here in self.holding(values).items():
            mine = {v: refs.get(v, _PLACEHOLDER) for v in here}
            edit = edit_notebook if is_notebook(os.path.basename(path)) else edit_script
            edits[path] = edit(self.texts[path], mine)
        return edits

    def movable(self, values: set[str]) -> tuple[set[str], dict[str, Edited]]:
        """The values every file holding them can be rewritten for (names do not change whether code
        parses, so a placeholder name decides it), and the edits of the files that cannot be."""
        failures: dict[str, Edited] = {}
        while True:
            holding = self.holding(values)
            failed = {p: e for p, e in self.edit(values, {}).items() if e.text is None}
            if not failed:
                return values, failures
            failures |= failed
            values = values - {v for p in failed for v in holding[p]}


def derive_name(kind: str, path: str, taken: set[str]) -> str:
    """`aws_access_key_train` for an AWS Access Key in train.ipynb; `_2`, `_3` when taken."""
    base = re.sub(r"[^a-z0-9]+", "_", kind.lower()).strip("_") or "secret"
    stem = Path(path).name.removesuffix(".ipynb").removesuffix("-checkpoint")
    stem = os.path.splitext(stem)[0] if stem.endswith(tuple(PYTHON_SUFFIXES)) else stem
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-") or "file"
    name = f"{base}_{stem}"[:120]
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    return candidate


def _ask(finding: Finding, suggested: str, taken: set[str]) -> str | None:
    where = f" cell {finding.cell}" if finding.cell is not None else ""
    while True:
        answer = str(
            typer.prompt(
                f"name for the {finding.kind} in {finding.path}{where} line {finding.line} "
                f"({finding.preview}); - to leave it",
                default=suggested,
                err=True,
            )
        ).strip()
        if answer == "-":
            return None
        if not is_valid_secret_name(answer):
            typer.echo(f"a secret name is {NAME_RULE}", err=True)
        elif answer in taken:
            typer.echo(f"you have a secret named {answer} already: choose another", err=True)
        else:
            return answer


def _reason(finding: Finding, edits: dict[str, Edited], left: set[str]) -> str:
    name = os.path.basename(finding.path)
    if finding.commit:
        return "in git history (see below)"
    if finding.kind == INCOMPLETE_KEY:
        return "a private key without its END line: move it by hand"
    if finding.value in left:
        return "left as you answered"
    if is_env_file(name):
        return f"a .env file: `sealbox secret import {finding.path} --apply`, then delete the line"
    if not _editable(finding.path):
        return "not a notebook or Python script: edit by hand"
    problems = edits.get(finding.path, Edited()).problems
    return "; ".join(problems) or "another file holding it cannot be rewritten"


def _write(path: Path, text: str, *, backup: bool) -> Path | None:
    kept = None
    if backup:
        kept = path.with_name(path.name + ".bak")
        number = 1
        while kept.exists():
            number += 1
            kept = path.with_name(f"{path.name}.{number}.bak")
        shutil.copy2(path, kept)
    temporary = path.with_name(f".{path.name}.sealbox-{secrets.token_hex(4)}")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, path.stat().st_mode & 0o7777)
    os.replace(temporary, path)
    return kept


def _names(values: set[str], findings: list[Finding], *, yes: bool) -> tuple[dict[str, Ref], set[str]]:
    """A Ref for each value: the session's own, or a new name (asked, or derived with --yes); and the
    values the person chose to leave."""
    first: dict[str, Finding] = {}
    for f in findings:
        first.setdefault(f.value, f)
    refs = {v: first[v].known for v in values if first[v].known is not None}
    new = [v for v in first if v in values and v not in refs]
    taken: set[str] = set()
    if new:
        from sealbox.cli.secrets import client

        with client() as c:
            taken = {s.name for s in c.list_secrets() if s.access == "owner"}
    left: set[str] = set()
    for value in new:
        finding = first[value]
        suggested = derive_name(finding.kind, finding.path, taken)
        name = suggested if yes else _ask(finding, suggested, taken)
        if name is None:
            left.add(value)
        else:
            taken.add(name)
            refs[value] = Ref(name=name)
    return {v: r for v, r in refs.items() if r is not None}, left


def _store(refs: dict[str, Ref], values: set[str], findings: list[Finding]) -> list[str]:
    """Create a secret for each value the session does not hold already; the names stored."""
    known = {f.value for f in findings if f.known is not None}
    to_store = [(v, r) for v, r in refs.items() if v in values and v not in known]
    if not to_store:
        return []
    from sealbox.cli.secrets import client

    stored: list[str] = []
    source = {f.value: f.path for f in reversed(findings)}
    with client() as c:
        for value, ref in to_store:
            try:
                c.create_secret(
                    ref.name, value=value, description=f"moved by sealbox scan from {source[value]}"
                )
            except Exception:
                typer.echo(
                    f"stopped storing at {ref.name}; stored before it: {', '.join(stored) or 'none'}; "
                    "no file was changed",
                    err=True,
                )
                raise
            stored.append(ref.name)
    return stored


def move_findings(findings: list[Finding], *, yes: bool, backup: bool, as_json: bool) -> list[Finding]:
    """Move what can be moved; the findings that remain (printed with their reasons)."""
    candidates = {
        f.value for f in findings if not f.commit and f.kind != INCOMPLETE_KEY and _editable(f.path)
    }
    files = _Files.read(f.path for f in findings if not f.commit and _editable(f.path))
    values, failures = files.movable(candidates)
    refs, left = _names(values, findings, yes=yes)
    values, more = files.movable(values - left)
    failures |= more
    edits = {p: e for p, e in files.edit(values, refs).items() if e.text is not None}
    stored = _store(refs, values, findings)
    backups: dict[str, str] = {}
    for path, edited in edits.items():
        if edited.text is not None and (edited.cells or edited.outputs_cleared):
            kept = _write(Path(path), edited.text, backup=backup)
            if kept:
                backups[path] = str(kept)
    moved = [f for f in findings if f.value in values and not f.commit and f.path in edits]
    remaining = [f for f in findings if f not in moved]
    _report(moved, remaining, refs, stored, edits, backups, failures, left, as_json=as_json)
    return remaining


def _now(finding: Finding, ref: Ref) -> str:
    return f"output removed (secret {ref.label()})" if finding.where == OUTPUT else ref.call()


def _report(
    moved: list[Finding],
    remaining: list[Finding],
    refs: dict[str, Ref],
    stored: list[str],
    edits: dict[str, Edited],
    backups: dict[str, str],
    failed_edits: dict[str, Edited],
    left: set[str],
    *,
    as_json: bool,
) -> None:
    reasons = [_reason(f, failed_edits, left) for f in remaining]
    if as_json:
        print_json(
            {
                "moved": [f.public() | {"secret": refs[f.value].label()} for f in moved],
                "not_moved": [f.public() | {"reason": r} for f, r in zip(remaining, reasons, strict=True)],
                "stored": stored,
                "files": [
                    {
                        "path": p,
                        "cells": e.cells,
                        "outputs_cleared": e.outputs_cleared,
                        "backup": backups.get(p),
                    }
                    for p, e in edits.items()
                    if e.text is not None
                ],
                "notice": HISTORY_NOTICE,
            }
        )
        return
    if moved:
        print_table(
            ["FILE", "CELL", "LINE", "KIND", "NOW"],
            [[f.path, f.cell, f.line, f.kind, _now(f, refs[f.value])] for f in moved],
        )
    for path, edited in edits.items():
        if edited.text is not None and (edited.cells or edited.outputs_cleared):
            typer.echo(
                f"rewrote {path}: {edited.cells} cell(s), {edited.outputs_cleared} output(s) cleared"
                + (
                    f"; the old file is {backups[path]} (it still holds the values)"
                    if path in backups
                    else ""
                )
            )
    typer.echo(
        f"stored {len(stored)} new secret(s): {', '.join(stored)}" if stored else "stored no new secret"
    )
    if remaining:
        typer.echo("not moved:")
        print_table(
            ["FILE", "CELL", "LINE", "KIND", "PREVIEW", "WHY"],
            [[f.path, f.cell, f.line, f.kind, f.preview, r] for f, r in zip(remaining, reasons, strict=True)],
        )
    typer.echo(HISTORY_NOTICE)
