"""What a session's folder holds: each secret as its file (or a folder of its fields), or, where `--as`
chose a format, the files its client reads; and the manifest beside them."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sealbox.launcher.formats.plan import Formatted
    from sealbox.launcher.redeem import Delivered


def folder_contents(
    items: Sequence[Delivered], formatted: Formatted | None = None
) -> tuple[dict[str, bytes | dict[str, bytes]], dict[str, Any]]:
    """The files and the manifest (names, kinds, versions, formats; no value). `formatted`: the files the
    formats a run chose wrote, by the secret's file (format_session)."""
    files: dict[str, bytes | dict[str, bytes]] = {}
    manifest: dict[str, Any] = {"files": [], "version": 1}
    rendered = formatted.files if formatted is not None else {}
    formats = formatted.formats if formatted is not None else {}
    for item in items:
        if item.file is None:
            continue
        if item.file in rendered:
            files[item.file] = rendered[item.file]
        elif item.field is None and (fields := item.fields) is not None:
            files[item.file] = {k: v.encode() for k, v in fields.items()}
        else:
            files[item.file] = item.selected()
        manifest["files"].append(
            {
                "secret": item.name,
                "owner": item.owner,
                "field": item.field,
                "file": item.file,
                "kind": item.kind,
                "version": item.version,
                "scopes": list(item.scopes),
                **({"format": formats[item.file]} if item.file in formats else {}),
            }
        )
    return files, manifest


def format_session(
    items: Sequence[Delivered], formats: Mapping[str, str], *, folder: Path, base: Mapping[str, str]
) -> Formatted:
    """The files and variables of the secrets a run asked `--as` a format (see formats/plan.py)."""
    from sealbox.launcher.formats.plan import render_session

    return render_session(items, formats, root=str(folder), python=sys.executable, base=base)
