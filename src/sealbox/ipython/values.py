"""The values this session holds: the files in $SEALBOX_SECRETS_DIR and the variables sealbox set.

The folder is read through its `..data` link (the launcher's atomic layout); when the link points
elsewhere (a `--refresh` swapped in new values) it is read again. Values are only ever added: a value
replaced by a refresh, or one whose folder is gone because the session ended, is still redacted.
Besides each file's whole content, a file in a client's own format (a credentials file, a JSON key, a
`.netrc`) gives its `key = value` right-hand sides, JSON strings and other words of SECTION_MIN characters
or more, save plain lower-case words, host names and URLs.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sealbox.ipython.redact import MIN_LENGTH, Redactor

DATA_LINK = "..data"  # as sealbox.launcher.spool writes the folder
MANIFEST = "@sealbox.json"  # names and kinds only, never a value
SECTION_MIN = 12
MAX_FILE = 1 << 20  # a secret is small; anything larger is not read
RECHECK_SECONDS = 0.25
_ASSIGNMENT = re.compile(r"^\s*[\w.\-\[\] ]+?\s*[=:]\s*(.+?)\s*$")
_WORDS = re.compile(r"\s+|(?<!\\):")
_ESCAPED = re.compile(r"\\([\\:])")
_PLAIN = re.compile(r"[a-z_]+|[a-z0-9-]+(\.[a-z0-9-]+)+")  # a key's name or a host's, not a value


def _sections(text: str) -> Iterator[str]:
    """The parts of a formatted file that may hold a value: JSON strings, `key = value` right-hand sides,
    and the words of other lines (`.netrc`, `.pgpass`); not plain words (`aws_secret_access_key`) or URLs."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if parsed is not None:
        found = list(_json_strings(parsed))
    else:
        found = []
        for line in text.splitlines():
            match = _ASSIGNMENT.match(line)
            found += [match.group(1).strip("'\"")] if match else []
            # words split at blanks and unescaped colons, unescaped (.netrc, .pgpass's `\:` and `\\`)
            found += [_ESCAPED.sub(r"\1", w) for w in _WORDS.split(line)]
    for section in found:
        if not _PLAIN.fullmatch(section) and not section.startswith(("http://", "https://")):
            yield section


def _json_strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for item in data.values():
            yield from _json_strings(item)
    elif isinstance(data, list):
        for item in data:
            yield from _json_strings(item)


def file_values(content: bytes) -> set[bytes]:
    """The values one file holds: its content (with and without surrounding whitespace), and its sections."""
    found = {content, content.strip()}
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return found
    found.update(s.encode() for s in _sections(text) if len(s) >= SECTION_MIN)
    return found


def folder_values(folder: Path) -> set[bytes]:
    """Every regular file under the folder's current data (not the manifest), read without following links
    out of it; a folder without the launcher's layout (a volume mounted by hand) is read as it is."""
    found: set[bytes] = set()
    root = folder / DATA_LINK if (folder / DATA_LINK).is_symlink() else folder
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if name == MANIFEST:
                continue
            path = Path(dirpath) / name
            try:
                if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE:
                    continue
                found |= file_values(path.read_bytes())
            except OSError:
                continue
    return found


def environment_values(environ: Mapping[str, str]) -> set[bytes]:
    """The variables sealbox delivered: those SEALBOX_ENV_MAP names (it holds names; environ the values)."""
    try:
        mapped = json.loads(environ.get("SEALBOX_ENV_MAP", "{}"))
    except ValueError:
        return set()
    if not isinstance(mapped, dict):
        return set()
    found = set()
    for variable in mapped.values():
        value = environ.get(str(variable))
        if value is not None:
            found |= file_values(value.encode("utf-8", "surrogateescape"))
    return found


class SessionValues:
    """A Redactor for the values this session holds now, rebuilt when the folder changes."""

    def __init__(self, environ: Mapping[str, str] | None = None, extra: set[bytes] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.folder = Path(env["SEALBOX_SECRETS_DIR"]) if env.get("SEALBOX_SECRETS_DIR") else None
        self._values: set[bytes] = environment_values(env) | (extra or set())
        self._seen_link: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._redactor = Redactor(())
        self._reload(force=True)

    def _link(self) -> str | None:
        """What changes when the folder's values do: the `..data` link's target (or the folder's mtime)."""
        if self.folder is None:
            return None
        try:
            return os.readlink(self.folder / DATA_LINK)
        except OSError:
            pass
        try:
            return f"mtime:{os.stat(self.folder).st_mtime_ns}"
        except OSError:
            return None

    def _reload(self, *, force: bool = False) -> None:
        link = self._link()
        if not force and link == self._seen_link:
            return
        if link is not None and self.folder is not None:
            self._values |= folder_values(self.folder)
        self._seen_link = link
        self._redactor = Redactor(v for v in self._values if len(v) >= MIN_LENGTH)

    def redactor(self) -> Redactor:
        """The current Redactor; the folder's link is looked at no more than every RECHECK_SECONDS."""
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            with self._lock:
                self._checked = now
                self._reload()
        return self._redactor
