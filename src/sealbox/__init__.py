"""sealbox: secrets for data-science sessions and jobs.

In a session: `from sealbox import get_secret`; `get_secret("db_password")`,
`get_secret("aws", field="secret_access_key")`, `get_secret("X", default=None)`.
`import sealbox` and `get_secret` load only the error tree and the providers (reading a mounted folder
needs no HTTP client and no cryptography); `sealbox.Client` loads the HTTP client when first named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sealbox.errors import (
    AmbiguousCredential,
    ClientError,
    CredentialNotFound,
    DecryptionError,
    SealboxError,
    SecretNotFound,
)
from sealbox.sdk.credentials import get_credential
from sealbox.sdk.providers import EnvProvider, FileProvider, FolderProvider, InlineProvider
from sealbox.sdk.secrets import get_secret, mask_logging, set_providers

if TYPE_CHECKING:
    from sealbox.sdk.client import Client

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
    "get_credential",
    "get_secret",
    "mask_logging",
    "set_providers",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # As httpx imports its CLI: the HTTP client (http.client, and ssl for https) only when asked for.
    if name == "Client":
        from sealbox.sdk.client import Client

        globals()["Client"] = Client
        return Client
    raise AttributeError(f"module 'sealbox' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Client"})
