"""KubeSpawner with sealbox: the pod gets the init container, the memory emptyDir and the credential Secret.

At spawn the hub creates the user's session (with the chosen mount path), puts its one-time launch
credential into a short-lived Secret that holds nothing else (`kubernetes.credential_secret`), and patches
the pod (`kubernetes.patch_pod`, the same code as `sealbox.integrations.kubernetes.modify_pod_hook`): the
init container redeems the credential into an `emptyDir` with `medium: Memory`, mounted read-only at the
mount path. Values never pass through the hub or etcd. Variables are not delivered into pods (they would
sit in the pod spec); a choice with a variable is refused with 400. Stopping ends the session and deletes
the Secret.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubespawner import KubeSpawner
from traitlets import Integer, Unicode

from sealbox.integrations.jupyterhub.spawner import SealboxSpawner
from sealbox.integrations.kubernetes import (
    IMAGE,
    SPAWNER_ATTRIBUTE,
    KubeSession,
    credential_secret,
    modify_pod_hook,
)

__all__ = ["SealboxKubeSpawner", "credential_secret_name", "modify_pod_hook"]


def credential_secret_name(session_id: str) -> str:
    return f"sealbox-session-{session_id}"


class SealboxKubeSpawner(SealboxSpawner, KubeSpawner):  # type: ignore[misc]  # untyped bases
    """KubeSpawner whose pods receive the chosen secrets at the chosen mount path (files only)."""

    allow_env = False
    sealbox_pod_url = Unicode(
        "", config=True, help="The sealbox server's URL as pods reach it (default: sealbox_url)."
    )
    sealbox_credential_ttl = Integer(
        300,
        config=True,
        help="How long the pod's one-time credential stays valid (60-900 s): scheduling and image pulls.",
    )
    sealbox_image = Unicode(
        IMAGE, config=True, help="The image with the `sealbox` command for the init container."
    )

    async def get_pod_manifest(self) -> Any:
        pod = await super().get_pod_manifest()
        return modify_pod_hook(self, pod)

    def sealbox_kube_session(
        self, session_id: str, credential: str, mount_path: str, formats: dict[str, str] | None = None
    ) -> tuple[KubeSession, dict[str, Any]]:
        """The pod's session description and the credential Secret's manifest for a created session."""
        name = credential_secret_name(session_id)
        secret = credential_secret(
            name=name,
            session_id=session_id,
            credential=credential,
            namespace=self.namespace,
        )
        description = KubeSession(
            session_id=session_id,
            credential_secret_name=name,
            server_url=self.sealbox_pod_url or self.sealbox_url,
            keeper_url=self.sealbox_keeper_url or None,
            mount_path=mount_path,
            image=self.sealbox_image,
            formats=formats or None,
        )
        return description, secret

    async def start(self) -> Any:
        selection = self.sealbox_selection()
        setattr(self, SPAWNER_ATTRIBUTE, None)
        if selection is None:
            return await super().start()
        created = await asyncio.to_thread(
            self.sealbox_start_session,
            selection,
            mount_path=selection.mount_path,
            credential_ttl=self.sealbox_credential_ttl,
        )
        description, secret = self.sealbox_kube_session(
            created.session.id, created.session_credential, selection.mount_path, selection.formats()
        )
        self.sealbox_session_id = description.session_id
        try:
            await self.api.create_namespaced_secret(self.namespace, secret)
            setattr(self, SPAWNER_ATTRIBUTE, description)
            return await super().start()
        except BaseException:
            await self._sealbox_cleanup()
            raise

    async def _sealbox_cleanup(self) -> None:
        session_id, self.sealbox_session_id = self.sealbox_session_id, ""
        setattr(self, SPAWNER_ATTRIBUTE, None)
        if not session_id:
            return
        try:
            await self.api.delete_namespaced_secret(credential_secret_name(session_id), self.namespace)
        except Exception as error:  # already gone, or the API is down: it holds a spent credential
            self.log.info("sealbox: credential Secret not deleted (%s)", type(error).__name__)
        await asyncio.to_thread(self.sealbox_end_session, session_id)

    async def stop(self, now: bool = False) -> Any:
        try:
            return await super().stop(now=now)
        finally:
            await self._sealbox_cleanup()
