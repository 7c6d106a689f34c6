"""Launch recipes: per-launch keys sealed to the session, per-secret wraps, and signed keeper tickets."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from sealbox.crypto.context import Layer
from sealbox.crypto.envelope import key_id_of, open_with_key
from sealbox.crypto.keyring import decode_key_lines
from sealbox.crypto.sealing import PrivateKeySet, open_sealed
from sealbox.crypto.session_keys import (
    TICKET_VERSION,
    SessionKeyPair,
    SessionWrapper,
    SigningKey,
    VerifyKeys,
    _b64,
    open_session_item,
    open_session_key,
    outer_digest,
    public_key_from_bytes,
)
from sealbox.crypto.wrapping import encrypt_version, new_user_key, open_inner, outer_context, unwrap_data_key
from sealbox.errors import ConfigError, DecryptionError
from tests.support.canaries import find_raw_bytes
from tests.unit.crypto.rows import row

SESSION = "sess-1"
MESSAGE = "ciphertext could not be opened"


@pytest.fixture
def pair() -> SessionKeyPair:
    return SessionKeyPair.generate()


@pytest.fixture
def wrapper(pair: SessionKeyPair) -> SessionWrapper:
    return SessionWrapper.for_session(pair.public_bytes(), session_id=SESSION, part="inner")


@pytest.fixture
def signing() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def verify(signing: SigningKey) -> VerifyKeys:
    return VerifyKeys.from_text(signing.public_text(), source="verify.pub")


# -- session key pair and launch keys --------------------------------------------------------------


def test_session_key_pair(pair: SessionKeyPair) -> None:
    raw = pair.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert len(pair.public_bytes()) == 32
    assert SessionKeyPair.generate().public_bytes() != pair.public_bytes()
    assert find_raw_bytes(f"{pair!r} {[pair]}".encode(), [raw]) == 0


def test_public_key_from_bytes(pair: SessionKeyPair) -> None:
    assert isinstance(public_key_from_bytes(pair.public_bytes()), X25519PublicKey)
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(DecryptionError):
            public_key_from_bytes(bad)


def test_a_bad_session_key_is_refused() -> None:
    with pytest.raises(DecryptionError):
        SessionWrapper.for_session(b"short", session_id=SESSION, part="inner")


def test_launch_key_opens_only_for_its_session_and_part(
    pair: SessionKeyPair, wrapper: SessionWrapper
) -> None:
    assert len(wrapper.key) == 32
    assert open_session_key(pair, wrapper.sealed_key, session_id=SESSION, part="inner") == wrapper.key
    for session_id, part in ((SESSION, "dek"), ("sess-2", "inner"), ("", "inner"), (SESSION, "")):
        with pytest.raises(DecryptionError):
            open_session_key(pair, wrapper.sealed_key, session_id=session_id, part=part)
    with pytest.raises(DecryptionError):
        open_session_key(SessionKeyPair.generate(), wrapper.sealed_key, session_id=SESSION, part="inner")


@pytest.mark.parametrize("cut", [1, 16, 48, 200])
def test_a_truncated_launch_key_is_refused(pair: SessionKeyPair, wrapper: SessionWrapper, cut: int) -> None:
    with pytest.raises(DecryptionError):
        open_session_key(pair, wrapper.sealed_key[:-cut], session_id=SESSION, part="inner")


def test_each_launch_has_a_fresh_key(pair: SessionKeyPair) -> None:
    a = SessionWrapper.for_session(pair.public_bytes(), session_id=SESSION, part="inner")
    b = SessionWrapper.for_session(pair.public_bytes(), session_id=SESSION, part="inner")
    assert a.key != b.key and a.sealed_key != b.sealed_key


def test_launch_wrapper_repr_hides_the_key(wrapper: SessionWrapper) -> None:
    assert find_raw_bytes(f"{wrapper!r} {[wrapper]}".encode(), [wrapper.key]) == 0


# -- per-secret wraps ------------------------------------------------------------------------------


def test_wrap_round_trip(wrapper: SessionWrapper) -> None:
    wrapped = wrapper.wrap(b"material", secret_id="s-1", version=1, owner_id="u-1")
    assert key_id_of(wrapped) == bytes(8)
    opened = open_session_item(
        wrapper.key, wrapped, session_id=SESSION, part="inner", secret_id="s-1", version=1, owner_id="u-1"
    )
    assert opened == b"material"


@pytest.mark.parametrize(
    ("session_id", "part", "secret_id", "version", "owner_id"),
    [
        ("sess-2", "inner", "s-1", 1, "u-1"),
        (SESSION, "dek", "s-1", 1, "u-1"),
        (SESSION, "inner", "s-2", 1, "u-1"),
        (SESSION, "inner", "s-1", 2, "u-1"),
        (SESSION, "inner", "s-1", 1, "u-2"),
    ],
    ids=["other-session", "other-part", "other-secret", "other-version", "other-owner"],
)
def test_a_wrap_moved_elsewhere_is_refused(
    wrapper: SessionWrapper, session_id: str, part: str, secret_id: str, version: int, owner_id: str
) -> None:
    wrapped = wrapper.wrap(b"material", secret_id="s-1", version=1, owner_id="u-1")
    with pytest.raises(DecryptionError):
        open_session_item(
            wrapper.key,
            wrapped,
            session_id=session_id,
            part=part,
            secret_id=secret_id,
            version=version,
            owner_id=owner_id,
        )


def test_a_wrap_is_bound_to_the_launch_layer(wrapper: SessionWrapper) -> None:
    wrapped = wrapper.wrap(b"material", secret_id="s-1", version=1, owner_id="u-1")
    for layer in Layer:
        with pytest.raises(DecryptionError):
            open_with_key(wrapper.key, wrapped, row(layer))


def test_a_wrap_does_not_open_under_another_launch_key(pair: SessionKeyPair, wrapper: SessionWrapper) -> None:
    other = SessionWrapper.for_session(pair.public_bytes(), session_id=SESSION, part="inner")
    wrapped = wrapper.wrap(b"material", secret_id="s-1", version=1, owner_id="u-1")
    with pytest.raises(DecryptionError):
        open_session_item(
            other.key, wrapped, session_id=SESSION, part="inner", secret_id="s-1", version=1, owner_id="u-1"
        )


def test_a_whole_launch_only_the_session_can_finish() -> None:
    """The server sends wrapped DEKs, the keeper sends wrapped inner layers; the session opens both."""
    keeper = PrivateKeySet.generate()
    uk = new_user_key()
    stored = encrypt_version(uk, keeper.public(), b"hunter2", secret_id="s-1", version=1, owner_id="u-1")
    pair = SessionKeyPair.generate()
    # Server side: unwraps the DEK and wraps it for the session.
    server = SessionWrapper.for_session(pair.public_bytes(), session_id=SESSION, part="dek")
    dek = unwrap_data_key(uk, stored.wrapped_dek, secret_id="s-1", version=1, owner_id="u-1")
    dek_for_session = server.wrap(dek, secret_id="s-1", version=1, owner_id="u-1")
    # Keeper side: strips the outer layer and wraps the inner ciphertext for the session.
    keeper_half = SessionWrapper.for_session(pair.public_bytes(), session_id=SESSION, part="inner")
    inner = open_sealed(keeper, stored.outer, outer_context(secret_id="s-1", version=1, owner_id="u-1"))
    inner_for_session = keeper_half.wrap(inner, secret_id="s-1", version=1, owner_id="u-1")
    # Session side.
    dek_key = open_session_key(pair, server.sealed_key, session_id=SESSION, part="dek")
    inner_key = open_session_key(pair, keeper_half.sealed_key, session_id=SESSION, part="inner")
    got_dek = open_session_item(
        dek_key, dek_for_session, session_id=SESSION, part="dek", secret_id="s-1", version=1, owner_id="u-1"
    )
    got_inner = open_session_item(
        inner_key,
        inner_for_session,
        session_id=SESSION,
        part="inner",
        secret_id="s-1",
        version=1,
        owner_id="u-1",
    )
    assert open_inner(got_dek, got_inner, secret_id="s-1", version=1, owner_id="u-1") == b"hunter2"
    # The halves cannot be swapped: the server's key does not open the keeper's half.
    with pytest.raises(DecryptionError):
        open_session_item(
            dek_key,
            inner_for_session,
            session_id=SESSION,
            part="inner",
            secret_id="s-1",
            version=1,
            owner_id="u-1",
        )
    with pytest.raises(DecryptionError):
        open_session_key(pair, server.sealed_key, session_id=SESSION, part="inner")


def test_outer_digest() -> None:
    assert outer_digest(b"abc") == hashlib.sha256(b"abc").hexdigest()


# -- tickets ---------------------------------------------------------------------------------------


def test_ticket_round_trip(signing: SigningKey, verify: VerifyKeys) -> None:
    claims = {"session_id": SESSION, "ticket_id": "t1", "exp": 123, "items": [{"a": 1}]}
    ticket = signing.sign_ticket(claims)
    assert "=" not in ticket and ticket.count(".") == 2
    assert ticket.split(".")[0] == signing.kid.hex()
    assert verify.verify_ticket(ticket) == {**claims, "v": TICKET_VERSION}


def test_signing_key_text_round_trip(signing: SigningKey) -> None:
    loaded = SigningKey.from_entries(decode_key_lines(signing.to_text(), source="signing.key"))
    assert loaded.kid == signing.kid
    assert loaded.public_text() == signing.public_text()
    assert VerifyKeys.from_text(signing.public_text(), source="v").verify_ticket(loaded.sign_ticket({})) == {
        "v": TICKET_VERSION,
    }


def test_signing_key_repr_hides_the_private_key(signing: SigningKey) -> None:
    raw = signing.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert find_raw_bytes(f"{signing!r} {[signing]}".encode(), [raw]) == 0


def test_verify_keys_rotation(signing: SigningKey) -> None:
    new = SigningKey.generate()
    keys = VerifyKeys.from_text(f"\n{new.public_text()}\n  \n{signing.public_text()}", source="v")
    assert [kid for kid, _ in keys.keys] == [new.kid, signing.kid]
    assert keys.verify_ticket(signing.sign_ticket({"x": 1}))["x"] == 1
    assert keys.verify_ticket(new.sign_ticket({"x": 2}))["x"] == 2


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_verify_keys_without_a_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^v\.pub: holds no verification key$"):
        VerifyKeys.from_text(text, source="v.pub")


def test_malformed_verification_key_lines(signing: SigningKey) -> None:
    kid_hex, b64 = signing.public_text().strip().split(":")
    for line in (
        f"{kid_hex}{b64}",
        f"zz{kid_hex}:{b64}",
        f"{kid_hex}:{base64.b64encode(bytes(31)).decode()}",
    ):
        with pytest.raises(ConfigError) as info:
            VerifyKeys.from_text(line, source="v.pub")
        assert str(info.value) == "v.pub: malformed verification key line"
        assert b64 not in str(info.value)


def _forge(payload: bytes, signature: bytes = bytes(64), kid: str = "00" * 8) -> str:
    return kid + "." + _b64(payload) + "." + _b64(signature)


def _signed(signing: SigningKey, payload: bytes) -> str:
    """A ticket really signed by `signing` over arbitrary payload bytes (what only the server can make)."""
    return _forge(payload, signing.private.sign(signing.kid + payload), signing.kid.hex())


def _bad_tickets(signing: SigningKey) -> dict[str, str]:
    good = signing.sign_ticket({"ticket_id": "t1"})
    _, payload_b64, sig_b64 = good.split(".")
    payload = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
    altered = payload.replace(b'"t1"', b'"t2"')
    kid = signing.kid.hex()
    return {
        "empty": "",
        "no-dot": payload_b64,
        "dot-only": ".",
        "two-dots-only": "..",
        "four-parts": good + ".x",
        "two-parts": payload_b64 + "." + sig_b64,
        "not-base64": kid + ".!!!!.????",
        "kid-not-hex": "zz." + payload_b64 + "." + sig_b64,
        "non-ascii": "\u00e9" + good,
        "altered-payload": kid + "." + _b64(altered) + "." + sig_b64,
        "altered-signature": kid + "." + payload_b64 + "." + _b64(b"\x00" * 64),
        "short-signature": kid + "." + payload_b64 + "." + sig_b64[:10],
        "swapped-halves": kid + "." + sig_b64 + "." + payload_b64,
        "unknown-kid": _forge(payload, base64.urlsafe_b64decode(sig_b64 + "=" * (-len(sig_b64) % 4))),
        "known-kid-unsigned": _forge(payload, bytes(64), kid),
        "other-kid-same-signature": "11" * 8 + "." + payload_b64 + "." + sig_b64,
        "signed-not-json": _signed(signing, b"not json"),
        "signed-json-list": _signed(signing, b"[1,2]"),
        "signed-other-version": _signed(signing, json.dumps({"v": TICKET_VERSION + 1}).encode()),
        "signed-no-version": _signed(signing, b"{}"),
        "other-signer": SigningKey(kid=signing.kid, private=SigningKey.generate().private).sign_ticket({}),
    }


BAD_TICKET_CASES = list(_bad_tickets(SigningKey.generate()))


@pytest.mark.parametrize("case", BAD_TICKET_CASES)
def test_bad_tickets_are_refused_in_one_way(signing: SigningKey, verify: VerifyKeys, case: str) -> None:
    with pytest.raises(DecryptionError) as info:
        verify.verify_ticket(_bad_tickets(signing)[case])
    e = info.value
    assert (e.args, e.__cause__, e.__suppress_context__) == ((MESSAGE,), None, True)


def test_random_ticket_mutations(signing: SigningKey, verify: VerifyKeys) -> None:
    """Seeded T4-style fuzz: a mutated ticket is refused with DecryptionError, or (the base64 decoder
    ignores some characters) verifies to exactly the original claims; never anything else."""
    rng = random.Random(4)
    ticket = signing.sign_ticket({"session_id": SESSION, "ticket_id": "t1", "exp": 1})
    original = verify.verify_ticket(ticket)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00\u00e9"
    for _ in range(2000):
        chars = list(ticket)
        op = rng.randrange(3)
        if op == 0:
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        elif op == 1:
            del chars[rng.randrange(len(chars)) :]
        else:
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(alphabet))
        mutated = "".join(chars)
        try:
            claims = verify.verify_ticket(mutated)
        except DecryptionError:
            continue
        assert claims == original


def test_a_deeply_nested_unsigned_ticket_is_refused_before_parsing(
    signing: SigningKey, verify: VerifyKeys
) -> None:
    """The signature is checked before any JSON is parsed: a hostile payload never reaches the parser."""
    with pytest.raises(DecryptionError):
        verify.verify_ticket(_forge(b"[" * 100_000, kid=signing.kid.hex()))
    with pytest.raises(DecryptionError):
        verify.verify_ticket("x" * (600 * 1024))


def test_claims_cannot_override_the_version(signing: SigningKey, verify: VerifyKeys) -> None:
    assert verify.verify_ticket(signing.sign_ticket({"v": 99, "x": 1})) == {"v": TICKET_VERSION, "x": 1}


def test_claims_are_never_echoed_in_errors(signing: SigningKey, verify: VerifyKeys) -> None:
    canary = "cnry-" + secrets.token_hex(16)
    ticket = signing.sign_ticket({"session_id": canary})
    kid_hex, payload_b64, _ = ticket.split(".")
    with pytest.raises(DecryptionError) as info:
        verify.verify_ticket(kid_hex + "." + payload_b64 + "." + _b64(bytes(64)))
    assert canary not in str(info.value) and canary not in repr(info.value)


def test_key_holders_keep_their_keys_out_of_repr() -> None:
    """A key object in a log line or a traceback's locals shows no key material."""
    pair = SessionKeyPair.generate()
    wrapper = SessionWrapper.for_session(pair.public_bytes(), session_id="s", part="inner")
    signing = SigningKey.generate()
    raw = signing.private.private_bytes_raw()
    for holder, secret in ((wrapper, wrapper.key), (signing, raw)):
        text = repr(holder) + str(holder)
        assert secret.hex() not in text and repr(secret) not in text
    private_raw = pair.private.private_bytes_raw()
    assert private_raw.hex() not in repr(pair) and repr(private_raw) not in repr(pair)
