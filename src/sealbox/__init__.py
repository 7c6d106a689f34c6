"""sealbox: secrets for data-science sessions and jobs.

In a session: `from sealbox import get_secret`; `get_secret("db_password")`,
`get_secret("aws", field="secret_access_key")`, `get_secret("X", default=None)`.
`import sealbox` loads only the SDK (httpx and the error tree): no FastAPI, no SQLAlchemy.
"""

from __future__ import annotations

from sealbox.errors import (
    AmbiguousCredential,
    ClientError,
    CredentialNotFound,
    DecryptionError,
    SealboxError,
    SecretNotFound,
)
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
    "get_credential",
    "get_secret",
    "mask_logging",
    "set_providers",
]
__version__ = "0.1.0"
