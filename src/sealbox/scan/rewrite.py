"""`sealbox scan --move`'s edits, computed without writing: a notebook or a Python script with each moved
value replaced by a `get_secret` call, and the notebook outputs that hold one removed.

A file is rewritten whole or not at all: if any cell would not parse, or a value would remain anywhere
in the file (a comment, a markdown cell, metadata), it is left as it was and the reasons are returned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sealbox.scan import Ref
from sealbox.scan.python import imports_get_secret, rewrite, still_holds
from sealbox.scan.sources import is_python_notebook, joined, output_text


@dataclass
class Edited:
    """The new content of a file (None: leave it as it was), and what changed or why not."""

    text: str | None = None
    problems: list[str] = field(default_factory=list)
    cells: int = 0  # cells (or, for a script, the file) rewritten
    outputs_cleared: int = 0


def _strings(item: Any) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, list):
        return [s for i in item for s in _strings(i)]
    if isinstance(item, dict):
        return [s for i in item.values() for s in _strings(i)]
    return []


def _holds(output: Any, values: Mapping[str, Ref]) -> bool:
    texts = [*_strings(output), output_text(output) if isinstance(output, dict) else ""]
    return any(v in t for t in texts for v in values)


def _in_file(text: str, values: Mapping[str, Ref]) -> bool:
    """Whether a value is in a file's text as written or JSON-escaped."""
    return any(v in text or json.dumps(v, ensure_ascii=False)[1:-1] in text for v in values)


def _as_source(new: str, old: Any) -> Any:
    return new.splitlines(keepends=True) if isinstance(old, list) else new


def edit_notebook(text: str, refs: Mapping[str, Ref]) -> Edited:
    """The notebook with each value of `refs` moved out of its code cells and its outputs."""
    edited = Edited()
    notebook = json.loads(text)
    python = is_python_notebook(notebook)
    imported = False
    for number, cell in enumerate(notebook.get("cells") or [], start=1):
        source = joined(cell.get("source"))
        present = {v: r for v, r in refs.items() if still_holds(source, {v: r})}
        if cell.get("cell_type") != "code":
            if present:
                edited.problems.append(
                    f"cell {number}: a {cell.get('cell_type')} cell holds it: edit by hand"
                )
            continue
        if present and not python:
            edited.problems.append(f"cell {number}: not a Python notebook")
        elif present:
            result = rewrite(source, present, add_import=not imported)
            if result.text is None:
                edited.problems.append(f"cell {number}: {result.reason}")
            else:
                cell["source"] = _as_source(result.text, cell.get("source"))
                source = result.text
                edited.cells += 1
        imported = imported or imports_get_secret(source)
        outputs = cell.get("outputs") or []
        kept = [o for o in outputs if not _holds(o, refs)]
        if len(kept) != len(outputs):
            cell["outputs"] = kept
            edited.outputs_cleared += len(outputs) - len(kept)
    if edited.problems:
        return edited
    new = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if _in_file(new, refs):
        edited.problems.append("a value is still in the notebook (metadata or attachments): edit by hand")
        return edited
    edited.text = new
    return edited


def edit_script(text: str, refs: Mapping[str, Ref]) -> Edited:
    """A Python script with each value of `refs` moved out."""
    result = rewrite(text, refs, add_import=True)
    if result.text is None:
        return Edited(problems=[result.reason])
    return Edited(text=result.text, cells=int(result.text != text))
