"""Redeeming a session credential: the only place where a value is put back together.

The session side's step (`sealbox run`, the init container, a service account's `Client.fetch_secret`):
spend the one-time credential at the server, take the keeper's half from the keeper, open both here.
"""

from __future__ import annotations

import base64
import contextlib
import time

import msgspec

from sealbox.crypto.session_keys import SessionKeyPair, open_session_item, open_session_key
from sealbox.crypto.wrapping import open_inner
from sealbox.domain.keeper import OuterLayer
from sealbox.domain.kinds import SPECS, Kind, decode_fields, token_value
from sealbox.errors import BadRequest, CiphertextIntegrityError, ClientError, DecryptionError, Unavailable
from sealbox.keeper.client import KeeperClient
from sealbox.protocol.base import Message, ProtocolError, decode_answer, encode
from sealbox.protocol.sessions import FailureReport, RedeemRequest, RedeemResponse, RoleAnswer, RoleReport
from sealbox.transport import HTTPClient, error_from_response


class Delivered(msgspec.Struct, frozen=True, kw_only=True):
    """One secret as the session receives it. `value` is the plaintext; never printed."""

    name: str
    owner: str
    kind: str
    field: str | None
    file: str | None
    env: str | None
    version: int
    value: bytes
    scopes: tuple[str, ...] = ()
    renew_at: float | None = None  # a credential minted from an aws-role: when to mint anew (epoch s)

    def __repr__(self) -> str:  # the value stays out of logs and tracebacks
        return f"Delivered(name={self.name!r}, owner={self.owner!r}, version={self.version})"

    @property
    def fields(self) -> dict[str, str] | None:
        """The fields of a multi-field secret (aws, database), else None."""
        if not SPECS[Kind(self.kind)].multi_field:
            return None
        return decode_fields(self.value)

    def selected(self) -> bytes:
        """What one file or one variable gets: the whole value, or the chosen field.

        A field the value does not have (an aws secret without a region, or a value replaced without
        it since the launch began) is an error naming the secret and the field, never an empty value.
        """
        if self.field is None:
            # A token given with its host and user name: a file or variable holds the token itself.
            return token_value(self.value) if self.kind == Kind.TOKEN.value else self.value
        chosen = (self.fields or {}).get(self.field)
        if chosen is None:
            raise BadRequest(
                f"secret {self.owner}/{self.name} has no field {self.field}",
                code="missing_field",
                field="field",
            )
        return chosen.encode()


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    mount_path: str
    items: tuple[Delivered, ...]
    server_ms: float
    keeper_ms: float
    session_ms: float


def _post(server: HTTPClient, path: str, message: Message) -> bytes:
    """Without the client's token: the one-time credential in the body is what the server checks."""
    response = server.request("POST", path, content=encode(message), anonymous=True)
    if response.status >= 400:
        raise error_from_response(response.status, response.content, response.headers)
    return response.content


def redeem(
    server: HTTPClient, *, session_id: str, credential: str, keeper_url: str | None = None
) -> Delivery:
    """Spend `credential` once at `server` and return the plaintexts, assembled here from both halves.

    Raises ClientError (server refusal), Unavailable (keeper down), KeeperRefused, CiphertextIntegrityError.
    """
    pair = SessionKeyPair.generate()
    started = time.perf_counter()
    public_key = base64.b64encode(pair.public_bytes()).decode()
    answer = _post(
        server,
        f"/api/v1/sessions/{session_id}/redeem",
        RedeemRequest(credential=credential, public_key=public_key),
    )
    try:
        body = decode_answer(answer, RedeemResponse)
    except ProtocolError:
        raise ClientError(502, "invalid_response", "the server's answer is not a redemption") from None
    server_done = time.perf_counter()
    keeper = KeeperClient(keeper_url or body.keeper_url)
    try:
        delivery = _assemble(
            pair, body, keeper, session_id=session_id, started=started, server_done=server_done
        )
    except (CiphertextIntegrityError, Unavailable) as failed:
        # The server recorded a successful redemption; tell it how the launch really ended, for its audit.
        _report_failure(server, session_id, credential, failed.code)
        raise
    finally:
        keeper.close()
    if not any(i.kind == Kind.AWS_ROLE.value for i in delivery.items):
        return delivery
    from sealbox.launcher.cloud_roles import mint_roles

    def report(role: RoleReport) -> RoleAnswer:
        answer = _post(server, f"/api/v1/sessions/{session_id}/roles", role)
        try:
            return decode_answer(answer, RoleAnswer)
        except ProtocolError:
            raise ClientError(502, "invalid_response", "the server's answer is not a role's names") from None

    try:
        minted = mint_roles(delivery.items, credential=credential, report=report)
    except (ClientError, Unavailable):
        _report_failure(server, session_id, credential, "launch_refused")
        raise
    return msgspec.structs.replace(delivery, items=minted)


def _report_failure(server: HTTPClient, session_id: str, credential: str, code: str) -> None:
    with contextlib.suppress(ClientError):
        _post(
            server,
            f"/api/v1/sessions/{session_id}/failures",
            FailureReport(credential=credential, code=code),
        )


def _assemble(
    pair: SessionKeyPair,
    body: RedeemResponse,
    keeper: KeeperClient,
    *,
    session_id: str,
    started: float,
    server_done: float,
) -> Delivery:
    unique = {(i.secret_id, i.version): i for i in body.items}
    keeper_key, inners = keeper.open_session(
        body.ticket,
        [
            OuterLayer(secret_id=i.secret_id, version=i.version, owner_id=i.owner_id, outer=i.outer)
            for i in unique.values()
        ],
    )
    keeper_done = time.perf_counter()
    try:
        dek_key = open_session_key(pair, body.sealed_key, session_id=session_id, part="dek")
        inner_key = open_session_key(pair, keeper_key, session_id=session_id, part="inner")
        delivered = []
        for i in body.items:
            dek = open_session_item(
                dek_key,
                i.wrapped_dek,
                session_id=session_id,
                part="dek",
                secret_id=i.secret_id,
                version=i.version,
                owner_id=i.owner_id,
            )
            inner = open_session_item(
                inner_key,
                inners[(i.secret_id, i.version)],
                session_id=session_id,
                part="inner",
                secret_id=i.secret_id,
                version=i.version,
                owner_id=i.owner_id,
            )
            delivered.append(
                Delivered(
                    name=i.name,
                    owner=i.owner,
                    kind=i.kind,
                    field=i.field,
                    file=i.file,
                    env=i.env,
                    version=i.version,
                    value=open_inner(
                        dek, inner, secret_id=i.secret_id, version=i.version, owner_id=i.owner_id
                    ),
                    scopes=tuple(i.scopes),
                )
            )
    except (DecryptionError, KeyError):
        raise CiphertextIntegrityError() from None
    done = time.perf_counter()
    return Delivery(
        session_id=session_id,
        mount_path=body.mount_path,
        items=tuple(delivered),
        server_ms=(server_done - started) * 1000,
        keeper_ms=(keeper_done - server_done) * 1000,
        session_ms=(done - keeper_done) * 1000,
    )
