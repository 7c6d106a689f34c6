"""Typed secrets in the form their clients read (`sealbox run --as FORMAT`), and the variables that point
each client there.

Pure functions, one module per family: a secret's parts in, file contents and variables out. Nothing here
writes a file or reads the environment: the launcher puts the files in the session's folder (0400, in
memory, swapped atomically on refresh) and the variables in the child's environment. A format the secret
cannot fill is refused naming the missing field, never the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from sealbox.domain.formats import FORMATS
from sealbox.domain.kinds import SPECS, Kind, decode_fields, token_fields
from sealbox.errors import BadRequest

__all__ = ["FORMATS", "Place", "Rendered", "Source", "check_text", "parse_format", "pod_variables", "render"]


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """One delivered secret, as a renderer reads it. `value` is the plaintext; never printed."""

    ref: str  # OWNER/NAME, for messages
    kind: str
    value: bytes

    def __repr__(self) -> str:  # the value stays out of logs and tracebacks
        return f"Source(ref={self.ref!r}, kind={self.kind!r})"

    def parts(self) -> dict[str, str]:
        """The fields of a multi-field kind, a token's parts (`token`, and `host`, `username`), else {}."""
        kind = Kind(self.kind)
        if kind is Kind.TOKEN:
            return token_fields(self.value)
        if SPECS[kind].multi_field:
            return decode_fields(self.value)
        return {}

    def need(self, fmt: str, parts: Mapping[str, str], *names: str) -> list[str]:
        """The named parts, in order; refuses naming the first one the secret does not have."""
        for name in names:
            if not parts.get(name):
                raise BadRequest(
                    f'secret "{self.ref}" cannot be written as {fmt}: it has no field {name}',
                    code="missing_field",
                    field=name,
                )
        return [parts[name] for name in names]

    def refuse_kind(self, fmt: str, *kinds: str) -> BadRequest:
        return BadRequest(
            f'secret "{self.ref}" is of kind {self.kind}; --as {fmt} takes a secret of kind'
            f" {' or '.join(kinds)}",
            code="invalid_format",
            field="format",
        )


class Place(msgspec.Struct, frozen=True, kw_only=True):
    """Where a secret's files go: `folder` is the visible path the variables name (through the session
    folder's `..data` link, so a refresh swap is seen at once); `python` runs helper programs."""

    folder: str
    python: str


class Rendered(msgspec.Struct, frozen=True, kw_only=True):
    """Files (names inside the secret's folder), variables (paths and commands, never a value), entries
    for git's GIT_CONFIG_* (numbered by the launcher), and the variables that, when the session has them,
    take precedence over these files."""

    files: Mapping[str, bytes]
    env: Mapping[str, str] = msgspec.field(default_factory=dict)
    git_config: tuple[tuple[str, str], ...] = ()
    outranked_by: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the files' contents stay out of logs and tracebacks
        return f"Rendered(files={sorted(self.files)!r}, env={dict(self.env)!r})"


def parse_format(text: str) -> str:
    if text not in FORMATS:
        raise BadRequest(f"unknown format; use one of: {', '.join(FORMATS)}", code="invalid_format")
    return text


def _renderers() -> Mapping[str, Callable[[Source, Place], Rendered]]:
    from sealbox.launcher.formats import cloud, logins, ssh

    return {
        "aws": cloud.aws,
        "aws-process": cloud.aws_process,
        "gcp": cloud.gcp,
        "pgpass": logins.pgpass,
        "netrc": logins.netrc,
        "ssh": ssh.ssh,
        "git": logins.git,
        "docker": logins.docker,
    }


def pod_variables(fmt: str, folder: str) -> dict[str, str]:
    """The variables of `fmt` for a secret whose files are at `folder`, known before its value is: what a
    pod's spec sets while its init container writes the files. Refuses aws-process (its program is sealbox's
    Python, which an app image need not have) and git (its helper is keyed by the token's host, a part of
    the value)."""
    from sealbox.launcher.formats import cloud, logins, ssh

    variables: Mapping[str, Callable[[Place], dict[str, str]]] = {
        "aws": cloud.aws_variables,
        "gcp": cloud.gcp_variables,
        "pgpass": logins.pgpass_variables,
        "netrc": logins.netrc_variables,
        "ssh": ssh.ssh_variables,
        "docker": logins.docker_variables,
    }
    if parse_format(fmt) not in variables:
        raise BadRequest(
            f"a pod cannot take --as {fmt}; use one of: {', '.join(variables)}", code="invalid_format"
        )
    return variables[fmt](Place(folder=folder, python=""))


def render(fmt: str, source: Source, place: Place) -> Rendered:
    """`source` written as `fmt` for a folder at `place`; BadRequest when the secret cannot fill it."""
    return _renderers()[parse_format(fmt)](source, place)


def check_text(source: Source, fmt: str, name: str, value: str, *, spaces: bool = False) -> str:
    """A part that goes into a line-based file: no line break or other control character (and, unless
    `spaces`, no space at either end), so no value can start a line of its own."""
    bad = any(ord(c) < 32 or ord(c) == 127 for c in value) or (not spaces and value != value.strip())
    if bad or not value:
        raise BadRequest(
            f'secret "{source.ref}": field {name} cannot be written as {fmt} (a line break, a control'
            " character or spaces around it)",
            code="invalid_field",
            field=name,
        )
    return value
