"""Cases for .semgrep.yml (`semgrep scan --test`): each `ruleid:` line must be found, each `ok:` line not.

Never imported or run; ruff's rules are off here because the file shows on purpose what they forbid.
"""

# ruff: noqa
import hmac
import logging
import secrets

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select

log = logging.getLogger("cases")
key = secrets.token_bytes(32)
iv = secrets.token_bytes(16)
table = object()

# ruleid: no-ecb-or-cbc
Cipher(algorithms.AES(key), modes.ECB())
# ruleid: no-ecb-or-cbc
Cipher(algorithms.AES(key), modes.CBC(iv))
# ok: no-ecb-or-cbc
Cipher(algorithms.AES(key), modes.GCM(iv))

# ruleid: no-random-for-secrets
import random

# ruleid: no-random-for-secrets
from random import choice

# ok: no-random-for-secrets
nonce = secrets.token_hex(16)


def check(token: str, presented: str, mac: bytes, expected: bytes, kind: str, row: object) -> bool:
    # ruleid: no-equality-on-tokens-hashes-or-macs
    if token == presented:
        return True
    # ruleid: no-equality-on-tokens-hashes-or-macs
    if hmac.new(key, b"m", "sha256").digest() == expected:
        return True
    # ruleid: no-equality-on-tokens-hashes-or-macs
    if row.tag != expected:
        return False
    # ruleid: no-equality-on-tokens-hashes-or-macs
    if mac == expected:
        return True
    # ok: no-equality-on-tokens-hashes-or-macs
    if token == "-":
        return False
    # ok: no-equality-on-tokens-hashes-or-macs
    if kind == presented:
        return False
    # ok: no-equality-on-tokens-hashes-or-macs
    select(table).where(table.c.token_hash == expected, table.c.kind == kind)
    # ok: no-equality-on-tokens-hashes-or-macs
    return hmac.compare_digest(mac, expected)


# ruleid: no-pycrypto
from Crypto.Cipher import AES

# ruleid: no-pycrypto
import Cryptodome

# ruleid: no-pickle
import pickle

# ruleid: no-pickle
import marshal


def log_things(token: str, value: bytes, name: str, user: object, credential: str) -> None:
    # ruleid: no-secret-material-in-logs
    log.info("token %s", token)
    # ruleid: no-secret-material-in-logs
    log.debug(f"stored {value!r}")
    # ruleid: no-secret-material-in-logs
    log.warning("user %s", user.password)
    # ruleid: no-secret-material-in-logs
    logging.error("refused %s", extra=credential)
    # ok: no-secret-material-in-logs
    log.info("stored %s (version %d)", name, 3)
