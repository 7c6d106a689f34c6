"""`sealbox import openbao --mount M --prefix P [--apply]`: OpenBao/Vault KV secrets into sealbox.

The address and token come from `BAO_ADDR`/`BAO_TOKEN`, else `VAULT_ADDR`/`VAULT_TOKEN`, as the `bao` and
`vault` CLIs read them (never from an option: a token in an argv is readable by every user of the
machine). Without --apply it is a dry run: it reads OpenBao and the names of your secrets, prints what
would be created and what is skipped and why, and changes nothing. With --apply each secret is created
through the sealbox API (encrypted and audited like any other write), its older versions first when
--all-versions is given. Values go from OpenBao's answers into request bodies only (openbao/kv_plan.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from sealbox.cli.output import describe, print_table
from sealbox.errors import ClientError, ServiceError

if TYPE_CHECKING:
    from sealbox.openbao.kv_plan import Item
    from sealbox.sdk.client import Client

app = typer.Typer(help="Import secrets from another store (a dry run unless --apply).", no_args_is_help=True)


def _versions(item: Item) -> str:
    return ",".join(str(p.version) for p in item.payloads) if item.payloads else ""


def _print(items: list[Item], failed: dict[str, str], *, applied: bool) -> None:
    """The plan, or what was done: `failed` gives, by path, why a create failed (the API's message)."""
    if not items:
        typer.echo("nothing to import")
        return
    rows = []
    for item in items:
        action, note = item.action, item.note
        if applied:
            action = "failed" if item.path in failed else "created" if action == "create" else "skipped"
            note = failed.get(item.path, note)
        rows.append([item.path, action, item.name, item.kind, _versions(item), note])
    print_table(["PATH", "ACTION", "NAME", "KIND", "VERSIONS", "NOTE"], rows)


def _store(c: Client, item: Item) -> str | None:
    """Create the secret and its later versions; None, or why it failed (the secret may exist by then)."""
    later = item.payloads[1:]
    done = 0
    try:
        _create(c, item)
        done = 1
        for payload in later:
            c.replace_secret(item.name, value=payload.value, fields=payload.fields)
            done += 1
    except (ServiceError, ClientError) as exc:
        return describe(exc) + (f" (after {done} of {len(item.payloads)} versions)" if done else "")
    return None


def _create(c: Client, item: Item) -> None:
    first = item.payloads[0]
    c.create_secret(
        item.name,
        kind=item.kind,
        value=first.value,
        fields=first.fields,
        description=item.description,
        expires_at=item.expires_at,
    )


@app.command("openbao")
def import_openbao(
    mount: Annotated[str, typer.Option(help="the KV mount, e.g. secret (KV v1 or v2: read from the mount)")],
    prefix: Annotated[
        str, typer.Option(help="the folder to import, e.g. team/ (default: the whole mount)")
    ] = "",
    apply: Annotated[bool, typer.Option("--apply", help="store them (without it: a dry run)")] = False,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="every version KV v2 keeps (default: the current one)")
    ] = False,
) -> None:
    """Import OpenBao or Vault KV secrets (BAO_ADDR/BAO_TOKEN, else VAULT_ADDR/VAULT_TOKEN).

    Each secret under --prefix becomes a sealbox secret named by its path below the prefix ('/' made '_'),
    its kind from its fields or custom_metadata kind, with custom_metadata description and expires_at.
    Without --apply: a dry run that shows what would be created and what is skipped and why.
    """
    from sealbox.cli.secrets import client
    from sealbox.openbao.client import connect
    from sealbox.openbao.kv import folder, kv_version, list_paths, read_secret
    from sealbox.openbao.kv_plan import plan

    mount = mount.strip().strip("/")
    base = folder(prefix)
    bao = connect()
    version = kv_version(bao, mount)
    paths = list_paths(bao, mount, base, version=version)
    secrets = [read_secret(bao, mount, base + p, version=version, all_versions=all_versions) for p in paths]
    typer.echo(f"{mount}/ is KV version {version}; {len(secrets)} secrets under {mount}/{base}")
    with client() as c:
        existing = {s.name for s in c.list_secrets() if s.access == "owner"}
        items = plan(secrets, mount=mount, prefix=base, existing=existing, now=datetime.now(UTC))
        if not apply:
            _print(items, {}, applied=False)
            typer.echo("dry run: nothing was changed; give --apply to import")
            return
        failed: dict[str, str] = {}
        for item in items:
            why = _store(c, item) if item.action == "create" else None
            if why is not None:
                failed[item.path] = why
    _print(items, failed, applied=True)
    made = sum(1 for i in items if i.action == "create" and i.path not in failed)
    typer.echo(f"imported {made} of {len(items)}; the values will not be shown again")
    if failed:
        raise typer.Exit(1)
