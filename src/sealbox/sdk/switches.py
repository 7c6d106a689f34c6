"""The per-notebook switches of the JupyterLab panel: which secrets `get_secret` refuses in which notebook.

The Jupyter server extension (sealbox.integrations.jupyterlab) keeps them in one file, 0600, whose path it
puts in `SEALBOX_NOTEBOOK_SWITCHES` for the kernels it starts; a kernel knows its notebook by
`JPY_SESSION_NAME`, which jupyter_server sets. A name is on unless switched off. This is a consent guard,
not isolation: every kernel runs as the same user and can read the folder, or this file, itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sealbox.errors import SecretSwitchedOff
from sealbox.private_files import write_private_file

SWITCHES_VARIABLE = "SEALBOX_NOTEBOOK_SWITCHES"
NOTEBOOK_VARIABLE = "JPY_SESSION_NAME"


def read_all(path: Path) -> dict[str, list[str]]:
    """Every notebook's names switched off; an unreadable or malformed file switches nothing off."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    notebooks = data.get("notebooks") if isinstance(data, dict) else None
    if not isinstance(notebooks, dict):
        return {}
    return {
        str(notebook): sorted({n for n in names if isinstance(n, str)})
        for notebook, names in notebooks.items()
        if isinstance(names, list)
    }


def switched_off(path: Path, notebook: str) -> list[str]:
    return read_all(path).get(notebook, [])


def set_switch(path: Path, *, notebooks: tuple[str, ...], name: str, on: bool) -> list[str]:
    """Switch `name` on or off for a notebook, under each of its keys (jupyter_server gives a kernel the
    notebook's path on disk when it knows the file's name, else its path in the API); returns the first
    key's names now off. One writer (the server extension), an atomic replace: a kernel reads the old
    file or the new one."""
    table = read_all(path)
    for notebook in notebooks:
        off = set(table.get(notebook, []))
        if on:
            off.discard(name)
        else:
            off.add(name)
        if off:
            table[notebook] = sorted(off)
        else:
            table.pop(notebook, None)
    write_private_file(path, json.dumps({"notebooks": table}), overwrite=True)
    return table.get(notebooks[0], [])


def check_switch(name: str) -> None:
    """Raise SecretSwitchedOff when this kernel's notebook has `name` switched off in the panel."""
    where, notebook = os.environ.get(SWITCHES_VARIABLE), os.environ.get(NOTEBOOK_VARIABLE)
    if not where or not notebook:
        return
    if name in switched_off(Path(where), notebook):
        raise SecretSwitchedOff(name, notebook)
