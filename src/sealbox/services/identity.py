"""Who is calling: personal access tokens, OpenID Connect bearer tokens, or a trusted proxy's header.

Failed attempts are counted per client address and per normalised identity (the token id claimed,
or the proxy's user; case and Unicode variants share a bucket) in the database, so the limit holds
across server replicas. The credential is always checked first: a valid one is never refused by a
count, so a flood of bad tokens from a shared address (an ingress, a proxy) or under somebody's token
id locks nobody out. A failure over the limit is answered 429 with Retry-After instead of 401, and is
not counted or logged again (a flood costs one read a request, not a write). A limit cannot refuse a
correct guess without refusing the token's owner as well; what keeps guessing hopeless is the 256
random bits of a token's secret part, and the limit keeps a flood cheap and visible.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sealbox.domain.names import check_user_name, is_valid_secret_name
from sealbox.domain.principals import Principal, User
from sealbox.errors import BadRequest, Conflict, Unauthenticated
from sealbox.services import tokens, users
from sealbox.services.failure_limits import count_failure
from sealbox.services.keys import ServerKeys
from sealbox.services.ports import Store, UnitOfWork

log = logging.getLogger("sealbox.auth")
PROVIDER_GROUP = "oidc"  # groups created from identity-provider claims (membership follows the claims)
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


@dataclass(frozen=True, kw_only=True)
class OIDCSettings:
    issuer: str
    audience: str
    jwks_url: str | None = None
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")


@dataclass(kw_only=True)
class IdentitySettings:
    oidc: OIDCSettings | None = None
    trusted_proxies: tuple[str, ...] = ()
    proxy_user_header: str = "x-forwarded-user"
    failure_limit: int = 20
    _networks: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._networks = [
            ipaddress.ip_network(p.strip(), strict=False) for p in self.trusted_proxies if p.strip()
        ]

    def is_trusted_proxy(self, addr: str | None) -> bool:
        if not addr or not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self._networks)


def normalise_identity(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()[:100]


class Authenticator:
    def __init__(self, db: Store, keys: ServerKeys, settings: IdentitySettings) -> None:
        self.db = db
        self.keys = keys  # its master keyring wraps the user keys of people it creates
        self.settings = settings
        self._jwks: Any = None

    def authenticate(
        self, *, authorization: str | None, headers: dict[str, str], client_addr: str | None, now: datetime
    ) -> Principal:
        """Who is calling, or Unauthenticated (counted) / RateLimited; in a read transaction of its own."""
        with self.db.reading() as uow:
            return self.authenticate_in(
                uow, authorization=authorization, headers=headers, client_addr=client_addr, now=now
            )

    def authenticate_in(
        self,
        uow: UnitOfWork,
        *,
        authorization: str | None,
        headers: dict[str, str],
        client_addr: str | None,
        now: datetime,
    ) -> Principal:
        """As `authenticate`, in the caller's unit of work (a read the caller goes on to use: one
        transaction for the check and the data). A personal access token is checked in it; OpenID
        Connect and proxy identities may create users or sync groups, so they are checked in their own
        transactions, before `uow` has read anything."""
        identity = self._claimed_identity(authorization, headers, client_addr)
        buckets = [f"ip:{client_addr or '-'}"] + ([f"id:{identity}"] if identity else [])
        scheme, _, presented = (authorization or "").partition(" ")
        presented = presented.strip()
        bearer = presented if scheme.lower() == "bearer" and presented else None
        try:
            if bearer is not None and self._is_personal_token(bearer):
                return tokens.authenticate(uow.tokens, bearer, now=now, client_addr=client_addr)
            return self._external(bearer, headers, client_addr, now)
        except Unauthenticated:
            count_failure(self.db, buckets, now=now, limit=self.settings.failure_limit, counts=uow.failures)
            log.info("authentication failed from %s", client_addr or "-")
            raise

    def _is_personal_token(self, bearer: str) -> bool:
        """Anything but a JWT for a configured OpenID Connect issuer is checked as a personal token."""
        return bearer.startswith(tokens.PREFIX) or self.settings.oidc is None or not _JWT.fullmatch(bearer)

    def _claimed_identity(
        self, authorization: str | None, headers: dict[str, str], addr: str | None
    ) -> str | None:
        _, _, presented = (authorization or "").partition(" ")
        presented = presented.strip()
        if presented.startswith(tokens.PREFIX):
            return "token:" + normalise_identity(presented[len(tokens.PREFIX) : len(tokens.PREFIX) + 16])
        proxied = headers.get(self.settings.proxy_user_header)
        if proxied and self.settings.is_trusted_proxy(addr):
            return "user:" + normalise_identity(proxied)
        return None

    def _external(
        self, bearer: str | None, headers: dict[str, str], client_addr: str | None, now: datetime
    ) -> Principal:
        """An OpenID Connect bearer JWT, else the trusted proxy's header."""
        if bearer is not None:
            return self._from_oidc(bearer, client_addr, now)
        proxied = headers.get(self.settings.proxy_user_header)
        if proxied:
            if self.settings.is_trusted_proxy(client_addr):
                return Principal(
                    user=self.provision(proxied, external_id="proxy", groups=None, now=now),
                    token_id=None,
                    client_addr=client_addr,
                )
            log.warning("ignored %s header from an untrusted address", self.settings.proxy_user_header)
        raise Unauthenticated()

    def _from_oidc(self, token: str, client_addr: str | None, now: datetime) -> Principal:
        import jwt

        oidc = self.settings.oidc
        assert oidc is not None
        try:
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(
                    oidc.jwks_url or _discover_jwks(oidc.issuer), cache_keys=True, lifespan=300, timeout=5
                )
            key = self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=list(oidc.algorithms),
                audience=oidc.audience,
                issuer=oidc.issuer,
                options={"require": ["exp", "iss", "aud"]},
                leeway=30,
            )
        except (jwt.PyJWTError, ValueError, KeyError, OSError):
            raise Unauthenticated() from None
        username = claims.get(oidc.username_claim)
        if not isinstance(username, str):
            raise Unauthenticated()
        groups = claims.get(oidc.groups_claim)
        group_names = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else None
        subject = f"oidc:{oidc.issuer}|{claims.get('sub', username)}"
        return Principal(
            user=self.provision(username, external_id=subject, groups=group_names, now=now),
            token_id=None,
            client_addr=client_addr,
        )

    def provision(self, raw_name: str, *, external_id: str, groups: list[str] | None, now: datetime) -> User:
        """The user an identity provider or proxy names, created on first sight; groups synced from claims.

        A name is bound to the identity that created it: a local account (made by an admin or by
        `sealbox up`), or one made for another identity, is never signed in to this way; nor is a
        disabled user.
        """
        name = normalise_identity(raw_name)
        try:
            check_user_name(name)
        except BadRequest:
            raise Unauthenticated() from None
        user = users.get_user(self.db, name)
        if user is None:
            try:
                user = users.create_user(
                    self.db,
                    self.keys.master,
                    name=name,
                    is_admin=False,
                    now=now,
                    requested_by=None,
                    external_id=external_id,
                )
            except Conflict:  # another request created it meanwhile
                user = users.get_user(self.db, name)
            if user is None:  # pragma: no cover
                raise Unauthenticated()
        if user.is_service or user.external_id != external_id:
            log.warning("refused an external identity for an account it did not create")
            raise Unauthenticated()
        if user.is_disabled:
            raise Unauthenticated()
        if groups is not None:  # the claim is present: memberships follow it, also when it is empty
            self._join_groups(user, groups, now)
        return user

    def _join_groups(self, user: User, groups: list[str], now: datetime) -> None:
        """Make the user's provider-group memberships match the claim; groups people made stay untouched."""
        wanted = {g for g in groups[:100] if is_valid_secret_name(g)}
        with self.db.writing() as uow:
            repo = uow.sharing
            for name in sorted(wanted):
                group = repo.group_by_name(name)
                if group is None:
                    group_id = secrets.token_hex(16)
                    repo.add_group(group_id=group_id, name=name, now=now, by=PROVIDER_GROUP)
                elif group.created_by != PROVIDER_GROUP:
                    continue  # a name someone chose by hand: a claim never makes anyone a member of it
                else:
                    group_id = group.id
                if repo.group_role(group_id, user.id) is None:
                    repo.set_group_member(group_id, user.id, "member")
            for membership in repo.groups_of(user.id):
                group = repo.group_by_name(membership.name)
                if group and group.created_by == PROVIDER_GROUP and membership.name not in wanted:
                    repo.remove_group_member(group.id, user.id)


def _discover_jwks(issuer: str) -> str:
    import json
    import urllib.request

    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    if not url.startswith(("https://", "http://")):
        raise ValueError("issuer must be an http(s) URL")
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- scheme checked above  # nosec B310
        return str(json.load(response)["jwks_uri"])
