"""Python source as `sealbox scan` sees it: string literals with their values, and a value in a literal
replaced by `get_secret("NAME")` (the whole literal) or an f-string (a part of it).

Notebook cells may hold IPython line magics (`%pip`, `!ls`): they are read as comments, so that the cell
tokenizes and parses; a cell that starts with a cell magic (`%%bash`) is not Python and is left alone.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass

from sealbox.scan import Ref

IMPORT_LINE = "from sealbox import get_secret\n"
_PREFIX = re.compile(r"[A-Za-z]*")


@dataclass(frozen=True, slots=True)
class Literal:
    start: int  # offsets in the source text
    end: int
    line: int
    value: str | None  # None for bytes, f-strings and what does not evaluate

    def __repr__(self) -> str:
        return f"Literal(line={self.line}, start={self.start}, end={self.end})"


@dataclass(frozen=True, slots=True)
class Rewritten:
    text: str | None  # None: left as it was, for `reason`
    reason: str = ""


def as_python(text: str) -> str | None:
    """`text` with IPython line magics turned into comments (offsets unchanged); None for a cell magic."""
    if text.lstrip().startswith("%%"):
        return None
    lines = text.split("\n")
    for number, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            indent = len(line) - len(stripped)
            lines[number] = line[:indent] + "#" + line[indent + 1 :]
    return "\n".join(lines)


def parses(text: str) -> bool:
    python = as_python(text)
    if python is None:
        return False
    try:
        ast.parse(python)
    except (SyntaxError, ValueError):
        return False
    return True


def literals(text: str) -> list[Literal]:
    """The string literals of `text` in order (none when it does not tokenize)."""
    python = as_python(text)
    if python is None:
        return []
    starts = [0] + [m.end() for m in re.finditer("\n", python)]
    found: list[Literal] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(python).readline):
            if token.type != tokenize.STRING:
                continue
            matched = _PREFIX.match(token.string)
            prefix = matched.group().lower() if matched else ""
            value: str | None = None
            if "b" not in prefix and "f" not in prefix:
                try:
                    evaluated = ast.literal_eval(token.string)
                except (SyntaxError, ValueError):
                    evaluated = None
                value = evaluated if isinstance(evaluated, str) else None
            start = starts[token.start[0] - 1] + token.start[1]
            end = starts[token.end[0] - 1] + token.end[1]
            found.append(Literal(start=start, end=end, line=token.start[0], value=value))
    except (tokenize.TokenError, SyntaxError):
        return []
    return found


def imports_get_secret(text: str) -> bool:
    python = as_python(text)
    try:
        tree = ast.parse(python or "")
    except (SyntaxError, ValueError):
        return False
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "sealbox"
        and any(a.name == "get_secret" and a.asname is None for a in node.names)
        for node in ast.walk(tree)
    )


def _escaped(part: str) -> str:
    """`part` as the inside of a double-quoted f-string."""
    out: list[str] = []
    for ch in part:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch in "{}":
            out.append(ch * 2)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def f_string(value: str, refs: Mapping[str, Ref]) -> str:
    """`value` as an f-string in which each value of `refs` it holds is a get_secret call."""
    pattern = re.compile("|".join(re.escape(v) for v in sorted(refs, key=len, reverse=True)))
    parts: list[str] = []
    position = 0
    for match in pattern.finditer(value):
        parts.append(_escaped(value[position : match.start()]))
        parts.append("{" + refs[match.group()].call(quote="'") + "}")
        position = match.end()
    parts.append(_escaped(value[position:]))
    return 'f"' + "".join(parts) + '"'


def _with_import(text: str) -> str:
    """`text` with the import added after a leading shebang, encoding line, docstring and __future__."""
    python = as_python(text) or ""
    line = 0
    try:
        body = ast.parse(python).body
    except (SyntaxError, ValueError):
        body = []
    for number, node in enumerate(body):
        docstring = number == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (docstring or future):
            break
        line = node.end_lineno or line
    lines = text.splitlines(keepends=True)
    if line == 0:
        while (
            line < len(lines)
            and lines[line].startswith("#")
            and line < 2
            and (lines[line].startswith("#!") or "coding" in lines[line])
        ):
            line += 1
    if line and line <= len(lines) and not lines[line - 1].endswith("\n"):
        lines[line - 1] += "\n"
    return "".join([*lines[:line], IMPORT_LINE, *lines[line:]])


def still_holds(text: str, values: Mapping[str, Ref]) -> bool:
    """Whether any of `values` is still in `text`, as written or inside a literal."""
    if any(v in text for v in values):
        return True
    return any(lit.value is not None and v in lit.value for lit in literals(text) for v in values)


def rewrite(text: str, refs: Mapping[str, Ref], *, add_import: bool) -> Rewritten:
    """Each literal holding a value of `refs` replaced; the result must parse and hold none of them."""
    present = {v: r for v, r in refs.items() if still_holds(text, {v: r})}
    if not present:
        return Rewritten(text=text)
    edits: list[tuple[int, int, str]] = []
    for lit in literals(text):
        if lit.value is None:
            continue
        inside = {v: r for v, r in present.items() if v in lit.value}
        if not inside:
            continue
        whole = present.get(lit.value)
        edits.append((lit.start, lit.end, whole.call() if whole else f_string(lit.value, inside)))
    new = text
    for start, end, replacement in reversed(edits):
        new = new[:start] + replacement + new[end:]
    if add_import and edits and not imports_get_secret(new):
        new = _with_import(new)
    if not parses(new):
        return Rewritten(text=None, reason="the rewritten code would not parse")
    if still_holds(new, present):
        return Rewritten(
            text=None, reason="the value is also outside a plain string (a comment, bytes or an f-string)"
        )
    return Rewritten(text=new)
