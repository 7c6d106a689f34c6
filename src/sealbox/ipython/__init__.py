"""Output redaction in Jupyter: the values a session holds never reach an output, a notebook file or a log.

- In a kernel: `%load_ext sealbox.ipython` (or `c.IPKernelApp.extensions = ["sealbox.ipython"]`).
- In the server: `c.ServerApp.jpserver_extensions = {"sealbox.ipython": True}` registers the pre-save hook
  and starts every IPython kernel with the extension; the hook alone is
  `c.FileContentsManager.pre_save_hook = "sealbox.ipython.scrub_pre_save"`.

The JupyterHub integration's local spawners enable both (docs/jupyterhub.md). A guard against accidents,
not a boundary: code that means to show a value (`.upper()`, a value cut in pieces) still can.
"""

from __future__ import annotations

from typing import Any

from sealbox.ipython.notebook import scrub_pre_save

__all__ = ["load_ipython_extension", "scrub_pre_save"]


def load_ipython_extension(ipython: Any) -> None:
    from sealbox.ipython.kernel import install
    from sealbox.ipython.notebook import session_values

    kernel = getattr(ipython, "kernel", None)
    if kernel is None:
        print("sealbox.ipython: not in a Jupyter kernel; nothing to redact here")
        return
    values = session_values()
    install(kernel, values.redactor)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "sealbox.ipython"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from sealbox.ipython.notebook import load_server_extension

    load_server_extension(serverapp)
