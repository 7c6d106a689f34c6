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
ends those sessions. KubeSpawner: `sealbox.integrations.jupyterhub.kube`.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from pathlib import Path
from typing import Any, cast

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
from tornado import web
from traitlets import Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from sealbox.domain.sessions import DEFAULT_MOUNT_PATH
from sealbox.errors import BadRequest, ClientError, OptionsError, SealboxError
from sealbox.integrations.jupyterhub import local
from sealbox.integrations.jupyterhub.options import (
    Selection,
    UsableSecret,
    from_form,
    parse,
    render_form,
)
from sealbox.launcher.environ import child_environment
from sealbox.launcher.redeem import Delivered
from sealbox.sdk.client import Client

DEFAULT_SESSION_TTL_SECONDS = 7 * 24 * 3600
_BACKGROUND: set[asyncio.Task[None]] = set()


def _refusal(error: ClientError) -> web.HTTPError:
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
            raise _refusal(error) from None
        return [
            UsableSecret(ref=r["ref"], kind=r["kind"], description=r["description"])
            for r in rows
            if r.get("project") is None  # project-scoped secrets go only into that project's sessions
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
    ) -> dict[str, Any]:
        """Create the user's session (sealbox checks that the user may use each secret, and audits it)."""
        secrets: list[dict[str, str | None]] = [
            {"name": m.secret, "field": m.field, "file": m.file, "env": m.env}
            for c in selection.choices
            for m in c.mappings()
        ]
        try:
            with self.sealbox_client() as client:
                launch = client.start_service_session(
                    on_behalf_of=self.user.name,
                    secrets=secrets,
                    mount_path=mount_path,
                    ttl_seconds=self.sealbox_session_ttl,
                    credential_ttl_seconds=credential_ttl,
                )
        except ClientError as error:
            raise _refusal(error) from None
        return launch

    def sealbox_end_session(self, session_id: str) -> None:
        try:
            with self.sealbox_client() as client:
                client.end_service_session(session_id)
        except (ClientError, web.HTTPError) as error:
            # The session still expires on its own (sealbox_session_ttl); say so, with the stable code only.
            code = error.code if isinstance(error, ClientError) else str(error.status_code)
            self.log.warning("sealbox: could not end session %s (%s)", session_id, code)

    # state: the session id only ---------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = cast(Any, super()).get_state()
        if self.sealbox_session_id:
            state["sealbox_session"] = self.sealbox_session_id
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        cast(Any, super()).load_state(state)
        self.sealbox_session_id = str(state.get("sealbox_session") or "")


