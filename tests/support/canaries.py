"""Canary values and scans that find them in any common encoding (TEST-PLAN T1, T7, T8)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import urllib.parse
from collections.abc import Iterable
from pathlib import Path


def make_canary(label: str = "") -> str:
    """A random marked value of 32+ characters that occurs nowhere by chance."""
    return f"cnry-{label}{secrets.token_hex(16)}"


def _b64_variants(raw: bytes) -> list[bytes]:
    """Base64 of `raw` at all three alignments, standard and url-safe, without the unstable edges."""
    forms: list[bytes] = []
    for shift in range(3):
        chunk = b"\x00" * shift + raw
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(chunk)
            # Drop the characters that depend on neighbouring bytes.
            start = (shift * 4 + 2) // 3 + 1 if shift else 0
            forms.append(text[start : len(text) - 4])
    return [f for f in forms if len(f) >= 16]


def encodings(value: str) -> list[bytes]:
    raw = value.encode()
    forms = [
        raw,
        binascii.hexlify(raw),
        binascii.hexlify(raw).upper(),
        value.encode("utf-16-le"),
        json.dumps(value).encode()[1:-1],
        urllib.parse.quote(value, safe="").encode(),
    ]
    forms.extend(_b64_variants(raw))
    return list(dict.fromkeys(forms))


def find_in_bytes(data: bytes, values: Iterable[str]) -> list[str]:
    """The values (by their first characters) found in `data` in any encoding."""
    hits = []
    for value in values:
        if any(form in data for form in encodings(value)):
            hits.append(value[:12] + "…")
    return hits


def find_raw_bytes(data: bytes, needles: Iterable[bytes]) -> int:
    """How many of the raw byte strings (keys) occur in `data`, raw, hex or base64."""
    count = 0
    for needle in needles:
        forms = [needle, binascii.hexlify(needle), base64.b64encode(needle), base64.urlsafe_b64encode(needle)]
        forms.extend(_b64_variants(needle))
        if any(f in data for f in forms):
            count += 1
    return count


def scan_tree(root: Path, values: Iterable[str]) -> dict[str, list[str]]:
    """Every file under `root` (sockets and fifos skipped) in which any value shows up."""
    values = list(values)
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        hits = find_in_bytes(path.read_bytes(), values)
        if hits:
            found[str(path)] = hits
    return found


# The armour is built from parts so that no private-key block stands in the repository for scanners to
# flag: the body is a canary, not a key.
_ARMOUR = "OPENSSH PRIVATE " + "KEY"
SSH_KEY_HEADER = f"-----BEGIN {_ARMOUR}-----"  # the first line of an ssh-key value


def ssh_key_shaped(*body_lines: str) -> str:
    """Text that passes the ssh-key kind's check (PEM/OpenSSH armour) around canary lines."""
    return "\n".join([SSH_KEY_HEADER, *body_lines, f"-----END {_ARMOUR}-----"]) + "\n"
