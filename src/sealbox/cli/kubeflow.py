"""`sealbox kube kubeflow`: Kubeflow Notebooks 2.0 secret volumes, and which workspaces mount what."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sealbox.cli.output import fail

kubeflow_app = typer.Typer(help="Kubeflow Notebooks 2.0 workspaces and synced secrets.", no_args_is_help=True)


@kubeflow_app.command("volumes")
def kubeflow_volumes(
    secret: Annotated[list[str], typer.Option("--secret", help="NAME or NAME:/mount/path; repeatable")],
    default_mode: Annotated[
        str, typer.Option(help="octal file mode (0440: owner and the pod's fsGroup may read)")
    ] = "0440",
    root: Annotated[str, typer.Option(help="where NAME without a path is mounted: ROOT/NAME")] = "/secrets",
    patch: Annotated[
        bool,
        typer.Option("--patch", help="a merge patch for the Workspace (it replaces the whole list)"),
    ] = False,
    json_patch: Annotated[
        bool,
        typer.Option(
            "--json-patch", help="a JSON patch (kubectl patch --type json) that appends to the list; JSON"
        ),
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
) -> None:
    """Emit spec.podTemplate.volumes.secrets[] entries for Secrets synced into a workspace's namespace."""
    from sealbox.errors import WorkspaceError
    from sealbox.integrations.kubeflow import (
        parse_secret_option,
        secret_volumes,
        workspace_json_patch,
        workspace_patch,
    )

    if fmt not in ("yaml", "json"):
        fail("--format is yaml or json")
    if patch and json_patch:
        fail("give --patch or --json-patch, not both")
    try:
        mode = int(default_mode, 8)
    except ValueError:
        fail("--default-mode is an octal number such as 0440")
    try:
        entries = secret_volumes(parse_secret_option(s, root=root, default_mode=mode) for s in secret)
    except WorkspaceError as exc:
        fail(str(exc))
    data: Any = workspace_patch(entries) if patch else entries
    if json_patch:
        data, fmt = workspace_json_patch(entries), "json"  # what `kubectl patch --type json -p` takes
    if fmt == "json":
        typer.echo(json.dumps(data, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


@kubeflow_app.command("mounts")
def kubeflow_mounts(
    file: Annotated[
        Path,
        typer.Option("--file", "-f", help="Workspaces: `kubectl get workspaces -A -o yaml` ('-': stdin)"),
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Which workspaces mount each secret (Kubeflow's Secrets page): namespace, secret, workspace, path."""
    import yaml

    from sealbox.cli.output import print_json, print_table
    from sealbox.integrations.kubeflow import workspaces_by_secret

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError):
        fail(f"cannot read Workspaces from {file}")
    items: list[dict[str, Any]] = []
    for d in docs:
        items.extend(d.get("items") or []) if "items" in d else items.append(d)
    found = workspaces_by_secret(items)
    if as_json:
        print_json(
            [
                {
                    "namespace": ns,
                    "secret": secret,
                    "workspaces": [
                        {"name": m.workspace, "mountPath": m.mount_path, "defaultMode": m.default_mode}
                        for m in mounts
                    ],
                }
                for (ns, secret), mounts in found.items()
            ]
        )
        return
    print_table(
        ["NAMESPACE", "SECRET", "WORKSPACE", "MOUNT PATH"],
        [[ns, secret, m.workspace, m.mount_path] for (ns, secret), mounts in found.items() for m in mounts],
    )
