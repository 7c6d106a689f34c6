"""sealbox: secrets for data-science sessions and jobs.

In a session: `from sealbox import get_secret`; `get_secret("db_password")`,
`get_secret("aws", field="secret_access_key")`, `get_secret("X", default=None)`.
Every name here but the errors is loaded when first asked for (as httpx loads its CLI): `get_secret`
loads the providers only (reading a mounted folder needs no HTTP client and no cryptography),
`sealbox.Client` the HTTP client, and `sealbox run` (which imports `sealbox.cli`) none of the SDK.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sealbox.errors import (
    AmbiguousCredential,
    ClientError,
    CredentialNotFound,
    DecryptionError,
    SealboxError,
    SecretNotFound,
    SecretSwitchedOff,
)

if TYPE_CHECKING:
    from sealbox.sdk.client import Client
    from sealbox.sdk.credentials import get_credential
    from sealbox.sdk.providers import EnvProvider, FileProvider, FolderProvider, InlineProvider
    from sealbox.sdk.secrets import get_secret, mask_logging, set_providers

__all__ = [
    "AmbiguousCredential",
    "Client",
    "ClientError",
    "CredentialNotFound",
    "DecryptionError",
    "EnvProvider",
    "FileProvider",
    "FolderProvider",
    "InlineProvider",
    "SealboxError",
    "SecretNotFound",
    "SecretSwitchedOff",
    "get_credential",
    "get_secret",
    "mask_logging",
    "set_providers",
]
__version__ = "0.1.0"

_LAZY_MODULES = {
    "sealbox.sdk.client": ("Client",),
    "sealbox.sdk.credentials": ("get_credential",),
    "sealbox.sdk.providers": ("EnvProvider", "FileProvider", "FolderProvider", "InlineProvider"),
    "sealbox.sdk.secrets": ("get_secret", "mask_logging", "set_providers"),
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sealbox' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
