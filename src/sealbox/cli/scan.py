"""`sealbox scan PATH... [--git] [--json] [--move [--yes] [--backup]]`: credentials in notebooks, scripts
and .env files (and with --git, in every blob of the repository's history), shown masked.

Exit status for CI: 0 nothing found (or everything moved), 1 findings, 2 a usage error or no detector.
The reading, detection and rewriting are `sealbox.scan` (pure); --move is `cli.scan_move`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli.output import fail, print_json, print_table
from sealbox.scan import OUTPUT, Finding, Ref, Unit
from sealbox.scan.detect import DetectorMissing, detector, scan_unit
from sealbox.scan.history import GitError, name_commits, read_history, repository_root
from sealbox.scan.sources import Read, read_paths, session_values

USAGE = 2


def _where(f: Finding) -> str:
    parts = []
    if f.commit:
        parts.append(f"commit {f.commit}")
    if f.cell is not None:
        parts.append(f"cell {f.cell}" + (" output" if f.where == OUTPUT else ""))
    return ", ".join(parts)


def print_findings(findings: list[Finding]) -> None:
    if not findings:
        typer.echo("no credentials found")
        return
    rows = [
        [f.path, _where(f), f.line, f.kind + (f" (session: {f.known.label()})" if f.known else ""), f.preview]
        for f in findings
    ]
    print_table(["FILE", "WHERE", "LINE", "KIND", "PREVIEW"], rows)
    files = len({f.path for f in findings})
    typer.echo(f"{len(findings)} finding(s) in {files} file(s); values are never shown, only masked previews")


def _known() -> dict[str, Ref]:
    folder = os.environ.get("SEALBOX_SECRETS_DIR")
    return session_values(Path(folder)) if folder else {}


def _history(paths: list[Path], read: Read) -> list[Path]:
    roots: list[Path] = []
    for path in paths:
        try:
            root = repository_root(path)
        except GitError as exc:
            fail(f"--git: {exc}", code=USAGE)
        if root not in roots:
            roots.append(root)
            history = read_history(root)
            read.units.extend(history.units)
            read.skipped.extend(history.skipped)
    return roots


def find(paths: list[Path], *, git: bool) -> tuple[list[Finding], list[str]]:
    """Every finding under `paths` (and in their repositories' history with `git`), and skipped files."""
    read = read_paths(paths)
    roots = _history(paths, read) if git else []
    known = _known()
    units: list[Unit] = read.units
    try:
        with detector():
            findings = [f for unit in units for f in scan_unit(unit, known)]
    except DetectorMissing as exc:
        fail(str(exc), code=USAGE)
    blobs = {f.commit for f in findings if f.commit}
    if blobs:
        named: dict[str, str] = {}
        for root in roots:
            named |= name_commits(root, blobs - named.keys())
        findings = [
            dataclasses.replace(f, commit=named.get(f.commit, f.commit[:12])) if f.commit else f
            for f in findings
        ]
    return findings, read.skipped


def scan(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH...", help="files or folders (folders are walked)")
    ],
    git: Annotated[bool, typer.Option("--git", help="also every blob of the repositories' history")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    move: Annotated[
        bool, typer.Option("--move", help="store each value as a secret and rewrite the code to get_secret")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="with --move: ask nothing, derive names from kind and file")
    ] = False,
    backup: Annotated[
        bool,
        typer.Option("--backup", help="with --move: keep each old file as FILE.bak (it holds the value)"),
    ] = False,
) -> None:
    """Find credentials in notebooks (cells, outputs, checkpoints), scripts and .env files.

    Exit status: 0 nothing found, 1 findings, 2 usage error. Values are never printed, only a masked
    preview. With --move, each value becomes a secret and the code calls get_secret("NAME").
    """
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}", code=USAGE)
    if (yes or backup) and not move:
        fail("--yes and --backup go with --move", code=USAGE)
    findings, skipped = find(paths, git=git)
    for note in skipped:
        typer.echo(f"skipped {note}", err=True)
    if move:
        from sealbox.cli.scan_move import move_findings

        remaining = move_findings(findings, yes=yes, backup=backup, as_json=as_json)
        raise typer.Exit(1 if remaining else 0)
    if as_json:
        print_json({"findings": [f.public() for f in findings], "skipped": skipped})
    else:
        print_findings(findings)
    raise typer.Exit(1 if findings else 0)
