"""Launch recipes: wrapping material for one session, and the server's signed launch tickets.

A launch carries two halves to the session side: from the server, the data keys; from the keeper,
the inner ciphertexts with the outer layer removed. Each half is wrapped under its own fresh launch
key, and that key is sealed (HPKE) to the session's ephemeral public key, once per launch, so the
per-secret cost is one AES-GCM seal on either side. Only the session side, holding the ephemeral
private key, ever has both halves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import open_with_key, seal_with_key
from sealbox.crypto.keyring import KEY_ID_BYTES, SYMMETRIC_KEY_BYTES, new_key_id
from sealbox.errors import ConfigError, DecryptionError

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
TICKET_VERSION = 1


def _launch_context(session_id: str, part: str, **ids: str) -> Context:
    return Context(layer=Layer.LAUNCH, fields=(("session", session_id), ("part", part), *sorted(ids.items())))


class SessionKeyPair(msgspec.Struct, frozen=True):
    """The session side's ephemeral key pair; the private half never leaves the launcher."""

    private: X25519PrivateKey

    def __repr__(self) -> str:  # the key material stays out of logs and tracebacks
        return "SessionKeyPair(private=...)"

    @classmethod
    def generate(cls) -> SessionKeyPair:
        return cls(private=X25519PrivateKey.generate())

    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes_raw()


def public_key_from_bytes(raw: bytes) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise DecryptionError from None


class SessionWrapper(msgspec.Struct, frozen=True):
    """One side's half of a launch: a fresh key, sealed once to the session, then used per secret."""

    session_id: str
    part: str
    key: bytes
    sealed_key: bytes

    def __repr__(self) -> str:  # the key material stays out of logs and tracebacks
        return f"SessionWrapper(session_id={self.session_id!r}, part={self.part!r})"

    @classmethod
    def for_session(cls, session_public: bytes, *, session_id: str, part: str) -> SessionWrapper:
        key = secrets.token_bytes(SYMMETRIC_KEY_BYTES)
        info = _launch_context(session_id, part).encode()
        sealed = _SUITE.encrypt(key, public_key_from_bytes(session_public), info=info)
        return cls(session_id=session_id, part=part, key=key, sealed_key=sealed)

    def wrap(self, material: bytes, *, secret_id: str, version: int, owner_id: str) -> bytes:
        ctx = _launch_context(
            self.session_id, self.part, secret=secret_id, version=str(version), owner=owner_id
        )
        return seal_with_key(self.key, b"\x00" * KEY_ID_BYTES, material, ctx)


def open_session_key(pair: SessionKeyPair, sealed_key: bytes, *, session_id: str, part: str) -> bytes:
    try:
        return _SUITE.decrypt(sealed_key, pair.private, info=_launch_context(session_id, part).encode())
    except (InvalidTag, ValueError):
        raise DecryptionError from None


def open_session_item(
    key: bytes, wrapped: bytes, *, session_id: str, part: str, secret_id: str, version: int, owner_id: str
) -> bytes:
    ctx = _launch_context(session_id, part, secret=secret_id, version=str(version), owner=owner_id)
    return open_with_key(key, wrapped, ctx)


def outer_digest(outer: bytes) -> str:
    return hashlib.sha256(outer).hexdigest()


# Tickets: what the server signs so that the keeper can authorise a launch without a database.


class SigningKey(msgspec.Struct, frozen=True):
    kid: bytes
    private: Ed25519PrivateKey

    def __repr__(self) -> str:  # the key material stays out of logs and tracebacks
        return f"SigningKey(kid={self.kid.hex()!r})"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(kid=new_key_id(), private=Ed25519PrivateKey.generate())

    def to_text(self) -> str:
        raw = self.private.private_bytes_raw()
        return f"{self.kid.hex()}:{base64.b64encode(raw).decode()}\n"

    def public_text(self) -> str:
        raw = self.private.public_key().public_bytes_raw()
        return f"{self.kid.hex()}:{base64.b64encode(raw).decode()}\n"

    @classmethod
    def from_entries(cls, entries: list[tuple[bytes, bytes]]) -> SigningKey:
        kid, raw = entries[0]
        return cls(kid=kid, private=Ed25519PrivateKey.from_private_bytes(raw))

    def sign_ticket(self, claims: dict[str, Any]) -> str:
        """`kid.payload.signature`: the key id sits outside the payload, so a verifier checks the
        signature before it parses a single byte of JSON."""
        payload = json.dumps({**claims, "v": TICKET_VERSION}, sort_keys=True, separators=(",", ":")).encode()
        signature = self.private.sign(self.kid + payload)
        return self.kid.hex() + "." + _b64(payload) + "." + _b64(signature)


MAX_TICKET_CHARS = 512 * 1024


class VerifyKeys(msgspec.Struct, frozen=True):
    """The server's ticket-verification keys by id (the keeper's only trust anchor)."""

    keys: tuple[tuple[bytes, Ed25519PublicKey], ...]

    @classmethod
    def from_text(cls, text: str, *, source: str) -> VerifyKeys:
        keys: list[tuple[bytes, Ed25519PublicKey]] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                kid_hex, raw = line.strip().split(":", 1)
                keys.append(
                    (bytes.fromhex(kid_hex), Ed25519PublicKey.from_public_bytes(base64.b64decode(raw)))
                )
            except ValueError:
                raise ConfigError(f"{source}: malformed verification key line") from None
        if not keys:
            raise ConfigError(f"{source}: holds no verification key")
        return cls(keys=tuple(keys))

    def verify_ticket(self, ticket: str) -> dict[str, Any]:
        """The ticket's claims if its signature is good; DecryptionError otherwise (no detail)."""
        if not isinstance(ticket, str) or len(ticket) > MAX_TICKET_CHARS:
            raise DecryptionError from None
        try:
            kid_hex, payload_b64, signature_b64 = ticket.split(".")
            kid = bytes.fromhex(kid_hex)
            payload, signature = _unb64(payload_b64), _unb64(signature_b64)
        except (ValueError, binascii.Error):
            raise DecryptionError from None
        for known, public in self.keys:
            if known == kid:
                try:
                    public.verify(signature, kid + payload)
                except InvalidSignature:
                    raise DecryptionError from None
                # Signed by the server: now, and only now, parse it.
                try:
                    claims: Any = json.loads(payload)
                except (ValueError, RecursionError):
                    raise DecryptionError from None
                if not isinstance(claims, dict) or claims.get("v") != TICKET_VERSION:
                    raise DecryptionError from None
                return claims
        raise DecryptionError from None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
