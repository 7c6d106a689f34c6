"""Every exception sealbox raises, in one tree.

    SealboxError
    ├── DecryptionError            a ciphertext did not open (any reason; no detail, no oracle)
    ├── ConfigError                settings or key files are missing or unsafe
    │   └── OpenBaoError           OpenBao/Vault refused a call, is sealed or unreachable
    ├── TimeFormatError            not an RFC 3339 time (also a ValueError)
    ├── ConstraintViolation        a write broke a database constraint (two creates raced); services
    │                              answer it with a Conflict
    ├── SecretNotFound             get_secret() found the name in no provider
    │   └── CredentialNotFound     get_credential() found no credential whose scope matches
    ├── SecretSwitchedOff          get_secret() in a notebook whose JupyterLab switch for it is off
    ├── AmbiguousCredential        get_credential() found two that match equally
    ├── BinarySecretError          get_secret() returns text; that secret is bytes
    ├── PodSpecError               a pod spec cannot be patched as asked (also a ValueError)
    │   └── KubeAPIError           the Kubernetes API server refused or could not be reached
    ├── WorkspaceError             an entry the Kubeflow Workspace CRD would refuse (also a ValueError)
    ├── OptionsError               a JupyterHub spawner choice that is not valid (also a ValueError)
    ├── ClientError                a client's view of an error answer (status 0: no answer); from
    │   │                          transport.error_from_response, also an instance of the class below
    │   ├── BadRequestAnswer ... UnavailableAnswer   (one per ServiceError class: 400 ... 503)
    │   └── KeeperRefused          403  launch_refused: the keeper refused a ticket (also Unavailable)
    └── ServiceError               a failure with an HTTP status, a stable code and a fixed message
        ├── BadRequest                 400  invalid_request, invalid_name, invalid_value, ...
        ├── Unauthenticated            401  unauthenticated
        │   └── CredentialRefused      401  invalid_credential (a session credential: used, expired, ...)
        ├── Forbidden                  403  forbidden
        ├── NotFound                   404  not_found (also for what exists but is not yours)
        ├── Conflict                   409  already_exists, version_conflict
        ├── PayloadTooLarge            413  payload_too_large
        ├── RateLimited                429  rate_limited (with retry_after)
        ├── CiphertextIntegrityError   422  integrity_error (a stored ciphertext failed to open)
        └── Unavailable                503  keeper_unavailable, database_unavailable, storage_full,
                                            audit_unavailable

Three private exceptions stay beside the server code that raises and catches them, because no caller
ever sees them: `server/web/pages.py::_SignIn` is the page dependency's signal to redirect to the
sign-in page, and `server/middleware.py::_TooLarge`/`_TooSlow` must be starlette `HTTPException`s so
that FastAPI's body parser lets them through to the middleware, which answers 413/408 itself.

Messages are fixed strings written here or at the raise site; they never carry a value, a key,
a token or a piece of the request body.
"""

from __future__ import annotations


class SealboxError(Exception):
    """Base of every sealbox exception."""


class DecryptionError(SealboxError):
    """A ciphertext could not be opened: wrong key, wrong context, or tampered bytes."""

    def __init__(self) -> None:
        super().__init__("ciphertext could not be opened")


class ConfigError(SealboxError):
    """Settings, key files or the data directory are missing or unsafe."""


SERVER_PART = "server"  # the backup part with the database copy and the server's keys
KEEPER_PART = "keeper"  # the backup part with the keeper's keys


class BackupRefused(ConfigError):
    """A backup whose key material does not open its rows; `part` names which: SERVER_PART or KEEPER_PART."""

    def __init__(self, part: str, message: str) -> None:
        self.part = part
        super().__init__(message)


class ConstraintViolation(SealboxError):
    """A write broke a unique or foreign-key constraint: raised by the store for its driver's error, so that
    services need no database library to tell it apart (a race the constraint decided)."""

    def __init__(self) -> None:
        super().__init__("a write broke a database constraint")


class TimeFormatError(SealboxError, ValueError):
    """Not an RFC 3339 time (the message never repeats the text)."""


class SecretNotFound(SealboxError, KeyError):
    """`get_secret()` found the name in none of its providers."""

    def __init__(self, name: str, places: list[str], *, hint: str | None = None) -> None:
        self.name = name
        self.places = places
        self.hint = hint
        message = f"secret {name!r} not found; looked in: {', '.join(places) or 'no provider'}"
        super().__init__(f"{message} ({hint})" if hint else message)

    def __str__(self) -> str:
        return str(self.args[0])


class ClientError(SealboxError):
    """An error answer from the sealbox server, as the client sees it (status 0: no answer came).

    Built by `sealbox.transport.error_from_response`, which keeps the stable `code` and the server's fixed
    `message`, never the response body.
    """

    status_code: int
    code: str
    message: str

    def __init__(self, status_code: int, code: str, message: str) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field: str | None = None
        # Not super().__init__: in the *Answer classes the next class is a ServiceError, whose
        # __init__ would take the whole text for its message.
        SealboxError.__init__(self, f"{message} ({code}, HTTP {status_code})")