class _LocalSealbox(SealboxSpawner):
    """The local spawners' part: redeem here, write the folder, set the environment, clean up."""

    mount_path_note = (
        "Servers on this machine get their files in a private folder in memory ($SEALBOX_SECRETS_DIR); "
        "the mount path applies to servers in containers."
    )
    sealbox_memory_base = Unicode(
        "", config=True, help="Where the folders go (a memory filesystem); default /dev/shm."
    )
    _sealbox_env: dict[str, str]

    def sealbox_root(self) -> Path:
        return local.hub_root(Path(self.sealbox_memory_base) if self.sealbox_memory_base else None)

    def sealbox_owner(self) -> tuple[int, int]:
        """The uid and gid the single-user server runs as (LocalProcessSpawner: the system user, whose
        name is the hub user's; KeyError when there is none)."""
        entry = pwd.getpwnam(self.user.name)
        return entry.pw_uid, entry.pw_gid

    def _prepare(self, selection: Selection) -> None:
        """Create the session, redeem it here, write the folder; on any failure undo all of it."""
        from sealbox.launcher.redeem import redeem
        from sealbox.transport import HTTPClient

        root = self.sealbox_root()
        try:
            uid, gid = self.sealbox_owner()  # before the session: a user without an account gets nothing
        except KeyError:
            raise web.HTTPError(
                400, f"sealbox: {self.user.name} has no system account on this machine; nothing was started"
            ) from None
        if uid != os.geteuid() and os.geteuid() != 0:
            raise web.HTTPError(
                503,
                f"sealbox: the hub does not run as root, so it cannot give {self.user.name} a private "
                "folder; nothing was started",
            )
        launch = self.sealbox_start_session(selection, mount_path=str(root))
        session_id = str(launch["session"]["id"])
        self.sealbox_session_id = session_id
        try:
            with HTTPClient(self.sealbox_url) as anonymous:
                delivery = redeem(
                    anonymous,
                    session_id=session_id,
                    credential=launch["launch_credential"],
                    keeper_url=self.sealbox_keeper_url or None,
                )
            folder = local.write_folder(
                root, session_id=session_id, user=self.user.name, items=delivery.items, uid=uid, gid=gid
            )
            self._sealbox_env = self._environment(delivery.items, folder, session_id)
        except ClientError as error:
            self._cleanup()
            raise _refusal(error) from None
        except SealboxError as error:
            self._cleanup()
            raise web.HTTPError(400 if isinstance(error, BadRequest) else 503, f"sealbox: {error}") from None
        except BaseException:
            self._cleanup()
            raise

    @staticmethod
    def _environment(items: tuple[Delivered, ...], folder: Path, session_id: str) -> dict[str, str]:
        """Only what sealbox adds: the folder, the session id, the variable map and the chosen variables."""
        return child_environment(items, secrets_dir=str(folder), session_id=session_id, base={})

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = cast(Any, super()).get_env()
        env.update(getattr(self, "_sealbox_env", {}))
        return env

    def _cleanup(self) -> None:
        session_id, self.sealbox_session_id = self.sealbox_session_id, ""
        self._sealbox_env = {}
        if not session_id:
            return
        try:
            local.remove_lease(self.sealbox_root(), session_id)
        finally:
            self.sealbox_end_session(session_id)

    def _clean_leftovers(self) -> None:
        """Folders and sessions whose server (or hub) died without stopping: remove and end them."""
        root = self.sealbox_root()
        for lease in local.stale_leases(root):
            local.remove_lease(root, lease.session_id)
            self.sealbox_end_session(lease.session_id)
            self.log.info(
                "sealbox: removed the folder of a server that is gone (session %s)", lease.session_id
            )

    async def start(self) -> Any:
        selection = self.sealbox_selection()
        if selection is not None and selection.mount_path != DEFAULT_MOUNT_PATH:
            raise web.HTTPError(
                400,
                "sealbox: servers on this machine get a private folder in memory; leave the mount path at "
                "/secrets",
            )
        await asyncio.to_thread(self._clean_leftovers)
        if selection is None:
            return await cast(Any, super()).start()
        began = time.perf_counter()
        await asyncio.to_thread(self._prepare, selection)
        self.log.info(
            "sealbox: %d secret(s) ready for %s in %.1f ms",
            len(selection.choices),
            self.user.name,
            (time.perf_counter() - began) * 1000,
        )
        try:
            result = await cast(Any, super()).start()
        except BaseException:
            await asyncio.to_thread(self._cleanup)
            raise
        finally:
            self._sealbox_env = {}  # the values were handed to the server's process; the hub keeps none
        root = self.sealbox_root()
        local.record_server(
            root,
            session_id=self.sealbox_session_id,
            folder=root / self.sealbox_session_id,
            user=self.user.name,
            pid=int(getattr(self, "pid", 0)),
        )
        return result

    async def stop(self, now: bool = False) -> None:
        try:
            await cast(Any, super()).stop(now=now)
        finally:
            await asyncio.to_thread(self._cleanup)

    def clear_state(self) -> None:
        # JupyterHub clears the state when it finds the server gone (poll): remove its folder then too.
        if self.sealbox_session_id:
            session_id = self.sealbox_session_id
            local.remove_lease(self.sealbox_root(), session_id)
            self.sealbox_session_id = ""
            try:
                task = asyncio.get_running_loop().create_task(
                    asyncio.to_thread(self.sealbox_end_session, session_id)
                )
                _BACKGROUND.add(task)  # held until done, so that it is not collected half-way
                task.add_done_callback(_BACKGROUND.discard)
            except RuntimeError:
                self.sealbox_end_session(session_id)
        cast(Any, super()).clear_state()


class SealboxLocalProcessSpawner(_LocalSealbox, LocalProcessSpawner):  # type: ignore[misc]
    """LocalProcessSpawner (servers run as the users' system accounts) with sealbox's secrets."""


class SealboxSimpleLocalProcessSpawner(_LocalSealbox, SimpleLocalProcessSpawner):  # type: ignore[misc]
    """SimpleLocalProcessSpawner (servers run as the hub's own user; for tests and demos) with secrets."""

    def sealbox_owner(self) -> tuple[int, int]:
        return os.getuid(), os.getgid()


def clean_leftovers(*, url: str, token_file: str, memory_base: str = "") -> list[str]:
    """What the hub calls once at start (`configure` does): remove the folders that servers which are gone
    left behind, and end their sessions. Returns the sessions' ids."""
    root = local.hub_root(Path(memory_base) if memory_base else None)
    ended = []
    token = Path(token_file).read_text().strip() if token_file and Path(token_file).is_file() else ""
    for lease in local.stale_leases(root):
        local.remove_lease(root, lease.session_id)
        ended.append(lease.session_id)
        if token:
            try:
                with Client(url, token) as client:
                    client.end_service_session(lease.session_id)
            except ClientError:
                pass  # it expires on its own
    return ended


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
        "local": "sealbox.integrations.jupyterhub.spawner.SealboxLocalProcessSpawner",
        "simple": "sealbox.integrations.jupyterhub.spawner.SealboxSimpleLocalProcessSpawner",
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
        ended = clean_leftovers(url=url, token_file=token_file)
        if ended:
            print(f"sealbox: removed {len(ended)} folder(s) left by servers that are gone")
