"""Until the server's session routes decode through sealbox.protocol.sessions, the server declares the same
bodies with pydantic: this test keeps the two field for field (name, required or not) equal."""

from __future__ import annotations

import base64

import msgspec
import pytest
from pydantic import BaseModel

from sealbox.protocol.base import Message, decode, encode
from sealbox.protocol.sessions import FailureReport, RedeemedItem, RedeemRequest, RedeemResponse
from sealbox.server.schemas import FailureIn, RedeemedItemPublic, RedeemIn, RedeemOut

PAIRS: list[tuple[type[Message], type[BaseModel]]] = [
    (RedeemRequest, RedeemIn),
    (RedeemedItem, RedeemedItemPublic),
    (RedeemResponse, RedeemOut),
    (FailureReport, FailureIn),
]


@pytest.mark.parametrize(("struct", "model"), PAIRS, ids=lambda p: getattr(p, "__name__", ""))
def test_the_struct_and_the_server_model_have_the_same_fields(
    struct: type[Message], model: type[BaseModel]
) -> None:
    ours = {f.name: f.required for f in msgspec.structs.fields(struct)}
    theirs = {name: info.is_required() for name, info in model.model_fields.items()}
    assert ours == theirs


def test_what_the_server_answers_decodes_as_the_session_side_reads_it() -> None:
    item = RedeemedItemPublic(
        name="db",
        owner="alice",
        secret_id="s1",
        owner_id="u1",
        kind="generic",
        field=None,
        file="db",
        env=None,
        version=3,
        scopes=["x"],
        outer=base64.b64encode(b"outer").decode(),
        wrapped_dek=base64.b64encode(b"dek").decode(),
    )
    out = RedeemOut(
        session_id="sid",
        mount_path="/secrets",
        sealed_key=base64.b64encode(b"sealed").decode(),
        ticket="t",
        keeper_url="unix:///k.sock",
        items=[item],
    )
    got = decode(out.model_dump_json().encode(), RedeemResponse)
    assert (got.sealed_key, got.items[0].outer, got.items[0].wrapped_dek) == (b"sealed", b"outer", b"dek")
    assert got.items[0].scopes == ["x"] and got.items[0].file == "db"
    sent = RedeemRequest(
        credential="sbl_" + "a" * 16 + "_" + "b" * 43, public_key=base64.b64encode(bytes(32)).decode()
    )
    assert RedeemIn.model_validate_json(encode(sent)).credential == sent.credential
