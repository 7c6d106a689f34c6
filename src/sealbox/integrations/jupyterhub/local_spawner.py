"""The local spawners with sealbox (LocalProcessSpawner, SimpleLocalProcessSpawner): the hub redeems the
session itself, writes the files into a private folder in memory owned by the server's user, and removes
the folder (and ends the session) when the server stops, or after a crash when the hub starts again."""

from __future__ import annotations

import asyncio
import os
import pwd
import sys
import time
from pathlib import Path
from typing import Any, cast

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
from tornado import web
from traitlets import Bool, Unicode

from sealbox.domain.sessions import DEFAULT_MOUNT_PATH
from sealbox.errors import BadRequest, ClientError, SealboxError
from sealbox.integrations.jupyterhub import local
from sealbox.integrations.jupyterhub.options import Selection
from sealbox.integrations.jupyterhub.spawner import SealboxSpawner, as_hub_error
from sealbox.launcher.environ import child_environment
from sealbox.launcher.formats.plan import render_session
from sealbox.launcher.redeem import Delivered
from sealbox.sdk.client import Client

_BACKGROUND: set[asyncio.Task[None]] = set()
# A Jupyter config folder that enables the sealbox.ipython server extension (redaction, pre-save hook).
REDACTION_CONFIG = Path(__file__).resolve().parents[2] / "ipython" / "jupyter-config"


class _LocalSealbox(SealboxSpawner):
    """The local spawners' part: redeem here, write the folder, set the environment, clean up."""

    mount_path_note = (
        "Servers on this machine get their files in a private folder in memory ($SEALBOX_SECRETS_DIR); "
        "the mount path applies to servers in containers."
    )
    sealbox_memory_base = Unicode(
        "", config=True, help="Where the folders go (a memory filesystem); default /dev/shm."
    )
    sealbox_redact_outputs = Bool(
        True,
        config=True,
        help="Redact the session's values from cell outputs, saved notebooks and the kernels' log "
        "(the sealbox.ipython server extension, through JUPYTER_CONFIG_PATH).",
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
        created = self.sealbox_start_session(selection, mount_path=str(root))
        session_id = created.session.id
        self.sealbox_session_id = session_id
        try:
            with HTTPClient(self.sealbox_url) as anonymous:
                delivery = redeem(
                    anonymous,
                    session_id=session_id,
                    credential=created.session_credential,
                    keeper_url=self.sealbox_keeper_url or None,
                )
            formatted = None
            if selection.formats():  # rendered before anything is written: a refusal leaves nothing
                formatted = render_session(
                    delivery.items,
                    selection.formats(),
                    root=str(root / session_id),
                    python=sys.executable,
                    base={},
                )
            folder = local.write_folder(
                root,
                session_id=session_id,
                user=self.user.name,
                items=delivery.items,
                uid=uid,
                gid=gid,
                formatted=formatted,
            )
            self._sealbox_env = self._environment(delivery.items, folder, session_id)
            self._sealbox_env.update(formatted.env if formatted else {})
        except ClientError as error:
            self._cleanup()
            raise as_hub_error(error) from None
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
        if self.sealbox_redact_outputs and "SEALBOX_SESSION_ID" in env:
            env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
                p for p in (str(REDACTION_CONFIG), env.get("JUPYTER_CONFIG_PATH", "")) if p
            )
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
