"""The server's side: notebooks are scrubbed before they are saved, and kernels start with the extension.

`scrub_pre_save` is a `ContentsManager` pre-save hook: split stream outputs are merged first (a value
printed in pieces is whole again), then every string of the notebook (outputs, sources, attachments,
metadata) is scrubbed, so that neither the `.ipynb` file nor its checkpoints (copies of the saved file)
hold a value. If scrubbing fails the save is refused: an unscrubbed notebook is never written.
"""

from __future__ import annotations

from typing import Any

from sealbox.ipython.values import SessionValues

EXTENSION = "sealbox.ipython"
KERNEL_ARGUMENT = f"--InteractiveShellApp.extra_extensions={EXTENSION}"
_JOINED = ("source", "text")
_values: SessionValues | None = None


def session_values() -> SessionValues:
    """This process's values (the server's environment is the session's: same folder, same variables)."""
    global _values
    if _values is None:
        _values = SessionValues()
    return _values


def _text(value: Any) -> Any:
    return "".join(value) if isinstance(value, list) else value


def merge_streams(outputs: list[Any]) -> list[Any]:
    """Consecutive stream outputs of the same name as one (what Jupyter shows them as anyway)."""
    merged: list[Any] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            isinstance(output, dict)
            and output.get("output_type") == "stream"
            and isinstance(previous, dict)
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            merged[-1] = {**previous, "text": _text(previous.get("text", "")) + _text(output.get("text", ""))}
        else:
            merged.append(output)
    return merged


def _joined(cell: dict[str, Any]) -> dict[str, Any]:
    """Multi-line fields as one string each (nbformat stores them as lists of lines), so that a value of
    several lines is found whole."""
    cell = {k: _text(v) if k in _JOINED else v for k, v in cell.items()}
    outputs = cell.get("outputs")
    if isinstance(outputs, list):
        fixed = []
        for output in merge_streams(outputs):
            if isinstance(output, dict):
                output = {k: _text(v) if k in _JOINED else v for k, v in output.items()}
                if isinstance(output.get("data"), dict):
                    output["data"] = {k: _text(v) for k, v in output["data"].items()}
            fixed.append(output)
        cell["outputs"] = fixed
    return cell


def scrub_notebook(notebook: dict[str, Any]) -> dict[str, Any]:
    redactor = session_values().redactor()
    if redactor.empty:
        return notebook
    cells = [_joined(c) if isinstance(c, dict) else c for c in notebook.get("cells", [])]
    scrubbed: dict[str, Any] = redactor.scrub_tree({**notebook, "cells": cells})
    return scrubbed


def scrub_pre_save(model: dict[str, Any], path: str = "", contents_manager: Any = None, **_: Any) -> None:
    """`c.FileContentsManager.pre_save_hook`: scrub a notebook's model before it is written."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    try:
        model["content"] = scrub_notebook(model["content"])
    except Exception as failed:
        from tornado.web import HTTPError

        # jupyter_server logs other errors from a hook and saves anyway; an HTTPError refuses the save.
        raise HTTPError(
            500, f"sealbox could not scrub {path}; it was not saved ({type(failed).__name__})"
        ) from None


def _with_extension(spec: Any) -> Any:
    argv = list(getattr(spec, "argv", []) or [])
    if (
        str(getattr(spec, "language", "")).lower() == "python"
        and any("ipykernel" in part for part in argv)
        and KERNEL_ARGUMENT not in argv
    ):
        spec.argv = [*argv, KERNEL_ARGUMENT]
    return spec


def load_server_extension(serverapp: Any) -> None:
    """Register the pre-save hook, and start every IPython kernel with the extension loaded."""
    serverapp.contents_manager.register_pre_save_hook(scrub_pre_save)
    specs = serverapp.kernel_spec_manager
    original = specs.get_kernel_spec
    if getattr(original, "_sealbox", False):
        return

    def get_kernel_spec(kernel_name: str, *args: Any, **kwargs: Any) -> Any:
        return _with_extension(original(kernel_name, *args, **kwargs))

    get_kernel_spec._sealbox = True  # type: ignore[attr-defined]
    specs.get_kernel_spec = get_kernel_spec
    session_values()  # read the folder now: a broken one shows in the server's log at start, not at save
    serverapp.log.info("sealbox: outputs are redacted in kernels and in saved notebooks")
