"""What `sealbox scan` reads: files under the given paths, each as units of text, and the session's values.

A notebook is a unit per cell and one per saved output (stream text, text-like data, tracebacks);
`.ipynb_checkpoints` folders are walked like any other. Python scripts are code; shell and other scripts
and .env files are text. Folders that hold installed software or version control data are skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealbox.scan import CODE, MARKDOWN, OUTPUT, TEXT, Ref, Unit

MAX_FILE_BYTES = 20 * 1024 * 1024  # larger files are skipped with a note
MIN_KNOWN_LENGTH = 8  # shorter session values would match by chance
PYTHON_SUFFIXES = frozenset({".py", ".ipy", ".pyw"})
SCRIPT_SUFFIXES = frozenset({".sh", ".bash", ".zsh", ".r", ".jl", ".sql", ".ps1", ".js", ".ts", ".scala"})
SKIPPED_FOLDERS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", "site-packages", ".tox",
     ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)  # fmt: skip
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BINARY_MIME = ("image/", "audio/", "video/", "application/pdf", "application/octet-stream")


@dataclass
class Read:
    """The units read, and a note for each file that could not be read (never its content)."""

    units: list[Unit] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def is_notebook(name: str) -> bool:
    return name.endswith(".ipynb")


def is_env_file(name: str) -> bool:
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def is_scanned(name: str) -> bool:
    """Whether a file met while walking a folder is read: notebooks, scripts and .env files."""
    suffix = os.path.splitext(name)[1].lower()
    return is_notebook(name) or is_env_file(name) or suffix in PYTHON_SUFFIXES or suffix in SCRIPT_SUFFIXES


def walk(paths: Sequence[Path]) -> Iterator[Path]:
    """The files to read under `paths`, in a stable order: a file given by name is read whatever its
    name; symbolic links inside folders are not followed."""
    for path in paths:
        if path.is_file():
            yield path
            continue
        for root, folders, files in os.walk(path):
            folders[:] = sorted(f for f in folders if f not in SKIPPED_FOLDERS)
            for name in sorted(files):
                full = Path(root, name)
                if is_scanned(name) and not full.is_symlink():
                    yield full


def read_paths(paths: Sequence[Path]) -> Read:
    read = Read()
    for path in walk(paths):
        label = str(path)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                read.skipped.append(f"{label}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
                continue
            data = path.read_bytes()
        except OSError as exc:
            read.skipped.append(f"{label}: {exc.strerror or type(exc).__name__}")
            continue
        problem = units_of(label, data, read.units)
        if problem:
            read.skipped.append(f"{label}: {problem}")
    return read


def units_of(label: str, data: bytes, into: list[Unit], *, commit: str | None = None) -> str | None:
    """Append the units of one file's content to `into`; a problem (not UTF-8, not a notebook) or None."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    name = os.path.basename(label)
    if is_notebook(name):
        try:
            notebook = json.loads(text)
        except ValueError:
            return "not a notebook (not JSON)"
        if not isinstance(notebook, dict):
            return "not a notebook"
        into.extend(notebook_units(label, notebook, commit=commit))
        return None
    python = os.path.splitext(name)[1].lower() in PYTHON_SUFFIXES
    into.append(Unit(path=label, where=CODE if python else TEXT, text=text, commit=commit, python=python))
    return None


def joined(source: Any) -> str:
    """A notebook's multi-line string: a list of lines or one string."""
    if isinstance(source, list):
        return "".join(str(s) for s in source)
    return source if isinstance(source, str) else ""


def is_python_notebook(notebook: dict[str, Any]) -> bool:
    metadata = notebook.get("metadata") or {}
    language = (metadata.get("kernelspec") or {}).get("language") or (
        metadata.get("language_info") or {}
    ).get("name")
    return language in (None, "python", "python3")


def output_text(output: dict[str, Any]) -> str:
    """The text a saved output shows: stream text, text-like data, or an error and its traceback."""
    kind = output.get("output_type")
    if kind == "stream":
        return joined(output.get("text"))
    if kind == "error":
        lines = [str(output.get("ename", "")), str(output.get("evalue", ""))]
        lines += [str(t) for t in output.get("traceback") or []]
        return _ANSI.sub("", "\n".join(lines))
    parts: list[str] = []
    for mime, content in sorted((output.get("data") or {}).items()):
        if mime.startswith(_BINARY_MIME):
            continue
        parts.append(joined(content) if isinstance(content, str | list) else json.dumps(content, indent=1))
    return "\n".join(parts)


def notebook_units(label: str, notebook: dict[str, Any], *, commit: str | None = None) -> list[Unit]:
    python = is_python_notebook(notebook)
    units: list[Unit] = []
    for number, cell in enumerate(notebook.get("cells") or [], start=1):
        if not isinstance(cell, dict):
            continue
        code = cell.get("cell_type") == "code"
        source = joined(cell.get("source"))
        units.append(
            Unit(
                path=label,
                where=CODE if code else MARKDOWN,
                text=source,
                cell=number,
                commit=commit,
                python=code and python,
            )
        )
        for output in cell.get("outputs") or [] if code else []:
            if isinstance(output, dict):
                units.append(
                    Unit(path=label, where=OUTPUT, text=output_text(output), cell=number, commit=commit)
                )
    return units


def session_values(folder: Path) -> dict[str, Ref]:
    """The values of the session whose folder this is ($SEALBOX_SECRETS_DIR), each with the name that
    `get_secret` finds it by: through the manifest `sealbox run` writes, else by file and folder names."""
    refs: list[tuple[Path, Ref]] = []
    try:
        manifest = json.loads((folder / "..data" / "@sealbox.json").read_text())
    except (OSError, ValueError):
        manifest = None
    if isinstance(manifest, dict) and isinstance(manifest.get("files"), list):
        for entry in manifest["files"]:
            if isinstance(entry, dict) and isinstance(entry.get("file"), str):
                secret, field_name = str(entry.get("secret")), entry.get("field")
                refs.append((folder / entry["file"], Ref(name=secret, field=field_name)))
    else:
        for child in sorted(folder.iterdir()) if folder.is_dir() else []:
            if not child.name.startswith(("..", "@")):
                refs.append((child, Ref(name=child.name)))
    values: dict[str, Ref] = {}
    for path, ref in refs:
        if path.is_dir():
            for part in sorted(path.iterdir()):
                _add_value(values, part, Ref(name=ref.name, field=part.name))
        else:
            _add_value(values, path, ref)
    return values


def _add_value(values: dict[str, Ref], path: Path, ref: Ref) -> None:
    try:
        value = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return
    for form in (value, value.rstrip("\n")):
        if len(form) >= MIN_KNOWN_LENGTH:
            values.setdefault(form, ref)
