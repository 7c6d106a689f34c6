"""sealbox in JupyterLab 4: the secrets panel (a prebuilt labextension, `labextension/`, built from
jupyterlab-extension/ at the repository's root) and the jupyter_server extension it talks to (handlers.py).

`pip install 'sealbox[jupyterlab]'` installs both and enables both (the wheel puts the labextension under
share/jupyter/labextensions and a config file under etc/jupyter/jupyter_server_config.d). By hand:
`c.ServerApp.jpserver_extensions = {"sealbox.integrations.jupyterlab": True}`. docs/jupyterlab.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

LABEXTENSION = "sealbox-jupyterlab"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": LABEXTENSION}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "sealbox.integrations.jupyterlab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from sealbox.integrations.jupyterlab.handlers import routes
    from sealbox.sdk.switches import SWITCHES_VARIABLE

    # The switches live in the server's runtime folder (0700, the user's), one file per server; kernels
    # started from now on inherit its path and read it at each get_secret.
    runtime = Path(serverapp.runtime_dir)
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    switches_file = runtime / f"sealbox-switches-{os.getpid()}.json"
    os.environ[SWITCHES_VARIABLE] = str(switches_file)
    serverapp.web_app.settings["sealbox_switches_file"] = str(switches_file)
    serverapp.web_app.add_handlers(".*$", routes(serverapp.web_app.settings["base_url"]))
    serverapp.log.info("sealbox: the secrets panel's API is at /sealbox/api/")
