"""How the CLI's help shows what each option takes, and `--version`.

typer labels every parameter with its Python type (`--refresh <bool>`, `--env <list[str]>`,
`{name}`). `HelpfulGroup`, the root command's class, walks the whole command tree once when it is built
and gives each parameter a metavar instead: none for a flag (it takes no value), the one a command
declares (`NAME[:FILE]`), else `TEXT`, `N`, `PATH` or the choices; arguments are named in capitals
(`NAME`, `COMMAND...`).
"""

from __future__ import annotations

import enum
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def sealbox_version() -> str:
    try:
        return version("sealbox")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _value_label(param: TyperOption | TyperArgument) -> str:
    descriptor = param.type_descriptor
    if descriptor.is_choice and descriptor.choices:
        return "|".join(str(c.value if isinstance(c, enum.Enum) else c) for c in descriptor.choices)
    if descriptor.is_path:
        return "PATH"
    element = descriptor.annotation
    if descriptor.is_list:
        element = next(iter(getattr(element, "__args__", ())), str)
    if element is int:
        return "N"
    if element is float:
        return "NUMBER"
    return "TEXT"


class _Argument(TyperArgument):
    """An argument shown by its name alone (`NAME`, `[NAME]`, `COMMAND...`), without a type beside it."""

    def display_type_rich(self, ctx: typer.Context) -> str | None:  # type: ignore[override]
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        return name if self.required else f"[{name}]"


def _tidy(command: TyperCommand | TyperGroup) -> None:
    # click makes `--help` on first use and keeps it: make it now, to label it as the flag it is.
    help_option = command.get_help_option(typer.Context(command, info_name=command.name))
    if help_option is not None:
        help_option.metavar = ""
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _value_label(param)
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                name = (param.name or "value").upper()
                param.metavar = f"{name}..." if param.nargs != 1 else name
            param.__class__ = _Argument
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            if isinstance(sub, TyperCommand | TyperGroup):
                _tidy(sub)


class HelpfulGroup(TyperGroup):
    """The root command: tidies the help of every command below it once they are all built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy(self)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sealbox {sealbox_version()}")
        raise typer.Exit()


VersionOption = typer.Option(
    False, "--version", callback=_print_version, is_eager=True, help="Print sealbox's version and exit."
)
