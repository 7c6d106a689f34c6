"""sealbox in JupyterHub's spawners: the options form, `user_options` checks, and the session's lifetime.

The hub acts for the user with a service-account token (`sealbox admin service add hub --kind ...`). At
spawn it creates a session for the user with the chosen secrets (`POST /api/v1/service/sessions` with
`on_behalf_of`), which sealbox audits and lists among the user's sessions; when the server stops it ends
the session (`DELETE /api/v1/service/sessions/{id}`). Only secret names reach `user_options`, the spawner's
state and so the hub's database.

Local spawners (`SealboxLocalProcessSpawner`, `SealboxSimpleLocalProcessSpawner`): the hub redeems the
session's one-time credential itself, writes the files into a 0700 folder on /dev/shm owned by the server's
user (files 0400), and starts the server with `SEALBOX_SECRETS_DIR` (and the chosen variables) in its
environment. Stopping the server removes the folder; a hub that starts again removes what a crash left and
ends those sessions.

This module holds what every sealbox spawner shares (`SealboxSpawner`) and `configure`; the local spawners
are in `.local_spawner`, KubeSpawner in `.kube`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tornado import web
from traitlets import Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from sealbox.errors import ClientError, OptionsError
from sealbox.integrations.jupyterhub.options import (
    Selection,
    UsableSecret,
    from_form,
    parse,
    render_form,
)
from sealbox.sdk.client import Client

if TYPE_CHECKING:
    from sealbox.protocol.session_answers import SessionCreated

DEFAULT_SESSION_TTL_SECONDS = 7 * 24 * 3600
_END_RETRY_PAUSES_S = (0.5, 1.0, 2.0, 4.0)  # then the session is left to expire on its own
_LOCAL_SPAWNERS = ("SealboxLocalProcessSpawner", "SealboxSimpleLocalProcessSpawner")


def __getattr__(name: str) -> Any:
    """The local spawners under their earlier path (`...jupyterhub.spawner.SealboxLocalProcessSpawner`),
    loaded from `.local_spawner` only when asked for."""
    if name in _LOCAL_SPAWNERS:
        from sealbox.integrations.jupyterhub import local_spawner

        return getattr(local_spawner, name)
    raise AttributeError(name)


def as_hub_error(error: ClientError) -> web.HTTPError:
    """sealbox's refusal as the error JupyterHub shows: 400 for bad or unusable choices (its message names
    a secret as chosen, never a value), 503 when sealbox cannot be reached."""
    if 400 <= error.status_code < 500 and error.status_code not in (401, 429):
        return web.HTTPError(400, f"sealbox: {error.message}")
    return web.HTTPError(503, "sealbox is unavailable; the server was not started")


class SealboxSpawner(LoggingConfigurable):
    """What every sealbox spawner shares (a mixin before a Spawner class). Configure it as
    `c.SealboxSpawner.<name>`."""

    user: Any
    user_options: dict[str, Any]

    sealbox_url = Unicode(
        "http://127.0.0.1:8480", config=True, help="The sealbox server's URL, as the hub reaches it."
    )
    sealbox_token_file = Unicode(
        "",
        config=True,
        help="A file (0600) holding the hub's service-account token; read at each use, never logged.",
    )
    sealbox_keeper_url = Unicode(
        "",
        config=True,
        help="The keeper's URL for the session side, when it differs from what the server announces.",
    )
    sealbox_session_ttl = Integer(
        DEFAULT_SESSION_TTL_SECONDS,
        config=True,
        help="How long a server's session may live at most (seconds, 60 to 7 days); stopping ends it.",
    )
    sealbox_session_id = Unicode("", help="The live session of this server (state; an id, not a value).")

    def sealbox_client(self) -> Client:
        path = Path(self.sealbox_token_file)
        if not self.sealbox_token_file or not path.is_file():
            raise web.HTTPError(503, "sealbox is not configured (c.SealboxSpawner.sealbox_token_file)")
        return Client(self.sealbox_url, path.read_text().strip())

    # the form and the options ------------------------------------------------------------------------

    mount_path_note = ""
    allow_env = True

    @default("options_form")
    def _sealbox_options_form_default(self) -> Any:
        return SealboxSpawner.sealbox_options_form

    async def sealbox_options_form(self) -> str:
        note = self.mount_path_note
        try:
            usable = await asyncio.to_thread(self._usable)
        except web.HTTPError:
            # sealbox is down or not configured: the server can still start, without secrets.
            usable, note = [], "sealbox cannot be reached now: this server will start without secrets."
            self.log.warning("sealbox: the spawn form lists no secrets (sealbox unavailable)")
        try:
            chosen = parse(self.user_options)
        except OptionsError:
            chosen = None
        return render_form(usable, chosen=chosen, mount_path_note=note, allow_env=self.allow_env)

    def _usable(self) -> list[UsableSecret]:
        try:
            with self.sealbox_client() as client:
                rows = client.usable_secrets(self.user.name)
        except ClientError as error:
            raise as_hub_error(error) from None
        return [
            UsableSecret(ref=r.ref, kind=r.kind, description=r.description)
            for r in rows
            if r.project is None  # project-scoped secrets go only into that project's sessions
        ]

    @default("options_from_form")
    def _sealbox_options_from_form_default(self) -> Any:
        return lambda formdata: from_form(formdata)

    def options_from_query(self, query_data: dict[str, list[str]]) -> dict[str, Any]:
        """`/hub/spawn?sealbox_secret=db&sealbox_secret=alice/aws&sealbox_mount_path=/secrets` spawns."""
        return from_form(query_data)

    def sealbox_selection(self) -> Selection | None:
        try:
            selection = parse(self.user_options)
        except OptionsError as bad:
            raise web.HTTPError(400, f"sealbox: {bad}") from None
        if selection is not None and not self.allow_env and any(c.env for c in selection.choices):
            raise web.HTTPError(400, "sealbox: variables are not delivered here; choose files")
        return selection

    def sealbox_start_session(
        self, selection: Selection, *, mount_path: str, credential_ttl: int | None = None
    ) -> SessionCreated:
        """Create the user's session (sealbox checks that the user may use each secret, and audits it)."""
        secrets: list[dict[str, str | None]] = [
            {"name": m.secret, "field": m.field, "file": m.file, "env": m.env}
            for c in selection.choices
            for m in c.mappings()
        ]
        try:
            with self.sealbox_client() as client:
                created = client.start_service_session(
                    on_behalf_of=self.user.name,
                    secrets=secrets,
                    mount_path=mount_path,
                    ttl_seconds=self.sealbox_session_ttl,
                    credential_ttl_seconds=credential_ttl,
                )
        except ClientError as error:
            raise as_hub_error(error) from None
        return created

    def sealbox_end_session(self, session_id: str) -> None:
        """End the session; a failure that may pass (no answer, 429, 5xx) is tried again, with pauses."""
        for pause in (*_END_RETRY_PAUSES_S, None):
            try:
                with self.sealbox_client() as client:
                    client.end_service_session(session_id)
                return
            except (ClientError, web.HTTPError) as error:
                status = error.status_code
                code = error.code if isinstance(error, ClientError) else str(status)
                passing = isinstance(error, ClientError) and (status in (0, 429) or status >= 500)
                if pause is None or not passing:
                    # The session still expires on its own (sealbox_session_ttl); say so, with the code only.
                    self.log.warning("sealbox: could not end session %s (%s)", session_id, code)
                    return
                self.log.info("sealbox: ending session %s failed (%s); trying again", session_id, code)
                time.sleep(pause)

    # state: the session id only ---------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = cast(Any, super()).get_state()
        if self.sealbox_session_id:
            state["sealbox_session"] = self.sealbox_session_id
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        cast(Any, super()).load_state(state)
        self.sealbox_session_id = str(state.get("sealbox_session") or "")


