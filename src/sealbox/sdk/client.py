"""The HTTP client of the sealbox API. It keeps no response body in its errors."""

from __future__ import annotations

from typing import Any

from sealbox.transport import READ_TIMEOUT_S, HTTPClient, tls_verification

__all__ = ["Client", "tls_verification"]


def _ref(ref: str) -> tuple[str, dict[str, str]]:
    """`alice/db` -> ('db', {'owner': 'alice'}); a bare name is the caller's own."""
    owner, slash, name = ref.partition("/")
    return (name, {"owner": owner}) if slash else (ref, {})


class Client:
    """`Client(url, token)`: every method returns decoded JSON or raises a ClientError
    (`sealbox.transport.error_from_response`: a NotFound answer is also `NotFoundAnswer`, and so on)."""

    def __init__(self, url: str, token: str, *, timeout: float = READ_TIMEOUT_S) -> None:
        self.http = HTTPClient(url, token=token, timeout=timeout)

    def __repr__(self) -> str:
        return f"Client(url={self.http.url!r}, token=[secure])"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One call of the API as this client's user: decoded JSON, None for an empty answer."""
        return self.http.call(method, path, json_body=json, params=params)

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self.http.call(method, path, json_body=json, params=params, headers=headers)

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
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "kind": kind, "description": description}
        for key, item in (
            ("value", value),
            ("value_base64", value_base64),
            ("fields", fields),
            ("expires_at", expires_at),
            ("project", project),
            ("scopes", scopes),
        ):
            if item is not None:
                body[key] = item
        result: dict[str, Any] = self._request("POST", "/api/v1/secrets", json=body)
        return result

    def replace_secret(
        self,
        name: str,
        *,
        value: str | None = None,
        value_base64: str | None = None,
        fields: dict[str, str] | None = None,
        if_version: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for key, item in (("value", value), ("value_base64", value_base64), ("fields", fields)):
            if item is not None:
                body[key] = item
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else {}
        name, params = _ref(name)
        result: dict[str, Any] = self._request(
            "PUT", f"/api/v1/secrets/{name}/value", json=body, headers=headers, params=params
        )
        return result

    def update_secret(self, ref: str, **changes: Any) -> dict[str, Any]:
        name, params = _ref(ref)
        result: dict[str, Any] = self._request(
            "PATCH", f"/api/v1/secrets/{name}", json=changes, params=params
        )
        return result

    def delete_secret(self, ref: str, *, purge: bool = False) -> None:
        """Into the recovery window (restorable until it ends); `purge`: removed for good at once."""
        name, params = _ref(ref)
        self._request(
            "DELETE", f"/api/v1/secrets/{name}", params=params | ({"purge": "true"} if purge else {})
        )

    def restore_secret(self, ref: str) -> dict[str, Any]:
        """Bring a deleted secret back from its recovery window with its versions and grants."""
        name, params = _ref(ref)
        result: dict[str, Any] = self._request("POST", f"/api/v1/secrets/{name}/restore", params=params)
        return result

    def deleted_secrets(self) -> list[dict[str, Any]]:
        """The secrets in their recovery window that I own or manage, with `purge_at`."""
        items: list[dict[str, Any]] = self._request("GET", "/api/v1/deleted-secrets")["items"]
        return items

    def get_secret_metadata(self, ref: str) -> dict[str, Any]:
        """Metadata of `name` or `owner/name` (never the value)."""
        name, params = _ref(ref)
        result: dict[str, Any] = self._request("GET", f"/api/v1/secrets/{name}", params=params)
        return result

    def list_secrets(self, *, prefix: str | None = None, page_size: int = 200) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            if prefix:
                params["prefix"] = prefix
            page = self._request("GET", "/api/v1/secrets", params=params)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    # tokens and users
    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/api/v1/me")
        return result

    def create_token(self, name: str, *, expires_at: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if expires_at:
            body["expires_at"] = expires_at
        result: dict[str, Any] = self._request("POST", "/api/v1/tokens", json=body)
        return result

    def list_tokens(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/api/v1/tokens")
        return result

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("DELETE", f"/api/v1/tokens/{token_id}")
        return result

    # sharing
    def share(
        self, ref: str, *, level: str, user: str | None = None, group: str | None = None
    ) -> list[dict[str, Any]]:
        name, params = _ref(ref)
        body = {"level": level, "user": user, "group": group}
        result: list[dict[str, Any]] = self._request(
            "POST", f"/api/v1/secrets/{name}/grants", json=body, params=params
        )
        return result

    def unshare(self, ref: str, *, user: str | None = None, group: str | None = None) -> dict[str, Any]:
        name, params = _ref(ref)
        kind, who = ("user", user) if user else ("group", group)
        result: dict[str, Any] = self._request(
            "DELETE", f"/api/v1/secrets/{name}/grants/{kind}/{who}", params=params
        )
        return result

    def grants(self, ref: str) -> list[dict[str, Any]]:
        name, params = _ref(ref)
        result: list[dict[str, Any]] = self._request("GET", f"/api/v1/secrets/{name}/grants", params=params)
        return result

    def collection(self, kind: str, method: str, path: str = "", **body: Any) -> Any:
        """Groups and projects: kind is 'groups' or 'projects'."""
        return self._request(method, f"/api/v1/{kind}{path}", json=body or None)

    def audit(self, **filters: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "GET", "/api/v1/audit", params={k: v for k, v in filters.items() if v is not None}
        )
        return result

    # service accounts
    def fetch_secret(
        self, ref: str, *, on_behalf_of: str, field: str | None = None, keeper_url: str | None = None
    ) -> str:
        """For a service account: one secret's value, fetched on behalf of a user who may use it.

        The value is put together here from the server's half and the keeper's half; the request is
        audited with both the service and the user.
        """
        from sealbox.launcher.redeem import redeem

        launch = self._request(
            "POST",
            "/api/v1/service/sessions",
            json={
                "on_behalf_of": on_behalf_of,
                "secrets": [{"name": ref, "field": field}],
            },
        )
        delivery = redeem(
            self.http,
            session_id=launch["session"]["id"],
            credential=launch["session_credential"],
            keeper_url=keeper_url,
        )
        return delivery.items[0].selected().decode("utf-8")

    def start_service_session(
        self,
        *,
        on_behalf_of: str,
        secrets: list[dict[str, str | None]],
        mount_path: str | None = None,
        ttl_seconds: int | None = None,
        project: str | None = None,
        credential_ttl_seconds: int | None = None,
    ) -> dict[str, Any]:
        """For a service account: a session for `on_behalf_of` with these mappings (each `{name, field,
        file, env}`), listed among the user's sessions. Returns the session and its one-time launch
        credential (redeem it with `sealbox.launcher.redeem.redeem`, or hand it to an init container)."""
        body: dict[str, Any] = {"on_behalf_of": on_behalf_of, "secrets": secrets}
        body["mount_path"] = mount_path or "/secrets"
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if project is not None:
            body["project"] = project
        if credential_ttl_seconds is not None:
            body["credential_ttl_seconds"] = credential_ttl_seconds
        result: dict[str, Any] = self._request("POST", "/api/v1/service/sessions", json=body)
        return result

    def end_service_session(self, session_id: str) -> None:
        """For a service account: end a session it started (ending twice is fine)."""
        self._request("DELETE", f"/api/v1/service/sessions/{session_id}")

    def usable_secrets(self, user: str) -> list[dict[str, Any]]:
        """For a service account: what `user` may bring into a session through it (metadata only)."""
        result: list[dict[str, Any]] = self._request("GET", f"/api/v1/service/users/{user}/secrets")
        return result
