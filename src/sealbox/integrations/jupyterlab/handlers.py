"""The panel's JSON API on the Jupyter server, under `/sealbox/api/`: Jupyter's own authentication and XSRF
check (jupyter_server's APIHandler: 403 without either), typed bodies (sealbox.protocol.lab_api), and calls
to sealbox made here, in a worker thread, with the session's credential (never sent to the browser).

- `GET  /sealbox/api/secrets`                  what the person may use, and what this session holds
- `POST /sealbox/api/secrets`                  a new secret of the person's (its value sent once, not back)
- `GET  /sealbox/api/switches?notebook=PATH`   the names switched off for that notebook
- `PUT  /sealbox/api/switches`                 switch one name on or off for one notebook
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from pathlib import Path
from typing import Any

import msgspec
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from sealbox.errors import ClientError
from sealbox.integrations.jupyterlab import backend
from sealbox.protocol.base import ProtocolError, decode
from sealbox.protocol.lab_api import LabSecretCreate, LabSwitches, LabSwitchSet
from sealbox.sdk import switches


class _Handler(APIHandler):
    def answer(self, message: msgspec.Struct, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(msgspec.json.encode(message))

    def refuse(self, status: int, code: str, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(msgspec.json.encode({"code": code, "message": message}))

    def body_as(self, kind: Any) -> Any:
        try:
            return decode(self.request.body, kind)
        except ProtocolError as bad:
            self.refuse(400, "invalid_request", str(bad))
            return None

    @property
    def switches_file(self) -> Path:
        return Path(self.settings["sealbox_switches_file"])

    def notebook_keys(self, notebook: str) -> tuple[str, ...]:
        """The keys a kernel of this notebook may see as JPY_SESSION_NAME: jupyter_server sets the path on
        disk (its folder joined with the file's name) when the client names the file, as JupyterLab does,
        and the API path otherwise."""
        folder: str = self.kernel_manager.cwd_for_path(notebook)  # type: ignore[no-untyped-call]
        on_disk = os.path.join(folder, posixpath.basename(notebook))
        return (on_disk, notebook)


class SecretsHandler(_Handler):
    @web.authenticated
    async def get(self) -> None:
        self.answer(await asyncio.to_thread(backend.secrets))

    @web.authenticated
    async def post(self) -> None:
        body: LabSecretCreate | None = self.body_as(LabSecretCreate)
        if body is None:
            return
        try:
            created = await asyncio.to_thread(_create, body)
        except backend.NoCredential as missing:
            self.refuse(503, "no_credential", str(missing))
            return
        except ClientError as refused:
            status = refused.status_code if 400 <= refused.status_code < 500 else 502
            self.refuse(status, refused.code, refused.message)
            return
        self.answer(created, 201)


def _create(body: LabSecretCreate) -> msgspec.Struct:
    with backend.client() as sealbox:
        return sealbox.create_secret(body.name, value=body.value, description=body.description)


class SwitchesHandler(_Handler):
    @web.authenticated
    def get(self) -> None:
        notebook = self.get_query_argument("notebook", "")
        if not notebook:
            self.refuse(400, "invalid_request", "give the notebook: ?notebook=PATH")
            return
        off = switches.switched_off(self.switches_file, self.notebook_keys(notebook)[0])
        self.answer(LabSwitches(notebook=notebook, off=off))

    @web.authenticated
    def put(self) -> None:
        body: LabSwitchSet | None = self.body_as(LabSwitchSet)
        if body is None:
            return
        keys = self.notebook_keys(body.notebook)
        off = switches.set_switch(self.switches_file, notebooks=keys, name=body.name, on=body.on)
        self.answer(LabSwitches(notebook=body.notebook, off=off))


def routes(base_url: str) -> list[tuple[str, type[_Handler]]]:
    return [
        (url_path_join(base_url, "sealbox", "api", "secrets"), SecretsHandler),
        (url_path_join(base_url, "sealbox", "api", "switches"), SwitchesHandler),
    ]
