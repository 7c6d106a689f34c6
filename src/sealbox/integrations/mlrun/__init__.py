"""MLRun: a session's secrets in MLRun code and in MLRun jobs on Kubernetes (docs/mlrun.md).

- `secret_provider`: for `mlrun.get_secret_or_env(key, secret_provider=secret_provider)`; serves from the
  session (its folder first, then the environment), as `sealbox.get_secret` does.
- `env_mappings`, `run_env_args`: a list of sealbox secrets as the `--env` mappings of `sealbox run`, whose
  variables `context.get_secret` reads (MLRun falls back to the environment; no `with_secrets` needed).
- `sealbox_secrets([...], client=...)`: a modifier for `fn.apply(...)` on a job that runs on Kubernetes;
  `redeem_job_secrets()` is the pod's side of it.

mlrun is optional: nothing here imports it (the modifier works on the function object MLRun hands it), and
the Kubernetes part loads the launcher and the kubernetes client only when used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sealbox.integrations.mlrun.provider import (
    SecretProvider,
    env_mappings,
    env_name,
    redeem_job_secrets,
    run_env_args,
    secret_provider,
)

if TYPE_CHECKING:
    from sealbox.integrations.mlrun.kubejob import SealboxSecrets, patch_function, sealbox_secrets

__all__ = [
    "SealboxSecrets",
    "SecretProvider",
    "env_mappings",
    "env_name",
    "patch_function",
    "redeem_job_secrets",
    "run_env_args",
    "sealbox_secrets",
    "secret_provider",
]

_KUBEJOB = {"SealboxSecrets", "patch_function", "sealbox_secrets"}


def __getattr__(name: str) -> Any:
    # The modifier's module loads msgspec and the Kubernetes names: only when asked for.
    if name in _KUBEJOB:
        value = getattr(import_module("sealbox.integrations.mlrun.kubejob"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sealbox.integrations.mlrun' has no attribute {name!r}")
