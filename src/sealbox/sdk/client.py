"""The HTTP client of the sealbox API, typed by sealbox.protocol. It keeps no response body in its errors.

Every method encodes its request through the Struct the server decodes (protocol's `*_api` modules) and
decodes the answer into the Struct the server encodes (protocol's `*_answers` modules): a field renamed on
one side fails the other's type check. Those modules are loaded by the first call, not by `import
sealbox`, `get_secret` or `sealbox run` (which imports this module for `Client.call`): msgspec and the
domain's rules cost milliseconds a notebook's first cell and every run would pay for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from sealbox.sdk.calls import split_ref
from sealbox.sdk.sharing_calls import SharingCalls
from sealbox.transport import tls_verification

if TYPE_CHECKING:
    from sealbox.domain.kinds import Kind
    from sealbox.protocol.account_answers import TokenIssued, TokenPublic, TokenRevokedOut, UserPublic
    from sealbox.protocol.audit_api import AuditPage
    from sealbox.protocol.secret_answers import DeletedSecretPublic, SecretPublic
    from sealbox.protocol.session_answers import ServiceUsableSecret, SessionCreated, SessionPublic
    from sealbox.protocol.session_api import ServiceSessionSecretIn, SessionCreate
    from sealbox.protocol.usage_answers import SecretUsagePublic, StaleSecrets

__all__ = ["Client", "tls_verification"]


class Client(SharingCalls):
    """`Client(url, token)`: every method returns the answer's sealbox.protocol Struct (attributes, not
    keys: `client.me().name`; `msgspec.to_builtins(answer)` gives plain JSON data), or raises a ClientError
    (`sealbox.transport.error_from_response`: a NotFound answer is also `NotFoundAnswer`, and so on; an
    answer of the wrong shape is `invalid_response`). A field a newer server adds is skipped. The calls
    about sharing are in `sealbox.sdk.sharing_calls`, the connection in `sealbox.sdk.calls`."""

    # secrets
    def create_secret(
        self,
        name: str,
        *,
        kind: str = "generic",
        value: str | None = None,
        value_base64: str | None = None,
        fields: dict[str, str] | None = None,
        description: str = "",
        expires_at: str | None = None,
        project: str | None = None,
        scopes: list[str] | None = None,
    ) -> SecretPublic:
        from sealbox.protocol.secret_answers import SecretPublic
        from sealbox.protocol.secret_api import SecretCreate

        body = SecretCreate(
            name=name,
            kind=cast("Kind", kind),  # the server refuses an unknown kind with its own 4xx
            value=value,
            value_base64=value_base64,
            fields=fields,
            description=description,
            expires_at=expires_at,
            project=project,
            scopes=scopes or [],
        )
        return self._send("POST", "/api/v1/secrets", SecretPublic, body=body)

    def replace_secret(
        self,
        name: str,
        *,
        value: str | None = None,
        value_base64: str | None = None,
        fields: dict[str, str] | None = None,
        if_version: int | None = None,
    ) -> SecretPublic:
        from sealbox.protocol.secret_answers import SecretPublic
        from sealbox.protocol.secret_api import SecretReplace

        body = SecretReplace(value=value, value_base64=value_base64, fields=fields)
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else {}
        name, params = split_ref(name)
        path = f"/api/v1/secrets/{name}/value"
        return self._send("PUT", path, SecretPublic, body=body, params=params, headers=headers)

    def update_secret(
        self,
        ref: str,
        *,
        description: str | None = None,
        expires_at: str | None = None,
        clear_expiry: bool = False,
        scopes: list[str] | None = None,
    ) -> SecretPublic:
        """Change what is given (never the value); what is left out stays."""
        from sealbox.protocol.secret_answers import SecretPublic
        from sealbox.protocol.secret_api import SecretUpdate

        body = SecretUpdate(
            description=description, expires_at=expires_at, clear_expiry=clear_expiry, scopes=scopes
        )
        name, params = split_ref(ref)
        return self._send("PATCH", f"/api/v1/secrets/{name}", SecretPublic, body=body, params=params)

    def delete_secret(self, ref: str, *, purge: bool = False, force: bool = False) -> None:
        """Into the recovery window (restorable until it ends); `purge`: removed for good at once. A secret
        live sessions hold raises ConflictAnswer (`secret_in_use`, naming them) unless `force`."""
        name, params = split_ref(ref)
        extra = ({"purge": "true"} if purge else {}) | ({"force": "true"} if force else {})
        self._send_empty("DELETE", f"/api/v1/secrets/{name}", params=params | extra)

    def secret_usage(self, ref: str, *, limit: int = 100) -> SecretUsagePublic:
        """Which sessions received which version and when, and who used it through which grant."""
        from sealbox.protocol.usage_answers import SecretUsagePublic

        name, params = split_ref(ref)
        path = f"/api/v1/secrets/{name}/usage"
        return self._send("GET", path, SecretUsagePublic, params=params | {"limit": str(limit)})

    def stale_secrets(self, *, days: int = 90) -> StaleSecrets:
        """The secrets I own or manage that nobody used in `days` days, and the grants never used."""
        from sealbox.protocol.usage_answers import StaleSecrets

        return self._send("GET", "/api/v1/stale-secrets", StaleSecrets, params={"days": str(days)})

    def restore_secret(self, ref: str) -> SecretPublic:
        """Bring a deleted secret back from its recovery window with its versions and grants."""
        from sealbox.protocol.secret_answers import SecretPublic

        name, params = split_ref(ref)
        return self._send("POST", f"/api/v1/secrets/{name}/restore", SecretPublic, params=params)

    def deleted_secrets(self) -> list[DeletedSecretPublic]:
        """The secrets in their recovery window that I own or manage, with `purge_at`."""
        from sealbox.protocol.secret_answers import DeletedSecrets

        return self._send("GET", "/api/v1/deleted-secrets", DeletedSecrets).items

    def get_secret_metadata(self, ref: str) -> SecretPublic:
        """Metadata of `name` or `owner/name` (never the value)."""
        from sealbox.protocol.secret_answers import SecretPublic

        name, params = split_ref(ref)
        return self._send("GET", f"/api/v1/secrets/{name}", SecretPublic, params=params)

    def list_secrets(self, *, prefix: str | None = None, page_size: int = 200) -> list[SecretPublic]:
        from sealbox.protocol.secret_answers import SecretPage

        items: list[SecretPublic] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size, "cursor": cursor or None, "prefix": prefix or None}
            page = self._send("GET", "/api/v1/secrets", SecretPage, params=params)
            items.extend(page.items)
            cursor = page.next_cursor
            if not cursor:
                return items

    # tokens and users
    def me(self) -> UserPublic:
        from sealbox.protocol.account_answers import UserPublic

        return self._send("GET", "/api/v1/me", UserPublic)

    def create_token(self, name: str, *, expires_at: str | None = None) -> TokenIssued:
        from sealbox.protocol.account_answers import TokenIssued
        from sealbox.protocol.account_api import TokenCreate

        body = TokenCreate(name=name, expires_at=expires_at or None)
        return self._send("POST", "/api/v1/tokens", TokenIssued, body=body)

    def list_tokens(self) -> list[TokenPublic]:
        from sealbox.protocol.account_answers import TokenPublic

        return self._send("GET", "/api/v1/tokens", list[TokenPublic])

    def revoke_token(self, token_id: str) -> TokenRevokedOut:
        from sealbox.protocol.account_answers import TokenRevokedOut

        return self._send("DELETE", f"/api/v1/tokens/{token_id}", TokenRevokedOut)

    def audit(self, **filters: Any) -> AuditPage:
        """One page of audit records (`secret`, `session`, `since`, `cursor`, `limit`), newest first."""
        from sealbox.protocol.audit_api import AuditPage

        return self._send("GET", "/api/v1/audit", AuditPage, params=filters)

    # sessions
    def create_session(self, request: SessionCreate | Mapping[str, Any]) -> SessionCreated:
        """A session of mine (`sealbox run` and `sealbox kube` make them): redeem its one-time credential on
        the session side (`sealbox.launcher.redeem.redeem`). The request is a SessionCreate, or its fields
        as plain data (`sealbox run` passes those: it starts faster without loading the request types)."""
        from sealbox.protocol.session_answers import SessionCreated

        return self._send("POST", "/api/v1/sessions", SessionCreated, body=request)

    def get_session(self, session_id: str) -> SessionPublic:
        from sealbox.protocol.session_answers import SessionPublic

        return self._send("GET", f"/api/v1/sessions/{session_id}", SessionPublic)

    def list_sessions(self, *, include_over: bool = False) -> list[SessionPublic]:
        """My live sessions (`include_over`: also the ended and expired ones)."""
        from sealbox.protocol.session_answers import SessionPublic

        params = {"all": str(include_over).lower()}
        return self._send("GET", "/api/v1/sessions", list[SessionPublic], params=params)

    def end_session(self, session_id: str) -> SessionPublic:
        """End one of my sessions: its credential can no longer be redeemed."""
        from sealbox.protocol.session_answers import SessionPublic

        return self._send("DELETE", f"/api/v1/sessions/{session_id}", SessionPublic)

    def heartbeat(self, session_id: str) -> SessionPublic:
        """Call in for a session that asked for a heartbeat (`sealbox run` does every interval)."""
        from sealbox.protocol.session_answers import SessionPublic

        return self._send("POST", f"/api/v1/sessions/{session_id}/heartbeat", SessionPublic)

    def new_session_credential(self, session_id: str) -> SessionCreated:
        """A fresh one-time credential for a live session of mine (to bring in replaced values)."""
        from sealbox.protocol.session_answers import SessionCreated

        return self._send("POST", f"/api/v1/sessions/{session_id}/credentials", SessionCreated)

    # service accounts
    def fetch_secret(
        self, ref: str, *, on_behalf_of: str, field: str | None = None, keeper_url: str | None = None
    ) -> str:
        """For a service account: one secret's value, fetched on behalf of a user who may use it.

        The value is put together here from the server's half and the keeper's half; the request is
        audited with both the service and the user.
        """
        from sealbox.launcher.redeem import redeem

        launch = self.service_fetch(on_behalf_of=on_behalf_of, secrets=[{"name": ref, "field": field}])
        delivery = redeem(
            self.http,
            session_id=launch.session.id,
            credential=launch.session_credential,
            keeper_url=keeper_url,
        )
        return delivery.items[0].selected().decode("utf-8")

    def service_fetch(
        self,
        *,
        on_behalf_of: str,
        secrets: Sequence[ServiceSessionSecretIn | Mapping[str, str | None]],
        project: str | None = None,
    ) -> SessionCreated:
        """For a service account: a fetch for `on_behalf_of` (a session of a minute, not listed, with no
        folder): redeem its credential to put the values together here. The delivered items are named
        f0, f1, ... in the order asked."""
        from sealbox.protocol.session_answers import SessionCreated
        from sealbox.protocol.session_api import ServiceFetchIn

        body = ServiceFetchIn(on_behalf_of=on_behalf_of, secrets=_service_mappings(secrets), project=project)
        return self._send("POST", "/api/v1/service/sessions", SessionCreated, body=body)

    def start_service_session(
        self,
        *,
        on_behalf_of: str,
        secrets: Sequence[ServiceSessionSecretIn | Mapping[str, str | None]],
        mount_path: str | None = None,
        ttl_seconds: int | None = None,
        project: str | None = None,
        credential_ttl_seconds: int | None = None,
    ) -> SessionCreated:
        """For a service account: a session for `on_behalf_of` with these mappings (each a
        `ServiceSessionSecretIn` or a mapping of its fields `{name, field, file, env}`), listed among the
        user's sessions. Returns the session and its one-time launch credential (redeem it with
        `sealbox.launcher.redeem.redeem`, or hand it to an init container)."""
        from sealbox.protocol.session_answers import SessionCreated
        from sealbox.protocol.session_api import ServiceFetchIn

        body = ServiceFetchIn(
            on_behalf_of=on_behalf_of,
            secrets=_service_mappings(secrets),
            mount_path=mount_path or "/secrets",
            ttl_seconds=ttl_seconds,
            project=project,
            credential_ttl_seconds=credential_ttl_seconds,
        )
        return self._send("POST", "/api/v1/service/sessions", SessionCreated, body=body)

    def end_service_session(self, session_id: str) -> None:
        """For a service account: end a session it started (ending twice is fine)."""
        self._send_empty("DELETE", f"/api/v1/service/sessions/{session_id}")

    def usable_secrets(self, user: str) -> list[ServiceUsableSecret]:
        """For a service account: what `user` may bring into a session through it (metadata only)."""
        from sealbox.protocol.session_answers import ServiceUsableSecret

        return self._send("GET", f"/api/v1/service/users/{user}/secrets", list[ServiceUsableSecret])


def _service_mappings(
    secrets: Sequence[ServiceSessionSecretIn | Mapping[str, str | None]],
) -> list[ServiceSessionSecretIn]:
    from sealbox.protocol.session_api import ServiceSessionSecretIn

    return [
        s
        if isinstance(s, ServiceSessionSecretIn)
        else ServiceSessionSecretIn(
            name=s["name"] or "", field=s.get("field"), file=s.get("file"), env=s.get("env")
        )
        for s in secrets
    ]
