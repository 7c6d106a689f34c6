"""An SSH private key as ssh reads it, and the `GIT_SSH_COMMAND` that uses only that key."""

from __future__ import annotations

import shlex

from sealbox.domain.kinds import Kind
from sealbox.launcher.formats import Place, Rendered, Source


def key_file(value: bytes) -> bytes:
    """LF line ends and one trailing newline: OpenSSH refuses a key with CRLF or without the final LF
    ("invalid format" / "error in libcrypto")."""
    text = value.replace(b"\r\n", b"\n").replace(b"\r", b"\n").strip()
    return text + b"\n"


def ssh_variables(place: Place) -> dict[str, str]:
    return {"GIT_SSH_COMMAND": shlex.join(["ssh", "-i", f"{place.folder}/id", "-o", "IdentitiesOnly=yes"])}


def ssh(source: Source, place: Place) -> Rendered:
    """`id` (0400, as every file of the folder) and `ssh -i id -o IdentitiesOnly=yes` for git."""
    if source.kind != Kind.SSH_KEY.value:
        raise source.refuse_kind("ssh", "ssh-key")
    return Rendered(files={"id": key_file(source.value)}, env=ssh_variables(place))
