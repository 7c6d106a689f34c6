"""The access rule: who may see and use which secret, at which level, and which live sessions they see.

One rule for the API, the web pages, sessions and the audit: a secret of someone else's that the
caller has no grant on does not exist for them (404, exactly as a missing one); one they can see but
not act on is a 403, noted for the request's denial record (server/denials.py).
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from msgspec.structs import replace

from sealbox.domain.grants import Level, at_least
from sealbox.domain.names import check_secret_name, check_user_name
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import Secret
from sealbox.domain.sessions import LiveSession
from sealbox.errors import Forbidden, NotFound
from sealbox.services.ports import UnitOfWork

# The secrets a request was refused on although the caller may see them (403, not 404): a list set
# by the denial middleware around each API request, shared with the threadpool's copy of the context.
_DENIED_SECRETS: ContextVar[list[str] | None] = ContextVar("sealbox_denied_secrets", default=None)


def watch_denials() -> tuple[Token[list[str] | None], list[str]]:
    found: list[str] = []
    return _DENIED_SECRETS.set(found), found


def stop_watching(token: Token[list[str] | None]) -> None:
    _DENIED_SECRETS.reset(token)


def note_denied_secret(secret_id: str) -> None:
    """Remember, for this request's denial record, the secret the caller can see but may not touch."""
    found = _DENIED_SECRETS.get()
    if found is not None:
        found.append(secret_id)


def resolve(
    uow: UnitOfWork,
    requested_by: Principal,
    name: str,
    owner: str | None,
    need: Level,
    *,
    with_versions: bool = False,
    deleted: bool = False,
) -> Secret:
    """The secret `owner/name` (own when `owner` is None) with the caller's level, if at least `need`;
    `deleted`: one in its recovery window (any other secret is not there for that).

    Raises NotFound when the caller has no access at all (exactly as for a missing secret), and
    Forbidden when they can see it but not do this.
    """
    check_secret_name(name)
    repo = uow.secrets
    me = requested_by.user
    if owner is None or owner == me.name:
        found = repo.get(owner_id=me.id, name=name, with_versions=with_versions, deleted=deleted)
        level: Level | None = Level.OWNER if found else None
    else:
        check_user_name(owner)
        found = repo.get_by_owner_name(
            owner_name=owner, name=name, with_versions=with_versions, deleted=deleted
        )
        level = uow.sharing.level_of(found.id, me.id) if found else None
    if found is None or level is None:
        raise NotFound("no such secret")
    if not at_least(level, need):
        note_denied_secret(found.id)  # they may see it: its owner may see the refusal too
        raise Forbidden(f"this needs the {need.value} level on the secret", code="insufficient_level")
    return with_access(found, level)


def visible_sessions(secret: Secret, requested_by: Principal, live: list[LiveSession]) -> list[LiveSession]:
    """The live sessions mounting `secret` that the caller may know of: all for its owner and `manage`
    grantees (they end them after a revocation), only their own for `use` and `write` grantees."""
    if secret.access in (Level.OWNER.value, Level.MANAGE.value):
        return live
    return [s for s in live if s.owner == requested_by.user.name]


def with_access(secret: Secret, level: Level) -> Secret:
    if secret.access == level.value:  # rows come as "owner": most need no copy (a page has up to 500)
        return secret
    return replace(secret, access=level.value)
