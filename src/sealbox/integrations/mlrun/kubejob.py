"""`fn.apply(sealbox_secrets([...]))`: an MLRun job that runs on Kubernetes receives a session's files.

MLRun's job runtime (`KubejobRuntime`) builds one container per pod and offers no init containers (see
docs/mlrun.md for what was checked), so the job redeems its credential itself, as `sealbox kube init` would:

1. At `apply`, a sealbox session is created for the caller with the chosen secrets as files, and its
   one-time credential goes into a per-job Kubernetes Secret (`credential_secret`: the credential and the
   session id, nothing else; labelled with the session so `sealbox kube end`/`kube gc` remove it).
2. The function gets that Secret as a read-only volume (mode 0400), a memory `emptyDir` for the files, the
   variables that name them, and the labels the keeper's NetworkPolicy admits.
3. In the pod, the first `secret_provider(key)` (or `redeem_job_secrets()`) redeems the credential into a
   0700 folder on that emptyDir; `sealbox.get_secret` and `mlrun.get_secret_or_env` then read the files.

No value reaches the pod spec, the Secret or MLRun's run record: only the credential, which the first
redemption spends (it lives 60 to 900 s: apply just before `run`, once per run).
"""

from __future__ import annotations

import contextlib
import secrets as _random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sealbox.errors import PodSpecError, SealboxError
from sealbox.integrations.kubernetes.credential import credential_secret
from sealbox.integrations.kubernetes.names import (
    CREDENTIAL_DIR,
    CREDENTIAL_KEY,
    CREDENTIAL_MODE,
    CREDENTIAL_VOLUME,
    DEFAULT_SIZE_LIMIT,
    SECRETS_VOLUME,
    SESSION_KEY,
    TARGET,
    VOLUME_ROOT,
    check_name,
    session_pod_labels,
)
from sealbox.integrations.mlrun.provider import CREDENTIAL_DIR_ENV, KEEPER_URL_ENV, SERVER_URL_ENV

if TYPE_CHECKING:
    from sealbox.sdk.client import Client

MAX_CREDENTIAL_TTL = 900


