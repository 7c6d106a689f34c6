"""Context: the associated data every ciphertext binds; its encoding is frozen and unambiguous."""

from __future__ import annotations

import itertools

import pytest

from sealbox.crypto.context import Context, Layer


def test_layers_are_the_documented_ones() -> None:
    # These strings are inside every stored ciphertext's associated data: renaming one
    # makes every stored ciphertext of that layer unreadable.
    assert {layer.name: layer.value for layer in Layer} == {
        "USER_KEY": "user-key",
        "DATA_KEY": "data-key",
        "INNER": "inner",
        "OUTER": "outer",
        "KEEPER_WRAP": "keeper-wrap",
        "LAUNCH": "launch",
    }


def test_user_key_context() -> None:
    ctx = Context.user_key(user_id="u1")
    assert ctx.layer is Layer.USER_KEY
    assert ctx.fields == (("user", "u1"),)
    assert ctx.encode() == b"\x00\x0asealbox/v1\x00\x08user-key\x00\x04user\x00\x02u1"


def test_version_context() -> None:
    ctx = Context.for_version(Layer.INNER, secret_id="s", version=7, owner_id="o")
    assert ctx.layer is Layer.INNER
    assert ctx.fields == (("secret", "s"), ("version", "7"), ("owner", "o"))
    assert ctx.encode() == (
        b"\x00\x0asealbox/v1\x00\x05inner"
        b"\x00\x06secret\x00\x01s\x00\x07version\x00\x017\x00\x05owner\x00\x01o"
    )


def test_lengths_count_utf8_bytes_not_characters() -> None:
    ctx = Context(layer=Layer.LAUNCH, fields=(("é", "日本"),))
    assert ctx.encode().endswith(b"\x00\x02\xc3\xa9\x00\x06\xe6\x97\xa5\xe6\x9c\xac")


def test_encoding_is_deterministic() -> None:
    a = Context.for_version(Layer.OUTER, secret_id="x", version=3, owner_id="y")
    b = Context.for_version(Layer.OUTER, secret_id="x", version=3, owner_id="y")
    assert a == b
    assert a.encode() == b.encode()


@pytest.mark.parametrize(
    ("left", "right"),
    [
        # Moving bytes across a field boundary must change the encoding.
        ((("secret", "a"), ("owner", "bc")), (("secret", "ab"), ("owner", "c"))),
        ((("ab", "c"),), (("a", "bc"),)),
        ((("a", ""),), (("", "a"),)),
        ((("a", "b"),), (("a", "b"), ("", ""))),
        ((("a", "\x00\x01b"),), (("a", ""), ("b", ""))),
        ((), (("", ""),)),
    ],
)
def test_encoding_is_unambiguous(
    left: tuple[tuple[str, str], ...], right: tuple[tuple[str, str], ...]
) -> None:
    assert (
        Context(layer=Layer.INNER, fields=left).encode() != Context(layer=Layer.INNER, fields=right).encode()
    )


def test_every_layer_and_row_encodes_differently() -> None:
    contexts = [
        Context.for_version(layer, secret_id=s, version=v, owner_id=o)
        for layer, s, v, o in itertools.product(Layer, ["s1", "s2", "s"], [1, 2, 11], ["o1", "o2", "1"])
    ]
    contexts += [Context.user_key(user_id=u) for u in ["s1", "o1", "1", ""]]
    assert len({c.encode() for c in contexts}) == len(contexts)


def test_the_layer_alone_separates_otherwise_equal_contexts() -> None:
    fields = (("secret", "s"), ("version", "1"), ("owner", "o"))
    assert len({Context(layer=layer, fields=fields).encode() for layer in Layer}) == len(Layer)


def test_context_is_frozen() -> None:
    ctx = Context.user_key(user_id="u")
    with pytest.raises(AttributeError):
        ctx.layer = Layer.INNER  # type: ignore[misc]
