"""The names sealbox gives its Kubernetes objects (labels, annotations, volumes, containers, paths), the
error for a pod spec it cannot patch, and the checks of the names it is given."""

from __future__ import annotations

import base64
import re

from sealbox.errors import PodSpecError

IMAGE = "sealbox:0.1.0"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "sealbox"
LABEL_SESSION = "sealbox.io/session"
LABEL_SESSION_SIDE = "sealbox.io/session-side"  # the keeper's NetworkPolicy admits pods with this label
LABEL_SYNC = "sealbox.io/sync"
ANNOTATION_SECRET = "sealbox.io/secret"  # noqa: S105 -- a name, not a credential  # nosec B105
ANNOTATION_VERSION = "sealbox.io/version"
ANNOTATION_KIND = "sealbox.io/kind"
ANNOTATION_PURPOSE = "sealbox.io/purpose"

SECRETS_VOLUME = "sealbox-secrets"
CREDENTIAL_VOLUME = "sealbox-credential"
TOKEN_VOLUME = "sealbox-service-token"  # noqa: S105 -- a name, not a credential  # nosec B105
INIT_CONTAINER = "sealbox-init"
REFRESH_CONTAINER = "sealbox-refresh"
# Where sealbox's own containers see the volumes. The emptyDir's root belongs to root (mode 0777); the
# init container makes its own 0700 folder `secrets` inside it, and the app containers mount only that.
VOLUME_ROOT = "/run/sealbox"
SUBDIR = "secrets"
TARGET = f"{VOLUME_ROOT}/{SUBDIR}"
CREDENTIAL_DIR = "/run/sealbox-credential"
TOKEN_DIR = "/run/sealbox-token"  # noqa: S105 -- a name, not a credential  # nosec B105
CREDENTIAL_KEY = "credential"
SESSION_KEY = "session-id"
TOKEN_KEY = "token"  # noqa: S105 -- a name, not a credential  # nosec B105
CREDENTIAL_MODE = 0o400
DEFAULT_SIZE_LIMIT = "16Mi"
DEFAULT_REFRESH_INTERVAL_S = 60.0

_SESSION_ID = re.compile(r"[a-f0-9]{32}")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def check_session_id(session_id: str) -> str:
    if not _SESSION_ID.fullmatch(session_id):
        raise PodSpecError("a session id is 32 lowercase hex digits")
    return session_id


def check_name(name: str, what: str) -> str:
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        raise PodSpecError(f"{what} must be a DNS-1123 subdomain (lowercase letters, digits, '-', '.')")
    return name


def check_mount_path(path: str) -> str:
    parts = path.split("/")
    if not path.startswith("/") or path == "/" or "\x00" in path or ":" in path:
        raise PodSpecError("the mount path must be an absolute path below /, without ':'")
    if any(p in {".", ".."} for p in parts):
        raise PodSpecError("the mount path must not contain '.' or '..'")
    return path.rstrip("/")


def session_pod_labels(session_id: str) -> dict[str, str]:
    """Labels for a session pod: its session, and the one the keeper's NetworkPolicy admits."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_SESSION: check_session_id(session_id),
        LABEL_SESSION_SIDE: "true",
    }