def job_volumes(credential_secret_name: str, size_limit: str = DEFAULT_SIZE_LIMIT) -> list[dict[str, Any]]:
    """The memory emptyDir the job redeems into, and the credential Secret's volume (0400)."""
    return [
        {"name": SECRETS_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": size_limit}},
        {
            "name": CREDENTIAL_VOLUME,
            "secret": {
                "secretName": check_name(credential_secret_name, "the credential Secret's name"),
                "defaultMode": CREDENTIAL_MODE,
                "optional": False,
                "items": [
                    {"key": CREDENTIAL_KEY, "path": CREDENTIAL_KEY},
                    {"key": SESSION_KEY, "path": SESSION_KEY},
                ],
            },
        },
    ]


def job_mounts() -> list[dict[str, Any]]:
    """The job's container mounts the emptyDir's root (it makes its own 0700 folder there) and the
    credential read-only."""
    return [
        {"name": SECRETS_VOLUME, "mountPath": VOLUME_ROOT},
        {"name": CREDENTIAL_VOLUME, "mountPath": CREDENTIAL_DIR, "readOnly": True},
    ]


def job_env(server_url: str, keeper_url: str | None) -> dict[str, str]:
    """Where the job finds its credential, its server, and (after redemption) its files. No value."""
    if not server_url.startswith(("http://", "https://")):
        raise PodSpecError("the server URL starts with http:// or https://")
    env = {CREDENTIAL_DIR_ENV: CREDENTIAL_DIR, SERVER_URL_ENV: server_url, "SEALBOX_SECRETS_DIR": TARGET}
    if keeper_url:
        env[KEEPER_URL_ENV] = keeper_url
    return env


@dataclass(kw_only=True)
class SealboxSecrets:
    """The modifier `sealbox_secrets(...)` returns; after `fn.apply(it)`, `session_id` and `secret` (the
    credential Secret's manifest, as applied) say what was made. Its repr shows no credential."""

    secrets: tuple[str, ...]
    client: Client = field(repr=False)
    server_url: str
    keeper_url: str | None = None
    namespace: str | None = None
    project: str | None = None
    credential_ttl: int = MAX_CREDENTIAL_TTL
    secret_name: str | None = None
    kubeconfig: str | None = None
    apply_secret: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False)
    session_id: str | None = None
    secret: dict[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # MLRun's `apply` reads the modifier's __qualname__ (to tell its own mount modifiers), which an
        # instance lacks: name it as the function that made it.
        self.__qualname__ = "sealbox_secrets"

    def __call__(self, fn: Any) -> Any:
        """MLRun calls this from `fn.apply(...)`: make the session and its Secret, then patch `fn`."""
        if self.session_id is not None:
            raise PodSpecError("this sealbox_secrets(...) was applied already: make one per job run")
        _check_function(fn)  # before anything is made
        namespace = self.namespace or _function_namespace(fn)
        session_id, credential = self._create_session()
        name = self.secret_name or f"sealbox-mlrun-{session_id[:12]}-{_random.token_hex(3)}"
        try:
            manifest = credential_secret(
                name=name, session_id=session_id, credential=credential, namespace=namespace
            )
            del credential
            if self.apply_secret is not None:
                self.apply_secret(manifest)
            else:
                _put_secret(manifest, self.kubeconfig)
        except BaseException:
            # No Secret, no use for the session: end it, so its credential opens nothing later.
            with contextlib.suppress(SealboxError):
                self.client.end_session(session_id)
            raise
        self.session_id, self.secret = session_id, manifest
        patch_function(
            fn,
            session_id=session_id,
            credential_secret_name=name,
            server_url=self.server_url,
            keeper_url=self.keeper_url,
        )
        return fn

    def _create_session(self) -> tuple[str, str]:
        from sealbox.launcher.spec import parse_secret_option
        from sealbox.protocol.session_api import SessionCreate, SessionSecretIn

        mappings = [parse_secret_option(option) for option in self.secrets]
        request = SessionCreate(
            secrets=[SessionSecretIn(name=m.secret, field=m.field, file=m.file) for m in mappings],
            project=self.project,
            credential_ttl_seconds=self.credential_ttl,
        )
        created = self.client.create_session(request)
        return created.session.id, created.session_credential


def patch_function(
    fn: Any, *, session_id: str, credential_secret_name: str, server_url: str, keeper_url: str | None = None
) -> Any:
    """Give an MLRun Kubernetes function (job) the volumes, mounts, variables and labels of a session
    whose credential is in the Secret `credential_secret_name`. Uses MLRun's own API on the function
    (`spec.update_vols_and_mounts`, `set_env`, `metadata.labels`); returns `fn`."""
    _check_function(fn)
    spec = fn.spec
    taken = {v.get("name") for v in _volumes(spec)}
    if taken & {SECRETS_VOLUME, CREDENTIAL_VOLUME}:
        raise PodSpecError("the function already has sealbox's volumes (applied twice?)")
    spec.update_vols_and_mounts(job_volumes(credential_secret_name), job_mounts())
    for name, value in job_env(server_url, keeper_url).items():
        fn.set_env(name, value)
    labels = fn.metadata.labels if fn.metadata.labels is not None else {}
    labels.update(session_pod_labels(session_id))
    fn.metadata.labels = labels
    return fn


def _check_function(fn: Any) -> None:
    spec = getattr(fn, "spec", None)
    if spec is None or not hasattr(spec, "update_vols_and_mounts") or not hasattr(fn, "set_env"):
        raise PodSpecError("sealbox_secrets applies to MLRun functions that run in pods (kind job)")


def _volumes(spec: Any) -> list[dict[str, Any]]:
    volumes = getattr(spec, "volumes", None) or []
    return [v if isinstance(v, dict) else v.to_dict() for v in volumes]


def _function_namespace(fn: Any) -> str | None:
    namespace = getattr(getattr(fn, "metadata", None), "namespace", None)
    return str(namespace) if namespace else None


def _put_secret(manifest: dict[str, Any], kubeconfig: str | None) -> None:
    """Create the credential Secret through the Kubernetes API (kubeconfig or the pod's account)."""
    from sealbox.integrations.kubeapply import KubeApplier, core_api

    if not (manifest.get("metadata") or {}).get("namespace"):
        raise PodSpecError("the credential Secret needs a namespace: give namespace=, or set the function's")
    KubeApplier(core_api(kubeconfig=kubeconfig)).put_secret(manifest, replace=False)


def sealbox_secrets(
    secrets: Sequence[str],
    *,
    client: Client,
    server_url: str | None = None,
    keeper_url: str | None = None,
    namespace: str | None = None,
    project: str | None = None,
    credential_ttl: int = MAX_CREDENTIAL_TTL,
    secret_name: str | None = None,
    kubeconfig: str | None = None,
    apply_secret: Callable[[dict[str, Any]], None] | None = None,
) -> SealboxSecrets:
    """A modifier for `fn.apply(...)`: the job's pod receives these secrets (`NAME`, `NAME.FIELD`,
    `NAME:FILE`, as `sealbox run --secret`) as files, through a one-time credential.

    `client` (`sealbox.Client(url, token)`) creates the session as its user; the pod reaches the server at
    `server_url` (the in-cluster address, e.g. `http://sealbox.sealbox.svc:8480`), else the client's URL.
    The credential Secret goes to `namespace` (else the function's) through the Kubernetes API
    (`sealbox[kubernetes]`; `kubeconfig`, else KUBECONFIG, ~/.kube/config or the pod's service account),
    or to `apply_secret(manifest)` when given. `credential_ttl` (60-900 s): how long the pod has to start
    before the credential lapses.
    """
    if not secrets:
        raise PodSpecError("name at least one secret")
    if not 60 <= credential_ttl <= MAX_CREDENTIAL_TTL:
        raise PodSpecError("credential_ttl is 60-900 seconds")
    return SealboxSecrets(
        secrets=tuple(secrets),
        client=client,
        server_url=server_url or client.http.url,
        keeper_url=keeper_url,
        namespace=namespace,
        project=project,
        credential_ttl=credential_ttl,
        secret_name=secret_name,
        kubeconfig=kubeconfig,
        apply_secret=apply_secret,
    )
