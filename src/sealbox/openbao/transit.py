"""Key files wrapped by OpenBao/Vault Transit: the key is in OpenBao's keeping, the file holds a ciphertext.

A wrapped file is `WRAPPED_MARK` and then `name: value` lines: the OpenBao address, the Transit mount and
key, the file holding the token (0600, this user's; never an environment value or an argv), an optional CA
file, the purpose, and the ciphertext. The Transit key is a derived one (`derived=true`): every file is
encrypted under the key derived for its purpose (the context `sealbox:<purpose>`, the purpose being the
file's name: master.key, keeper.key, wrap.key), so one file's ciphertext opens under no other purpose.
The server's files and the keeper's are wrapped under separate Transit keys with separate tokens
(docs/security.md): one token able to unwrap both would undo the split.

Opening a wrapped file asks OpenBao each time the process reads it (at start, and after a rotation
rewrote it). Sealed, unreachable or refusing, it is one `OpenBaoError` naming the file and the reason,
and the process does not start; nothing falls back to a key on disk.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import msgspec

from sealbox.crypto.keyring import WRAPPED_MARK, use_key_file_wrapping
from sealbox.errors import ConfigError, OpenBaoError
from sealbox.openbao.client import connect_with_token_file

_FIELDS = ("addr", "mount", "key", "token_file", "ca_cert", "purpose", "ciphertext")


class WrappedFile(msgspec.Struct, frozen=True, kw_only=True):
    """What a wrapped key file says (no secret: the ciphertext opens only through OpenBao)."""

    addr: str
    mount: str
    key: str
    token_file: str
    purpose: str
    ciphertext: str
    ca_cert: str = ""

    def render(self) -> str:
        lines = [WRAPPED_MARK + " (docs/openbao.md); the key is not in this file"]
        lines += [f"{name}: {getattr(self, name)}" for name in _FIELDS if getattr(self, name)]
        return "\n".join(lines) + "\n"


def parse_wrapped(text: str, *, source: str) -> WrappedFile:
    values: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        name, sep, value = line.partition(": ")
        if not line.strip():
            continue
        if not sep or name not in _FIELDS:
            raise ConfigError(f"{source}: a wrapped key file's line is not one sealbox writes")
        values[name] = value.strip()
    try:
        return msgspec.convert(values, WrappedFile)
    except msgspec.ValidationError:
        raise ConfigError(f"{source}: a wrapped key file lacks a line sealbox needs") from None


def _context(purpose: str) -> str:
    return base64.b64encode(f"sealbox:{purpose}".encode()).decode()


def _client(w: WrappedFile) -> Any:
    return connect_with_token_file(w.addr, Path(w.token_file), ca_cert=Path(w.ca_cert) if w.ca_cert else None)


def _failed(source: str, exc: OpenBaoError) -> OpenBaoError:
    return OpenBaoError(f"key file {source} cannot be opened: {exc}", status=exc.status)


def wrap_text(
    text: str, *, addr: str, mount: str, key: str, token_file: Path, purpose: str, ca_cert: Path | None = None
) -> str:
    """`text` (a key file's) encrypted under Transit key `key` for `purpose`, as a wrapped file's text."""
    bare = WrappedFile(
        addr=addr.rstrip("/"),
        mount=mount.strip("/"),
        key=key,
        token_file=str(token_file),
        purpose=purpose,
        ciphertext="-",
        ca_cert=str(ca_cert or ""),
    )
    return _encrypt(bare, text, source=purpose)


def _encrypt(w: WrappedFile, text: str, *, source: str) -> str:
    bao = _client(w)
    plaintext = base64.b64encode(text.encode()).decode()
    try:
        answer: Any = bao.call(
            f"encrypt with {w.mount}/keys/{w.key}",
            lambda: bao.hvac.secrets.transit.encrypt_data(
                name=w.key, plaintext=plaintext, context=_context(w.purpose), mount_point=w.mount
            ),
        )
    except OpenBaoError as exc:
        raise _failed(source, exc) from None
    ciphertext = str(((answer or {}).get("data") or {}).get("ciphertext") or "")
    if not ciphertext.startswith("vault:"):
        raise OpenBaoError(f"OpenBao at {w.addr} gave no ciphertext for {source}")
    return msgspec.structs.replace(w, ciphertext=ciphertext).render()


def unwrap_text(text: str, *, source: str) -> str:
    """A wrapped file's key text, decrypted by OpenBao; `OpenBaoError` when it cannot be."""
    w = parse_wrapped(text, source=source)
    bao = _client(w)
    try:
        answer: Any = bao.call(
            f"decrypt with {w.mount}/keys/{w.key}",
            lambda: bao.hvac.secrets.transit.decrypt_data(
                name=w.key, ciphertext=w.ciphertext, context=_context(w.purpose), mount_point=w.mount
            ),
        )
    except OpenBaoError as exc:
        raise _failed(source, exc) from None
    try:
        return base64.b64decode(answer["data"]["plaintext"], validate=True).decode()
    except (KeyError, TypeError, ValueError):
        raise OpenBaoError(f"key file {source}: OpenBao at {w.addr} gave no plaintext") from None


class TransitWrapping:
    """`crypto.keyring.KeyFileWrapping` through OpenBao Transit."""

    def unwrap(self, text: str, *, source: str) -> str:
        return unwrap_text(text, source=source)

    def rewrap(self, old_text: str, new_text: str, *, source: str) -> str:
        return _encrypt(parse_wrapped(old_text, source=source), new_text, source=source)


def install() -> None:
    """Let this process open wrapped key files (hvac is loaded only when one is met)."""
    use_key_file_wrapping(TransitWrapping())
