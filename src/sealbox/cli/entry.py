"""The `sealbox` console entry: `sealbox run` on a light path, every other command through Typer.

A job starts with `sealbox run`, so its start-up is paid on every job: Typer, click and rich cost about
370 ms of it (measured with `python -X importtime`; issue 13). This entry reads `run`'s options itself
(the same options as the Typer command in cli/run.py, which stays the one place that declares them and
their help) and imports only what a session needs. Anything this parser does not take as an ordinary
invocation (`--help`, an unknown or incomplete option, no command) goes to Typer, so help and usage
errors read exactly as they always did.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import msgspec

# `sealbox run`'s options (cli/run.py declares the same): each --some-name fills the field some_name.
_REPEATED = frozenset({"--secret", "--env", "--as"})
_SINGLE = frozenset({"--mount-path", "--secrets-from", "--project", "--keeper-url"})
_FLAGS = frozenset({"--refresh", "--allow-expired"})


def _field(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")


class RunArgs(msgspec.Struct, kw_only=True):
    """What `sealbox run` was asked for (no value: options name secrets, never hold them)."""

    command: list[str]
    secret: list[str] = msgspec.field(default_factory=list)
    env: list[str] = msgspec.field(default_factory=list)
    mount_path: str | None = None
    refresh: bool = False
    secrets_from: Path | None = None
    project: str | None = None
    keeper_url: str | None = None
    allow_expired: bool = False
    # Each --as FORMAT, with the index of the --secret it follows.
    formats: list[tuple[int, str]] = msgspec.field(default_factory=list)


def parse_run_args(args: Sequence[str]) -> RunArgs | None:
    """`run`'s options and command, or None when Typer should read them (help, errors, anything unusual).

    As click with `allow_interspersed_args=False`: options come first; `--` or the first other word
    starts the command.
    """
    found: dict[str, list[str]] = {}
    formats: list[tuple[int, str]] = []
    flags: set[str] = set()
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            index += 1
            break
        if not word.startswith("-") or word == "-":
            break
        name, equals, inline = word.partition("=")
        if name in _FLAGS and not equals:
            flags.add(_field(name))
            index += 1
            continue
        if name not in _REPEATED and name not in _SINGLE:
            return None  # --help, -h, an unknown option: Typer says what it says today
        target = _field(name)
        if equals:
            value, index = inline, index + 1
        elif index + 1 < len(args) and not args[index + 1].startswith("-"):
            value, index = args[index + 1], index + 2
        else:
            return None  # a missing value (or one that looks like an option): Typer's message
        if target == "as":
            formats.append((len(found.get("secret", [])) - 1, value))
            continue
        found.setdefault(target, []).append(value)
    command = list(args[index:])
    singles = {_field(option) for option in _SINGLE}
    if not command or any(len(found.get(f, [])) > 1 for f in singles):
        return None
    single = {f: values[-1] for f, values in found.items() if f in singles}
    return RunArgs(
        command=command,
        secret=found.get("secret", []),
        env=found.get("env", []),
        mount_path=single.get("mount_path"),
        refresh="refresh" in flags,
        secrets_from=Path(single["secrets_from"]) if "secrets_from" in single else None,
        project=single.get("project"),
        keeper_url=single.get("keeper_url"),
        allow_expired="allow_expired" in flags,
        formats=formats,
    )


def run_session(args: RunArgs) -> int:
    """Run the command with its secrets; the command's exit code, or 1 after one `error:` line."""
    from sealbox.cli import config_file
    from sealbox.errors import ConfigError, SealboxError
    from sealbox.launcher.run import RunOptions, run
    from sealbox.launcher.spec import combine, load_spec

    try:
        cfg = config_file.load()
        spec = combine(
            load_spec(args.secrets_from) if args.secrets_from else None,
            args.secret,
            args.env,
            mount_path=args.mount_path,
            refresh=args.refresh,
            project=args.project,
            formats=args.formats,
        )
        return run(
            RunOptions(
                spec=spec,
                command=args.command,
                url=cfg.url,
                token=cfg.token,
                keeper_url=args.keeper_url,
                allow_expired=args.allow_expired,
            )
        )
    except ConfigError as exc:
        message = str(exc)
    except SealboxError as exc:
        from sealbox.cli.output import describe  # the CLI's wording of an error, loaded only to say one

        message = describe(exc)
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return 1


def exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's teardown of every module a run loaded (cryptography,
    msgspec, http.client: measured at several ms of each `sealbox run`). By now the run has ended its
    session, removed its files and lease, closed its connections and joined its threads, and sealbox
    registers no exit handler on this path; what is left to do is flushing the output."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main(*, teardown: bool = False) -> None:
    """The console script. A `sealbox run` ends with `exit_now`; with `teardown`, through SystemExit, as
    `python -m sealbox` does so that whoever runs it in-process (runpy, the tests) sees the exit code."""
    os.umask(0o077)  # every file sealbox creates (database, keys, config) is private to its user
    argv = sys.argv[1:]
    if argv[:1] == ["run"]:
        parsed = parse_run_args(argv[1:])
        if parsed is not None:
            code = run_session(parsed)
            if teardown:
                sys.exit(code)
            exit_now(code)
    from sealbox.cli.main import main as typer_main

    typer_main()
