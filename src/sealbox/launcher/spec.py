"""What a run asks for: `--secret NAME[:FILE]` (with `--as FORMAT`), `--env VAR=NAME[.FIELD]`, or a job's
TOML/YAML spec."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as Map
from pathlib import Path
from typing import Any

import msgspec

from sealbox.domain.kinds import SPECS
from sealbox.domain.sessions import Mapping
from sealbox.errors import BadRequest

ALL_FIELDS = frozenset(f for spec in SPECS.values() for f in spec.all_fields)


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    mappings: tuple[Mapping, ...]
    mount_path: str | None = None
    refresh: bool = False
    project: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    # Each file that a client's format replaces (`--as`): file name -> format. Only the session side
    # knows: the server hands out the secret as that file, as any other.
    formats: Map[str, str] = msgspec.field(default_factory=dict)


def split_field(ref: str) -> tuple[str, str | None]:
    """`aws.secret_access_key` -> ('aws', 'secret_access_key'); names may contain dots, fields may not."""
    name, dot, suffix = ref.rpartition(".")
    if dot and name and suffix in ALL_FIELDS:
        return name, suffix
    return ref, None


def parse_secret_option(text: str) -> Mapping:
    name, colon, file = text.partition(":")
    if not name:
        raise BadRequest("--secret takes NAME or NAME:FILE", code="invalid_mapping")
    name, field_name = split_field(name)
    # A shared secret `alice/db` is mounted as `db` unless a FILE is given.
    return Mapping(secret=name, field=field_name, file=(file if colon else name.rpartition("/")[2]))


def formats_for(mappings: Sequence[Mapping], choices: Iterable[tuple[int, str]]) -> dict[str, str]:
    """`--as FORMAT` choices, each (index of the --secret it follows, format), as file -> format."""
    from sealbox.launcher.formats import parse_format

    found: dict[str, str] = {}
    for index, fmt in choices:
        if not 0 <= index < len(mappings):
            raise BadRequest("--as FORMAT follows the --secret it applies to", code="invalid_mapping")
        mapping = mappings[index]
        if mapping.field is not None:
            raise BadRequest("--as takes a whole secret (NAME, not NAME.FIELD)", code="invalid_mapping")
        if mapping.file in found:
            raise BadRequest("one --as per --secret", code="invalid_mapping")
        found[str(mapping.file)] = parse_format(fmt)
    return found


def parse_env_option(text: str) -> Mapping:
    var, eq, ref = text.partition("=")
    if not eq or not var or not ref:
        raise BadRequest("--env takes VAR=NAME or VAR=NAME.FIELD", code="invalid_mapping")
    name, field_name = split_field(ref)
    return Mapping(secret=name, field=field_name, env=var)


def _from_document(data: Any, source: str) -> RunSpec:
    if not isinstance(data, dict):
        raise BadRequest(f"{source}: expected a table/mapping at the top", code="invalid_spec")
    unknown = set(data) - {"secrets", "env", "mount_path", "refresh", "project"}
    if unknown:
        raise BadRequest(
            f"{source}: unknown keys (allowed: secrets, env, mount_path, refresh, project)",
            code="invalid_spec",
        )
    mappings: list[Mapping] = []
    formats: list[tuple[int, str]] = []
    entries = data.get("secrets") or []
    if not isinstance(entries, list):
        raise BadRequest(f"{source}: secrets is a list", code="invalid_spec")
    for entry in entries:
        if isinstance(entry, str):
            mappings.append(parse_secret_option(entry))
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            name, field_name = split_field(entry["name"])
            field_name = entry.get("field", field_name)
            file = str(entry.get("file") or name.rpartition("/")[2])
            if "as" in entry:
                if not isinstance(entry["as"], str):
                    raise BadRequest(f"{source}: as is a format name, such as aws", code="invalid_spec")
                formats.append((len(mappings), entry["as"]))
            mappings.append(Mapping(secret=name, field=field_name, file=file))
        else:
            raise BadRequest(
                f"{source}: each entry of secrets is NAME[:FILE] or {{name, file, field, as}}",
                code="invalid_spec",
            )
    env = data.get("env") or {}
    if not isinstance(env, dict):
        raise BadRequest(f'{source}: env is a table of VAR = "NAME[.FIELD]"', code="invalid_spec")
    for var, ref in env.items():
        if not isinstance(ref, str):
            raise BadRequest(f"{source}: env values are secret names", code="invalid_spec")
        mappings.append(parse_env_option(f"{var}={ref}"))
    mount = data.get("mount_path")
    project = data.get("project")
    refresh = data.get("refresh", False)
    if (
        (mount is not None and not isinstance(mount, str))
        or (project is not None and not isinstance(project, str))
        or not isinstance(refresh, bool)
    ):
        raise BadRequest(
            f"{source}: mount_path and project are text, refresh is true/false", code="invalid_spec"
        )
    return RunSpec(
        mappings=tuple(mappings),
        mount_path=mount,
        refresh=refresh,
        project=project,
        formats=formats_for(mappings, formats),
    )


def load_spec(path: Path) -> RunSpec:
    """Read a job's secret spec (TOML, or YAML for .yaml/.yml)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadRequest(f"cannot read {path}: {exc.strerror}", code="invalid_spec") from None
    except UnicodeDecodeError:
        raise BadRequest(f"{path}: not UTF-8 text", code="invalid_spec") from None
    if path.suffix in {".yaml", ".yml"}:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise BadRequest(f"{path}: not valid YAML", code="invalid_spec") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            raise BadRequest(f"{path}: not valid TOML", code="invalid_spec") from None
    return _from_document(data, str(path))


def combine(
    spec: RunSpec | None,
    secrets: Iterable[str],
    envs: Iterable[str],
    *,
    mount_path: str | None,
    refresh: bool,
    project: str | None,
    formats: Iterable[tuple[int, str]] = (),
) -> RunSpec:
    """Flags add to a spec file; a flag's mount path, refresh or project wins over the file's. `formats`:
    each `--as` as (index of the --secret it follows, format)."""
    mappings = list(spec.mappings if spec else ())
    flagged = [parse_secret_option(s) for s in secrets]
    chosen = {**(spec.formats if spec else {})}
    for file, fmt in formats_for(flagged, formats).items():
        if file in chosen:
            raise BadRequest("one --as per --secret", code="invalid_mapping")
        chosen[file] = fmt
    mappings += flagged
    mappings += [parse_env_option(e) for e in envs]
    return RunSpec(
        mappings=tuple(mappings),
        formats=chosen,
        mount_path=mount_path or (spec.mount_path if spec else None),
        refresh=refresh or bool(spec and spec.refresh),
        project=project or (spec.project if spec else None),
    )