class ServiceError(SealboxError):
    """A failure the API reports with `status_code`, a stable `code` and a safe `message`."""

    status_code = 500
    code = "internal_error"
    message = "internal error"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, field: str | None = None
    ) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        self.field = field
        super().__init__(self.message)


class BadRequest(ServiceError):
    status_code = 400
    code = "invalid_request"
    message = "the request is not valid"


class Unauthenticated(ServiceError):
    status_code = 401
    code = "unauthenticated"
    message = "a valid token is required"


class CredentialRefused(Unauthenticated):
    """A session credential that is not valid; one message for every reason, the reason is for the audit."""

    code = "invalid_credential"
    message = "the session credential is not valid (used, expired, or for another session)"

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason  # for the audit record only; the caller sees one message for every reason


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"
    message = "not allowed"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"
    message = "not found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"
    message = "the request conflicts with the current state"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"
    message = "request body too large"


class CiphertextIntegrityError(ServiceError):
    status_code = 422
    code = "integrity_error"
    message = "a stored ciphertext failed its integrity check"


class Unavailable(ServiceError):
    """A backing service failed; the request may work later. `database_unavailable`: the database
    cannot be reached or used (store/faults.py says which failures count); `storage_full`: the disk
    under the database is full (reads still work); `keeper_unavailable`; `audit_unavailable`: the
    record a change needs cannot be written, so the change is not made."""

    status_code = 503
    code = "unavailable"
    message = "a backing service is unavailable"


class SecretSwitchedOff(SealboxError, PermissionError):
    """`get_secret()` in a notebook whose switch for this secret is off in the JupyterLab sealbox panel."""

    def __init__(self, name: str, notebook: str) -> None:
        self.name = name
        self.notebook = notebook
        super().__init__(
            f"secret {name!r} is switched off for this notebook ({notebook}): turn on its switch in the "
            "sealbox panel of JupyterLab (a consent guard, not isolation)"
        )


class CredentialNotFound(SecretNotFound):
    """`get_credential()` found no mounted credential of that kind whose scope matches the resource."""


class AmbiguousCredential(SealboxError):
    """`get_credential()` found two mounted credentials that match the resource equally well."""


class BinarySecretError(SealboxError, ValueError):
    """`get_secret()` returns text; this secret is binary: read its file as bytes instead."""

    def __init__(self, name: str, path: object) -> None:
        super().__init__(f"secret {name!r} is binary, not text: read the file {path} as bytes")


class RateLimited(ServiceError):
    """Too many failed attempts from one client (or for one identity) this minute."""

    status_code = 429
    code = "rate_limited"
    message = "too many failed attempts; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class PodSpecError(SealboxError, ValueError):
    """The pod spec cannot be patched as asked (a name clash, an unknown user id, a bad option)."""


class KubeAPIError(PodSpecError):
    """The API server refused or could not be reached; the message names the object, never its data."""


class WorkspaceError(SealboxError, ValueError):
    """An entry that the Workspace CRD would refuse."""


class OptionsError(SealboxError, ValueError):
    """The choice is not valid; the message is safe to show (it never repeats what was submitted)."""


# The client's view of each ServiceError: `except NotFound` and `except ClientError` both catch a 404 answer.


class BadRequestAnswer(ClientError, BadRequest):
    """400 (and 422 invalid_request): the server refused the request as invalid."""


class UnauthenticatedAnswer(ClientError, Unauthenticated):
    """401: the token was refused."""


class ForbiddenAnswer(ClientError, Forbidden):
    """403: not allowed."""


class NotFoundAnswer(ClientError, NotFound):
    """404: not found, or not yours."""


class ConflictAnswer(ClientError, Conflict):
    """409: already exists, or a stale version."""


class PayloadTooLargeAnswer(ClientError, PayloadTooLarge):
    """413: the request body is too large."""


class CiphertextIntegrityErrorAnswer(ClientError, CiphertextIntegrityError):
    """422 integrity_error: a stored ciphertext failed to open."""


class RateLimitedAnswer(ClientError, RateLimited):
    """429: too many failed attempts; `retry_after` seconds (from the answer, else 60)."""

    retry_after: int = 60


class UnavailableAnswer(ClientError, Unavailable):
    """503: a backing service (keeper, database, storage, audit) is unavailable."""


class KeeperRefused(ClientError, Unavailable):
    """The keeper refused a session's ticket (403 launch_refused), or found an outer layer broken
    (`integrity`, answered as 422 integrity_error). `reason` is for the keeper's own audit log only: it is
    never part of the message or of an answer."""

    status_code = 403
    code = "launch_refused"
    message = "the keeper refused this launch"

    def __init__(
        self,
        status_code: int = 403,
        code: str = "launch_refused",
        message: str = "the keeper refused this launch",
        *,
        reason: str = "",
        integrity: bool = False,
    ) -> None:
        super().__init__(status_code, code, message)
        self.reason = reason
        self.integrity = integrity


class OpenBaoError(ConfigError):
    """OpenBao (or Vault) refused a call, is sealed, or cannot be reached. The message names the
    address, the operation and the path, never a token or a value. `status`: OpenBao's HTTP status (0:
    no answer)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
