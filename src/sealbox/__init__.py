"""sealbox: secrets for data-science sessions and jobs.

`import sealbox` loads only the SDK (httpx and the error tree): no FastAPI, no SQLAlchemy.
"""

from __future__ import annotations

from sealbox.errors import ClientError, DecryptionError, SealboxError, SecretNotFound
from sealbox.sdk.client import Client

__all__ = ["Client", "ClientError", "DecryptionError", "SealboxError", "SecretNotFound"]
__version__ = "0.1.0"
