"""One secret's metadata for a personal access token, from one statement that read both (PostgreSQL).

The general path authenticates (services/identity.py), then resolves the secret (services/access.py)
and its live sessions, a statement each. `read_at_once` takes the same decisions, with the same
functions, from one statement's answer (store/secret_read.py), for the case that is nearly all the
traffic: a well-formed token that checks, a valid name, a secret the caller may see. For anything
else it answers None and the caller takes the general path, which then decides and answers (a 401
and its failure count, a 400, a 404) exactly as it always did: nothing is decided twice, and nothing
read here outlives the request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sealbox.domain.grants import Level, at_least, best
from sealbox.domain.names import is_valid_secret_name, is_valid_user_name
from sealbox.domain.principals import AccessToken, Principal, User
from sealbox.domain.secrets import Secret
from sealbox.domain.sessions import LiveSession
from sealbox.services.access import visible_sessions, with_access
from sealbox.services.tokens import token_parts, verified


class SecretWithToken(Protocol):
    @property
    def token(self) -> AccessToken: ...
    @property
    def secret_hash(self) -> bytes: ...
    @property
    def user(self) -> User: ...
    @property
    def secret(self) -> Secret | None: ...
    @property
    def levels(self) -> tuple[Level, ...]: ...
    @property
    def live(self) -> tuple[LiveSession, ...]: ...


class SecretReadAtOnce(Protocol):
    def read(
        self, token_id: str, *, owner_name: str | None, name: str, now: datetime
    ) -> SecretWithToken | None:
        """The token with its user, and the secret `owner_name/name` (the token user's own when None)
        with its versions, the grant levels the token's user holds on it and its live sessions."""
        ...


def read_at_once(
    reads: SecretReadAtOnce,
    bearer: str,
    name: str,
    *,
    owner: str | None,
    now: datetime,
    client_addr: str | None,
) -> tuple[Principal, Secret, list[LiveSession]] | None:
    """The principal, the secret with its versions and the live sessions it may know of; None: take
    the general path (it decides whatever this does not)."""
    parts = token_parts(bearer)
    if parts is None or not is_valid_secret_name(name) or not (owner is None or is_valid_user_name(owner)):
        return None  # the general path answers it, after authenticating
    token_id, secret_part = parts
    found = reads.read(token_id, owner_name=owner, name=name, now=now)
    principal = verified(
        None if found is None else (found.token, found.secret_hash, found.user),
        token_id,
        secret_part,
        now=now,
        client_addr=client_addr,
    )
    if principal is None or found is None or found.secret is None:
        return None
    secret = found.secret
    level = Level.OWNER if secret.owner_id == principal.user.id else best(list(found.levels))
    if level is None or not at_least(level, Level.USE):
        return None
    secret = with_access(secret, level)
    return principal, secret, visible_sessions(secret, principal, list(found.live))
