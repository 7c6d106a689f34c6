"""Hypothesis: every layer round-trips arbitrary bytes and ids, and refuses any change of context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import _seal_from_parts, open_, open_with_key, seal
from sealbox.crypto.keyring import Keyring
from sealbox.crypto.sealing import PrivateKeySet, keeper_wrap, open_outer, open_sealed, seal_to_keeper
from sealbox.crypto.wrapping import (
    encrypt_version,
    new_user_key,
    open_inner,
    outer_context,
    unwrap_data_key,
    unwrap_user_key,
    wrap_user_key,
)
from sealbox.errors import DecryptionError

# Keys are made once: Hypothesis varies the data, not the (random) keys.
RING = Keyring.generate().rotated()
WRAP_RING = Keyring.generate()
PRIVATE = PrivateKeySet.generate()
PUBLIC = PRIVATE.public()
USER_KEY = new_user_key()

# No example database: these tests leave nothing behind in the work tree.
FAST = settings(database=None, deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(database=None, deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])

ids = st.text(max_size=40)  # any Unicode but lone surrogates, which UTF-8 cannot encode
versions = st.integers(min_value=0, max_value=2**63 - 1)
layers = st.sampled_from(Layer)
plaintexts = st.binary(max_size=2048)


@dataclass(frozen=True)
class Row:
    layer: Layer
    secret_id: str
    version: int
    owner_id: str

    def context(self) -> Context:
        return Context.for_version(
            self.layer, secret_id=self.secret_id, version=self.version, owner_id=self.owner_id
        )


rows = st.builds(Row, layer=layers, secret_id=ids, version=versions, owner_id=ids)
outer_rows = st.builds(Row, layer=st.just(Layer.OUTER), secret_id=ids, version=versions, owner_id=ids)


@st.composite
def row_and_changed_row(draw: st.DrawFn, base: st.SearchStrategy[Row] = rows) -> tuple[Row, Row]:
    """A row, and the same row with exactly one field changed."""
    row = draw(base)
    which = draw(st.sampled_from(["layer", "secret_id", "version", "owner_id"]))
    if which == "layer":
        other = Row(
            draw(layers.filter(lambda x: x is not row.layer)), row.secret_id, row.version, row.owner_id
        )
    elif which == "secret_id":
        other = Row(row.layer, draw(ids.filter(lambda x: x != row.secret_id)), row.version, row.owner_id)
    elif which == "version":
        other = Row(row.layer, row.secret_id, draw(versions.filter(lambda x: x != row.version)), row.owner_id)
    else:
        other = Row(row.layer, row.secret_id, row.version, draw(ids.filter(lambda x: x != row.owner_id)))
    return row, other


def _outer(row: Row) -> Context:
    return outer_context(secret_id=row.secret_id, version=row.version, owner_id=row.owner_id)


# -- round trips -----------------------------------------------------------------------------------


@FAST
@given(plaintext=plaintexts, row=rows)
def test_envelope_round_trip(plaintext: bytes, row: Row) -> None:
    assert open_(RING, seal(RING, plaintext, row.context()), row.context()) == plaintext


@FAST
@given(
    key=st.binary(min_size=32, max_size=32),
    kid=st.binary(min_size=8, max_size=8),
    nonce=st.binary(min_size=12, max_size=12),
    plaintext=plaintexts,
    fields=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=4),
    layer=layers,
)
def test_seal_from_parts_round_trip(
    key: bytes, kid: bytes, nonce: bytes, plaintext: bytes, fields: list[tuple[str, str]], layer: Layer
) -> None:
    ctx = Context(layer=layer, fields=tuple(fields))
    envelope = _seal_from_parts(key, kid, plaintext, ctx, nonce=nonce)
    assert envelope[:21] == b"\x01" + kid + nonce
    assert len(envelope) == 21 + len(plaintext) + 16
    assert open_with_key(key, envelope, ctx) == plaintext
    assert open_(Keyring(keys=((kid, key),)), envelope, ctx) == plaintext


@SLOW
@given(plaintext=plaintexts, row=outer_rows)
def test_outer_layer_round_trip_in_both_forms(plaintext: bytes, row: Row) -> None:
    sealed = seal_to_keeper(PUBLIC, plaintext, row.context())
    assert open_sealed(PRIVATE, sealed, row.context()) == plaintext
    assert open_outer(PRIVATE, WRAP_RING, sealed, row.context()) == plaintext
    wrapped = keeper_wrap(WRAP_RING, plaintext, row.context())
    assert open_outer(PRIVATE, WRAP_RING, wrapped, row.context()) == plaintext


@SLOW
@given(plaintext=plaintexts, row=outer_rows)
def test_version_round_trip(plaintext: bytes, row: Row) -> None:
    stored = encrypt_version(
        USER_KEY, PUBLIC, plaintext, secret_id=row.secret_id, version=row.version, owner_id=row.owner_id
    )
    inner = open_sealed(PRIVATE, stored.outer, _outer(row))
    dek = unwrap_data_key(
        USER_KEY, stored.wrapped_dek, secret_id=row.secret_id, version=row.version, owner_id=row.owner_id
    )
    assert (
        open_inner(dek, inner, secret_id=row.secret_id, version=row.version, owner_id=row.owner_id)
        == plaintext
    )


@FAST
@given(user_id=ids)
def test_user_key_round_trip(user_id: str) -> None:
    uk = new_user_key()
    assert unwrap_user_key(RING, wrap_user_key(RING, uk, user_id=user_id), user_id=user_id) == uk


# -- any change of context is refused --------------------------------------------------------------


@FAST
@given(plaintext=plaintexts, rows=row_and_changed_row())
def test_envelope_refuses_any_changed_context(plaintext: bytes, rows: tuple[Row, Row]) -> None:
    made_for, opened_as = rows
    envelope = seal(RING, plaintext, made_for.context())
    try:
        open_(RING, envelope, opened_as.context())
    except DecryptionError:
        return
    raise AssertionError("an envelope opened under another context")


@FAST
@given(made_for=ids, opened_as=ids)
def test_user_key_wrap_refuses_another_user(made_for: str, opened_as: str) -> None:
    assume(made_for != opened_as)
    wrapped = wrap_user_key(RING, USER_KEY, user_id=made_for)
    try:
        unwrap_user_key(RING, wrapped, user_id=opened_as)
    except DecryptionError:
        return
    raise AssertionError("a user key unwrapped for another user")


@SLOW
@given(plaintext=plaintexts, rows=row_and_changed_row(outer_rows))
def test_outer_layer_refuses_any_changed_context(plaintext: bytes, rows: tuple[Row, Row]) -> None:
    made_for, opened_as = rows
    sealed = seal_to_keeper(PUBLIC, plaintext, made_for.context())
    wrapped = keeper_wrap(WRAP_RING, plaintext, made_for.context())
    for blob in (sealed, wrapped):
        try:
            open_outer(PRIVATE, WRAP_RING, blob, opened_as.context())
        except DecryptionError:
            continue
        raise AssertionError("an outer layer opened under another context")


@SLOW
@given(plaintext=plaintexts, rows=row_and_changed_row(outer_rows))
def test_every_layer_of_a_version_refuses_a_changed_row(plaintext: bytes, rows: tuple[Row, Row]) -> None:
    here, there = rows
    assume(there.layer is Layer.OUTER)  # only the ids move here; layers are covered above
    stored = encrypt_version(
        USER_KEY, PUBLIC, plaintext, secret_id=here.secret_id, version=here.version, owner_id=here.owner_id
    )
    inner = open_sealed(PRIVATE, stored.outer, _outer(here))
    dek = unwrap_data_key(
        USER_KEY, stored.wrapped_dek, secret_id=here.secret_id, version=here.version, owner_id=here.owner_id
    )
    attempts: list[Callable[[], bytes]] = [
        lambda: unwrap_data_key(
            USER_KEY,
            stored.wrapped_dek,
            secret_id=there.secret_id,
            version=there.version,
            owner_id=there.owner_id,
        ),
        lambda: open_inner(
            dek, inner, secret_id=there.secret_id, version=there.version, owner_id=there.owner_id
        ),
        lambda: open_sealed(PRIVATE, stored.outer, _outer(there)),
    ]
    for attempt in attempts:
        try:
            attempt()
        except DecryptionError:
            continue
        raise AssertionError("a layer of a stored version opened for another row")


@FAST
@given(a=rows, b=rows)
def test_context_encoding_is_injective(a: Row, b: Row) -> None:
    assume(a != b)
    assert a.context().encode() != b.context().encode()


@FAST
@given(
    a=st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=4),
    b=st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=4),
)
def test_context_encoding_is_injective_on_any_fields(
    a: list[tuple[str, str]], b: list[tuple[str, str]]
) -> None:
    assume(a != b)
    assert (
        Context(layer=Layer.INNER, fields=tuple(a)).encode()
        != Context(layer=Layer.INNER, fields=tuple(b)).encode()
    )
