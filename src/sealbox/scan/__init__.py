"""`sealbox scan`: find credentials in notebooks, scripts, .env files and git history, and move them.

Pure parts, no network and no sealbox server: `sources` reads files (notebook cells and saved outputs,
`.ipynb_checkpoints`, scripts, .env files, the values of the session the scan runs in), `history` reads
every blob of a git repository's history, `detect` finds credentials (detect-secrets in-process with its
plugins and filters, a few patterns of sealbox's own, and an exact match against the session's values),
and `rewrite` replaces a value in Python code by `get_secret("NAME")` and clears outputs that hold it.
The CLI (`sealbox.cli.scan`) stores the values through the API.

A `Finding` holds its value (`repr=False`) for the move; what is shown is `preview`, never the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Where in a file a piece of text comes from.
CODE = "code"  # a notebook's code cell, or a Python script
OUTPUT = "output"  # a saved output of a notebook's code cell
MARKDOWN = "markdown"  # a markdown or raw cell
TEXT = "text"  # any other file: a shell script, a .env file


@dataclass(frozen=True, kw_only=True, slots=True)
class Unit:
    """One piece of text that is scanned: a file, a notebook cell, or one saved output of a cell."""

    path: str  # as shown to the user
    where: str  # CODE, OUTPUT, MARKDOWN or TEXT
    text: str = field(repr=False)
    cell: int | None = None  # 1-based, in notebook order
    commit: str | None = None  # for git history: the blob's id until `history` names a commit
    python: bool = False  # Python source (a code cell of a Python notebook, a .py file)


@dataclass(frozen=True, kw_only=True, slots=True)
class Ref:
    """How code refers to a secret: `get_secret("name")` or `get_secret("name", field="f")`."""

    name: str
    field: str | None = None

    def call(self, quote: str = '"') -> str:
        args = f"{quote}{self.name}{quote}"
        if self.field is not None:
            args += f", field={quote}{self.field}{quote}"
        return f"get_secret({args})"

    def label(self) -> str:
        return self.name if self.field is None else f"{self.name}.{self.field}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """A credential in a unit: where it is, what kind it seems to be, and a masked preview."""

    path: str
    where: str
    line: int  # 1-based, within the cell, the output or the file
    kind: str
    value: str = field(repr=False)
    cell: int | None = None
    commit: str | None = None
    known: Ref | None = None  # the session already holds this value under this name

    @property
    def preview(self) -> str:
        return mask(self.value)

    def public(self) -> dict[str, object]:
        """What `--json` prints: everything but the value."""
        return {
            "path": self.path,
            "where": self.where,
            "cell": self.cell,
            "line": self.line,
            "kind": self.kind,
            "preview": self.preview,
            "commit": self.commit,
            "session_secret": self.known.label() if self.known else None,
        }


def mask(value: str) -> str:
    """A preview that names no value: its first few characters (at most a quarter of it, at most 4) and
    its length. `AKIA…(20 chars)`; a 10-character password shows 2."""
    shown = min(4, len(value) // 4)
    head = value[:shown].replace("\n", " ")
    return f"{head}…({len(value)} chars)"