def configure(
    c: Any,
    *,
    url: str,
    token_file: str,
    spawner: str = "local",
    keeper_url: str = "",
    session_ttl: int = DEFAULT_SESSION_TTL_SECONDS,
) -> None:
    """Enable sealbox in `jupyterhub_config.py`: `configure(c, url=..., token_file=..., spawner="local")`.

    `spawner` is "local" (LocalProcessSpawner), "simple" (SimpleLocalProcessSpawner) or "kube"
    (KubeSpawner). For the local spawners it also cleans up after a crash, now, as the hub starts.
    """
    classes: dict[str, str] = {
        "local": "sealbox.integrations.jupyterhub.local_spawner.SealboxLocalProcessSpawner",
        "simple": "sealbox.integrations.jupyterhub.local_spawner.SealboxSimpleLocalProcessSpawner",
        "kube": "sealbox.integrations.jupyterhub.kube.SealboxKubeSpawner",
    }
    if spawner not in classes:
        raise ValueError("spawner is 'local', 'simple' or 'kube'")
    c.JupyterHub.spawner_class = classes[spawner]
    c.SealboxSpawner.sealbox_url = url
    c.SealboxSpawner.sealbox_token_file = token_file
    c.SealboxSpawner.sealbox_keeper_url = keeper_url
    c.SealboxSpawner.sealbox_session_ttl = session_ttl
    if spawner != "kube":
        from sealbox.integrations.jupyterhub.local_spawner import clean_leftovers

        ended = clean_leftovers(url=url, token_file=token_file)
        if ended:
            print(f"sealbox: removed {len(ended)} folder(s) left by servers that are gone")
