"""`sealbox scan --git`: every blob of a repository's history (all refs), read through `git` itself.

git runs with argument lists (no shell); blobs are read in one `git cat-file --batch`. A blob that
holds a finding is named by the oldest commit that added it (`git log --find-object`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sealbox.scan.sources import MAX_FILE_BYTES, Read, is_scanned, units_of

_GIT = ("git", "-c", "core.quotePath=false")


class GitError(Exception):
    """git is missing, or `path` is not in a repository; the message says which."""


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(  # git from PATH, an argument list, no shell  # nosec B603 B607
            [*_GIT, "-C", str(root), *args], input=stdin, capture_output=True, check=False, timeout=600
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if done.returncode != 0:
        raise GitError(f"git {args[0]} failed in {root}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def repository_root(path: Path) -> Path:
    folder = path if path.is_dir() else path.parent
    return Path(_git(folder, "rev-parse", "--show-toplevel").decode().strip())


def read_history(root: Path) -> Read:
    """The units of every notebook, script and .env blob reachable from any ref; Unit.commit holds the
    blob id until `name_commits` replaces it."""
    listed = _git(root, "rev-list", "--all", "--objects").decode("utf-8", errors="replace")
    wanted: dict[str, str] = {}
    for line in listed.splitlines():
        sha, _, path = line.partition(" ")
        if path and is_scanned(os.path.basename(path)):
            wanted.setdefault(sha, path)
    read = Read()
    if not wanted:
        return read
    batch = _git(root, "cat-file", "--batch", stdin="".join(f"{sha}\n" for sha in wanted).encode())
    position = 0
    for sha, path in wanted.items():
        end = batch.index(b"\n", position)
        header = batch[position:end].decode().split()
        position = end + 1
        if len(header) != 3:  # "<sha> missing"
            continue
        size = int(header[2])
        data = batch[position : position + size]
        position += size + 1
        label = os.path.relpath(root / path)
        if header[1] != "blob":
            continue
        if size > MAX_FILE_BYTES:
            read.skipped.append(f"{label} (history, blob {sha[:12]}): too large")
            continue
        problem = units_of(label, data, read.units, commit=sha)
        if problem:
            read.skipped.append(f"{label} (history, blob {sha[:12]}): {problem}")
    return read


def name_commits(root: Path, blobs: set[str]) -> dict[str, str]:
    """blob id -> the short id of the oldest commit that added it (blobs of other repositories left out)."""
    named: dict[str, str] = {}
    for blob in sorted(blobs):
        lines = _git(root, "log", "--all", "--format=%h", f"--find-object={blob}").decode().split()
        if lines:
            named[blob] = lines[-1]
    return named
