"""`get_credential(kind, resource=...)`: pick, among the mounted credentials of a kind, the one whose
scope matches the resource most specifically (Arvados' scoped credentials).

Scopes are patterns (`s3://team-data/*`, `s3://team-data/raw/*`); the match with the longest literal
prefix wins; a credential without scopes matches anything, least specifically of all.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealbox.errors import AmbiguousCredential, CredentialNotFound
from sealbox.sdk.providers import FolderProvider

_WILDCARDS = "*?["


def specificity(pattern: str) -> int:
    """Length of the literal part before the first wildcard (a pattern without wildcards: all of it, +1)."""
    cut = min((i for i, c in enumerate(pattern) if c in _WILDCARDS), default=None)
    return len(pattern) + 1 if cut is None else cut


@dataclass(frozen=True, slots=True)
class _Candidate:
    secret: str
    folder: Path
    score: int


def _candidates(kind: str, resource: str, folders: tuple[Path, ...]) -> list[_Candidate]:
    found: list[_Candidate] = []
    for folder in folders:
        try:
            manifest: Any = json.loads((folder / "..data" / "@sealbox.json").read_text())
        except (OSError, ValueError):
            continue
        for entry in manifest.get("files", []) if isinstance(manifest, dict) else []:
            if entry.get("kind") != kind or entry.get("field") is not None:
                continue
            scopes = [s for s in entry.get("scopes") or [] if isinstance(s, str)]
            if scopes:
                matching = [specificity(s) for s in scopes if fnmatch.fnmatchcase(resource, s)]
                if not matching:
                    continue
                score = max(matching)
            else:
                score = -1
            found.append(
                _Candidate(secret=str(entry.get("secret")), folder=folder / str(entry["file"]), score=score)
            )
        if found:
            break  # the first folder that mounts credentials of this kind decides
    return found


def get_credential(kind: str, *, resource: str, folders: tuple[Path, ...] | None = None) -> dict[str, str]:
    """The fields of the mounted `kind` credential whose scope matches `resource` most specifically.

    Raises CredentialNotFound when none matches, AmbiguousCredential when two match equally well.
    """
    provider = FolderProvider(folders=folders)
    places = provider.search_folders()
    candidates = _candidates(kind, resource, places)
    if not candidates:
        raise CredentialNotFound(f"{kind} credential for {resource}", [str(p) for p in places])
    candidates.sort(key=lambda c: c.score, reverse=True)
    if len(candidates) > 1 and candidates[0].score == candidates[1].score:
        raise AmbiguousCredential(
            f"{candidates[0].secret} and {candidates[1].secret} match {resource} equally well; "
            "narrow their scopes"
        )
    chosen = candidates[0].folder
    return {p.name: p.read_text() for p in sorted(chosen.iterdir()) if p.is_file()}
