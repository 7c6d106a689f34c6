"""A session's formatted secrets together: their files by folder, the variables for the child, warnings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import msgspec

from sealbox.errors import BadRequest
from sealbox.launcher.formats import Place, Source, render


class Item(Protocol):
    """What a delivered secret offers here (launcher.redeem.Delivered)."""

    @property
    def name(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def file(self) -> str | None: ...
    @property
    def value(self) -> bytes: ...


class Formatted(msgspec.Struct, kw_only=True):
    files: dict[str, dict[str, bytes]] = msgspec.field(default_factory=dict)  # by the secret's file
    formats: dict[str, str] = msgspec.field(default_factory=dict)  # the secret's file -> its format
    env: dict[str, str] = msgspec.field(default_factory=dict)  # paths and commands only
    warnings: list[str] = msgspec.field(default_factory=list)

    def __repr__(self) -> str:  # the files' contents stay out of logs and tracebacks
        return f"Formatted(formats={self.formats!r}, env={self.env!r})"


def _git_count(base: Mapping[str, str]) -> int:
    raw = base.get("GIT_CONFIG_COUNT", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() else 0


def render_session(
    items: Iterable[Item], formats: Mapping[str, str], *, root: str, python: str, base: Mapping[str, str]
) -> Formatted:
    """Render each item whose file has a format (`formats`: file -> format) for the folder `root`; the
    variables are added after `base` (the child's environment so far), which only the warnings read.

    Raises BadRequest when a secret cannot fill its format, or two formats set one variable.
    """
    out = Formatted()
    git: list[tuple[str, str]] = []
    owners: dict[str, str] = {}
    for item in items:
        fmt = formats.get(item.file or "")
        if item.file is None or fmt is None:
            continue
        ref = f"{item.owner}/{item.name}"
        rendered = render(
            fmt,
            Source(ref=ref, kind=item.kind, value=item.value),
            Place(folder=f"{root}/{item.file}", python=python),
        )
        out.files[item.file] = dict(rendered.files)
        out.formats[item.file] = fmt
        for var, value in rendered.env.items():
            if var in owners:
                raise BadRequest(
                    f'secrets "{owners[var]}" and "{ref}" would both set {var}: a session takes one of them'
                    f" as {fmt}",
                    code="duplicate_env",
                    field="format",
                )
            owners[var] = ref
            out.env[var] = value
            if var in base:
                out.warnings.append(f'{var} was set in this session; it now names the {fmt} files of "{ref}"')
        git += rendered.git_config
        for var in rendered.outranked_by:
            if base.get(var) and var not in rendered.env:
                out.warnings.append(
                    f'{var} is set in this session and takes precedence over the {fmt} files of "{ref}":'
                    " unset it to use them"
                )
    if git:
        first = _git_count(base)
        out.env["GIT_CONFIG_COUNT"] = str(first + len(git))
        for number, (key, value) in enumerate(git, start=first):
            out.env[f"GIT_CONFIG_KEY_{number}"] = key
            out.env[f"GIT_CONFIG_VALUE_{number}"] = value
    return out
