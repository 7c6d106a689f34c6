"""TEST-PLAN T13: atheris targets on what parses untrusted text and bytes.

Each target takes the fuzzer's bytes, calls the code under test, and checks the properties:
  - a decoder or validator raises only its declared error type (anything else is a crash);
  - an accepted secret, file or user name is what the rule says (checked by a plain-Python oracle, not
    by the regex under test), and `realpath(root/p)` stays under root for accepted names and mount paths;
  - a signed ticket, envelope or launch key that was not made by us never opens.

`python -m tests.fuzz.run TARGET` runs one (scripts/fuzz runs them all); SEEDS gives each a few valid
inputs to start from, so the fuzzer mutates real envelopes, tickets and specs, not only noise.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import string
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import atheris

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import open_, seal
from sealbox.crypto.keyring import Keyring
from sealbox.crypto.session_keys import (
    SessionKeyPair,
    SessionWrapper,
    SigningKey,
    VerifyKeys,
    open_session_key,
    public_key_from_bytes,
)
from sealbox.domain.env_names import ENV_NAME_PATTERN, FAMILIES, check_env_name
from sealbox.domain.names import check_secret_name, check_user_name, is_valid_secret_name, is_valid_user_name
from sealbox.domain.sessions import Mapping, check_file_name, check_mappings, check_mount_path
from sealbox.domain.times import EARLIEST, LATEST, parse_rfc3339
from sealbox.errors import BadRequest, DecryptionError, TimeFormatError, Unauthenticated
from sealbox.launcher import spool
from sealbox.launcher.spec import combine, load_spec, parse_env_option, parse_secret_option
from tests.support.schema_rules import python

NAME_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
ENV_FIRST = frozenset(string.ascii_letters + "_")
ENV_CHARS = frozenset(string.ascii_letters + string.digits + "_")
USER_FIRST = frozenset(string.ascii_lowercase + string.digits)
USER_CHARS = USER_FIRST | frozenset("._-")


def name_rule(name: str) -> bool:
    """The secret-name rule, said without a regex: 1-128 of [A-Za-z0-9._-], not '.' or '..'."""
    return 1 <= len(name) <= 128 and set(name) <= NAME_CHARS and name not in {".", ".."}


def reserved_by(family: Any, upper: str) -> bool:
    """The family rule said with loops, not with the code under test."""
    return (
        upper in family.names
        or any(upper[: len(p)] == p for p in family.prefixes)
        or any(len(upper) >= len(x) and upper[len(upper) - len(x) :] == x for x in family.suffixes)
    )


def under(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


@cache
def root() -> str:
    """An empty private folder (no symlinks below it) that paths are joined onto."""
    return os.path.realpath(tempfile.mkdtemp(prefix="sealbox-fuzz-"))


def text(data: bytes) -> str:
    return atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))


# --- names -------------------------------------------------------------------------------------------


def fuzz_names(data: bytes) -> None:
    name = text(data)
    accepted = is_valid_secret_name(name)
    assert accepted == name_rule(name), repr(name)
    try:
        assert check_secret_name(name) == name and accepted, repr(name)
    except BadRequest:
        assert not accepted, repr(name)
    try:
        check_user_name(name)
        assert 1 <= len(name) <= 64 and name[0] in USER_FIRST and set(name) <= USER_CHARS, repr(name)
    except BadRequest:
        pass


# --- FILE and env mappers ----------------------------------------------------------------------------


def fuzz_file_and_env(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    file = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 140))
    env = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 140))
    secret = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 200))
    try:
        check_file_name(file)
        assert name_rule(file), repr(file)
        assert under(root(), os.path.join(root(), file)) and os.path.join(root(), file) != root(), repr(file)
    except BadRequest:
        assert not name_rule(file), repr(file)
    try:
        check_env_name(env)
    except BadRequest:
        accepted = False
    else:
        accepted = True
        assert 1 <= len(env) <= 128 and env[0] in ENV_FIRST and set(env) <= ENV_CHARS, repr(env)
        assert not env.upper().startswith(("LD_", "SEALBOX_", "DYLD_")) and env.upper() != "PATH", repr(env)
        assert not any(reserved_by(family, env.upper()) for family in FAMILIES), repr(env)
    # The OpenAPI document's pattern says the same (what a generated client refuses, the server refuses).
    assert (python(ENV_NAME_PATTERN).search(env) is not None) == accepted, repr(env)
    # The CLI forms, then the same checks the server makes on a launch.
    for parse, option in ((parse_secret_option, f"{secret}:{file}"), (parse_env_option, f"{env}={secret}")):
        try:
            m = parse(option).validated()
        except BadRequest:
            continue
        owner, slash, name = m.secret.rpartition("/")
        assert name_rule(name) and (not slash or (owner and set(owner) <= USER_CHARS)), repr(m)
        if m.file is not None:
            assert name_rule(m.file) and under(root(), os.path.join(root(), m.file)), repr(m)


# --- mount paths -------------------------------------------------------------------------------------


def fuzz_mount_path(data: bytes) -> None:
    path = text(data)
    try:
        check_mount_path(path)
    except BadRequest:
        pass
    else:
        # Accepted: joined onto any root it stays under that root (no '..' can climb out).
        assert path.startswith("/") and "\x00" not in path, repr(path)
        assert under(root(), root() + path), repr(path)
    # The launcher's own check, on the path under our empty root (it looks at the file system).
    if "\x00" in path or not path.startswith("/"):
        return
    try:
        spool.check_mount_path(Path(root() + path))
    except BadRequest:
        return
    assert under(root(), root() + path), repr(path)


# --- job spec (--secrets-from) ------------------------------------------------------------------------


@cache
def spec_files() -> tuple[Path, Path]:
    return Path(root(), "spec.toml"), Path(root(), "spec.yaml")


def fuzz_spec(data: bytes) -> None:
    if not data:
        return
    path = spec_files()[data[0] & 1]
    path.write_bytes(data[1:])
    try:
        spec = load_spec(path)
        run = combine(spec, [], [], mount_path=None, refresh=False, project=None)
        check_mappings(list(run.mappings))
        if run.mount_path is not None:
            check_mount_path(run.mount_path)
    except BadRequest:
        return
    for m in run.mappings:  # what survives the checks is what the server would be asked for
        assert m.file is None or name_rule(m.file), repr(m)
        assert isinstance(m, Mapping)


# --- envelopes, launch keys and tickets ---------------------------------------------------------------

RING = Keyring.generate().rotated()
CONTEXT = Context.for_version(Layer.INNER, secret_id="s", version=1, owner_id="o")
PAIR = SessionKeyPair.generate()
SIGNING = SigningKey.generate()
VERIFY = VerifyKeys.from_text(SIGNING.public_text(), source="fuzz")
ENVELOPE = seal(RING, b"plain", CONTEXT)
SEALED_KEY = SessionWrapper.for_session(PAIR.public_bytes(), session_id="sid", part="dek").sealed_key
TICKET = SIGNING.sign_ticket({"v": 1, "session": "sid"})


def fuzz_envelope(data: bytes) -> None:
    try:
        opened = open_(RING, data, CONTEXT)
    except DecryptionError:
        return
    assert data == ENVELOPE and opened == b"plain", "an envelope we did not seal opened"


def fuzz_launch_key(data: bytes) -> None:
    try:
        key = open_session_key(PAIR, data, session_id="sid", part="dek")
    except DecryptionError:
        pass
    else:
        assert data == SEALED_KEY and len(key) == 32, "a launch key we did not seal opened"
    with contextlib.suppress(DecryptionError):
        public_key_from_bytes(data)


def fuzz_ticket(data: bytes) -> None:
    ticket = text(data)
    try:
        claims = VERIFY.verify_ticket(ticket)
    except DecryptionError:
        return
    assert ticket == TICKET and claims["session"] == "sid", "a ticket we did not sign verified"


# --- bearer tokens and list cursors ------------------------------------------------------------------


@cache
def database() -> Any:
    from sealbox.store.database import Database

    return Database.open(f"sqlite+pysqlite:///{root()}/tokens.db")


def fuzz_token(data: bytes) -> None:
    from datetime import UTC, datetime

    from sealbox.services.secrets import _decode_cursor
    from sealbox.services.tokens import authenticate

    presented = text(data)
    with database().reading() as uow:
        try:
            authenticate(uow.tokens, presented, now=datetime.now(UTC), client_addr=None)
        except Unauthenticated:
            pass
        else:
            raise AssertionError("an unknown token authenticated")
    try:
        owner, name = _decode_cursor(presented)
    except BadRequest:
        return
    # A cursor is OWNER/NAME and nothing else: every accepted one is a position the stores can compare.
    assert presented == f"{owner}/{name}" and is_valid_user_name(owner) and name_rule(name), repr(presented)


# --- times from outside -------------------------------------------------------------------------------


def fuzz_times(data: bytes) -> None:
    from datetime import UTC, datetime

    given = text(data)
    try:
        when = parse_rfc3339(given)
    except TimeFormatError:
        return
    # Accepted: an aware UTC time every store holds, whatever the offset took it past.
    assert when.tzinfo is UTC and EARLIEST <= when <= LATEST, repr(given)
    year, seconds = int(given[:4]), int(given[17:19])
    if 2 <= year <= 9998 and seconds < 60:
        # Python's own reader, from 3.11 on, agrees where it can hold the time.
        assert datetime.fromisoformat(given.upper()).astimezone(UTC) == when, repr(given)


# --- the OpenAPI document's patterns --------------------------------------------------------------------


def fuzz_schema_rules(data: bytes) -> None:
    from tests.support.schema_rules import RULES, stated

    fdp = atheris.FuzzedDataProvider(data)
    names = sorted(RULES)
    name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
    candidate = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    assert stated(name, candidate) == RULES[name][1](candidate), (name, candidate)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "names": fuzz_names,
    "file_env": fuzz_file_and_env,
    "mount_path": fuzz_mount_path,
    "spec": fuzz_spec,
    "envelope": fuzz_envelope,
    "launch_key": fuzz_launch_key,
    "ticket": fuzz_ticket,
    "token": fuzz_token,
    "times": fuzz_times,
    "schema_rules": fuzz_schema_rules,
}

SEEDS: dict[str, list[bytes]] = {
    "names": [b"db_password", b"..", b"a" * 129],
    "file_env": [b"\x05\x05\x05db.pwDB_PWalice/db"],
    "mount_path": [b"/secrets", b"/a/../b", b"/a//b/"],
    "spec": [
        b'\x00secrets = ["db", "alice/key:k.pem", {name = "aws.secret_access_key", file = "aws"}]\n'
        b'mount_path = "/secrets"\n[env]\nDB = "db"\n',
        b"\x01secrets:\n  - db\n  - {name: alice/key, file: k.pem}\nenv: {DB: db.password}\nrefresh: true\n",
    ],
    "envelope": [ENVELOPE],
    "launch_key": [SEALED_KEY, PAIR.public_bytes()],
    "ticket": [TICKET.encode()],
    "token": [
        b"sbx_abcdefghijklmnop_" + b"A" * 43,
        b"alice/db",
        base64.urlsafe_b64encode(b"alice/db"),
        json.dumps({}).encode(),
    ],
    "times": [
        b"0001-01-01T00:00:00+01:00",
        b"9999-12-31T23:59:59-01:00",
        b"2030-01-31T12:00:00.123456789Z",
        b"2016-12-31T23:59:60z",
    ],
    "schema_rules": [b"\x00db_password", b"\x05PYTHONWARNINGS", b"\x0aalice/db", b"\x0c2030-01-01"],
}
