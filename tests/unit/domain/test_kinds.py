"""Secret kinds: which fields each takes, the rules on their values, and errors that echo nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import pytest

from sealbox.domain.kinds import (
    SPECS,
    Kind,
    KindSpec,
    _check_kind_rules,
    check_single_value,
    check_text_kind,
    decode_fields,
    encode_fields,
    parse_kind,
    token_fields,
)
from sealbox.errors import BadRequest

MakeCanary = Callable[..., str]
SINGLE = [Kind.GENERIC, Kind.TOKEN, Kind.SSH_KEY, Kind.GCP]
ONLY_ONE_VALUE = [Kind.GENERIC, Kind.SSH_KEY, Kind.GCP]  # a token may also be given as fields
MULTI = [Kind.AWS, Kind.DATABASE]
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GCP_KEY = {
    "type": "service_account",
    "project_id": "p",
    "client_email": "runner@p.iam.gserviceaccount.com",
    "private_key": "-----BEGIN PRIVATE" + " KEY-----\nMIIE\n-----END PRIVATE" + " KEY-----\n",
    "token_uri": "https://oauth2.googleapis.com/token",
}
OPENSSH = (
    b"-----BEGIN OPENSSH PRIVATE"
    + b" KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE"
    + b" KEY-----\n"
)


def _refused(
    call: Callable[[], object], code: str, *, field: str | None = None, hidden: tuple[str, ...] = ()
) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        call()
    exc = info.value
    assert exc.status_code == 400
    assert exc.code == code
    if field is not None:
        assert exc.field == field
    for value in hidden:
        for text in (str(exc), exc.message, repr(exc), repr(exc.args), str(exc.field)):
            assert value not in text
    return exc


# -- kinds -----------------------------------------------------------------------------------------


def test_kinds() -> None:
    assert [k.value for k in Kind] == ["generic", "aws", "database", "token", "ssh-key", "gcp", "aws-role"]
    assert set(SPECS) == set(Kind)


@pytest.mark.parametrize("kind", list(Kind))
def test_parse_kind(kind: Kind) -> None:
    assert parse_kind(kind.value) is kind


@pytest.mark.parametrize("label", ["", "AWS", " aws", "ssh_key", "sshkey", "generic\x00", "../aws", "tok"])
def test_unknown_kind(label: str, canary: MakeCanary) -> None:
    bad = canary() + label
    exc = _refused(lambda: parse_kind(bad), "invalid_kind", field="kind", hidden=(bad, bad[:21]))
    assert exc.message == "unknown kind; use one of: generic, aws, database, token, ssh-key, gcp, aws-role"


@pytest.mark.parametrize("value", [None, 5, b"aws"])
def test_unknown_kind_of_another_type(value: object) -> None:
    _refused(lambda: parse_kind(value), "invalid_kind")  # type: ignore[arg-type]


def test_kind_specs() -> None:
    for kind in SINGLE:
        assert not SPECS[kind].multi_field
        assert SPECS[kind].all_fields == ()
    assert SPECS[Kind.AWS].required == ("access_key_id", "secret_access_key")
    assert SPECS[Kind.AWS].all_fields == ("access_key_id", "secret_access_key", "session_token", "region")
    assert SPECS[Kind.DATABASE].required == ()
    assert set(SPECS[Kind.DATABASE].optional) == {"url", "host", "port", "user", "password", "dbname"}
    assert KindSpec(optional=("x",)).multi_field
    assert not KindSpec().multi_field


# -- one-value kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Kind.GENERIC, b"anything at all\n\x00\xff"),
        (Kind.GENERIC, b"x"),
        (Kind.TOKEN, b"ghp_abcdef0123456789"),
        (Kind.TOKEN, b"  padded-token\n"),
        (Kind.SSH_KEY, OPENSSH),
        (Kind.SSH_KEY, b"-----BEGIN PRIVATE" + b" KEY-----\nMIIE\n-----END PRIVATE" + b" KEY-----\n"),
        (Kind.SSH_KEY, b"-----BEGIN RSA PRIVATE" + b" KEY-----\nMIIE\n"),
        (Kind.SSH_KEY, b"\n\n" + OPENSSH),
        (Kind.GCP, json.dumps(GCP_KEY).encode()),
    ],
)
def test_single_values(kind: Kind, value: bytes) -> None:
    assert check_single_value(kind, value) is value


@pytest.mark.parametrize("kind", SINGLE)
def test_an_empty_value_is_refused(kind: Kind) -> None:
    _refused(lambda: check_single_value(kind, b""), "invalid_value", field="value")


@pytest.mark.parametrize("kind", MULTI)
def test_multi_field_kinds_take_no_single_value(kind: Kind, canary: MakeCanary) -> None:
    value = canary().encode()
    exc = _refused(
        lambda: check_single_value(kind, value), "invalid_value", field="value", hidden=(value.decode(),)
    )
    assert exc.message.startswith(f"kind {kind.value} takes fields (")


@pytest.mark.parametrize(
    "value",
    [
        b"not a key",
        b"-----BEGIN PUBLIC KEY-----\nMIIB\n",
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host",
        b"-----BEGIN openssh PRIVATE" + b" KEY-----\n",
    ],
)
def test_ssh_key_needs_a_private_key_header(value: bytes, canary: MakeCanary) -> None:
    secret = canary()
    exc = _refused(
        lambda: check_single_value(Kind.SSH_KEY, secret.encode() + value),
        "invalid_value",
        field="value",
        hidden=(secret,),
    )
    assert exc.message == "an ssh-key value must be a PEM or OpenSSH private key"


@pytest.mark.parametrize("value", [b"two\nlines", b"a\n\nb", b"   ", b"\n", b"\t\n"])
def test_token_is_one_line(value: bytes, canary: MakeCanary) -> None:
    secret = canary()
    _refused(
        lambda: check_single_value(Kind.TOKEN, secret.encode() + value if value.strip() else value),
        "invalid_value",
    )
    exc = _refused(
        lambda: check_single_value(Kind.TOKEN, value), "invalid_value", field="value", hidden=(secret,)
    )
    assert exc.message == "a token value is one line of text"


# -- multi-field kinds: aws ------------------------------------------------------------------------


def _aws(**fields: str) -> dict[str, str]:
    return {"access_key_id": KEY_ID, "secret_access_key": SECRET_KEY, **fields}


def test_aws_minimal() -> None:
    encoded = encode_fields(Kind.AWS, _aws())
    assert encoded == json.dumps(_aws(), sort_keys=True, separators=(",", ":")).encode()
    assert decode_fields(encoded) == _aws()


def test_aws_with_optional_fields() -> None:
    fields = _aws(session_token="FwoGZXIvYXdzE//token+/=", region="eu-central-1")
    assert decode_fields(encode_fields(Kind.AWS, fields)) == fields


def test_encoding_is_canonical() -> None:
    a = encode_fields(Kind.AWS, {"region": "us-east-1", **_aws()})
    b = encode_fields(Kind.AWS, {**_aws(), "region": "us-east-1"})
    assert a == b
    assert a.startswith(b'{"access_key_id":')


def test_empty_optional_fields_are_dropped() -> None:
    assert decode_fields(encode_fields(Kind.AWS, _aws(session_token="", region=""))) == _aws()


@pytest.mark.parametrize("missing", ["access_key_id", "secret_access_key"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_aws_needs_both_keys(missing: str, how: str) -> None:
    fields = _aws()
    if how == "absent":
        del fields[missing]
    else:
        fields[missing] = ""
    exc = _refused(
        lambda: encode_fields(Kind.AWS, fields), "missing_field", field=missing, hidden=(SECRET_KEY, KEY_ID)
    )
    assert exc.message == f"kind aws needs the field {missing}"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("access_key_id", "akiaiosfodnn7example", "access_key_id must be 16-128 capital letters or digits"),
        ("access_key_id", "AKIA123", "access_key_id must be 16-128 capital letters or digits"),
        ("access_key_id", "A" * 129, "access_key_id must be 16-128 capital letters or digits"),
        ("access_key_id", "AKIAIOSFODNN7EXAMPLE\n", "access_key_id must be 16-128 capital letters or digits"),
        (
            "access_key_id",
            "AKIAIOSFODNN7EXAMPL\u0130",
            "access_key_id must be 16-128 capital letters or digits",
        ),
        ("region", "Europe", "region must look like eu-west-1"),
        ("region", "eu-west-", "region must look like eu-west-1"),
        ("region", "eu-west-123", "region must look like eu-west-1"),
        ("region", "EU-WEST-1", "region must look like eu-west-1"),
        ("region", "eu-west-1\n", "region must look like eu-west-1"),
        ("secret_access_key", "has space", "secret_access_key must be printable text without spaces"),
        ("secret_access_key", "tab\there", "secret_access_key must be printable text without spaces"),
        ("secret_access_key", "nl\n", "secret_access_key must be printable text without spaces"),
        ("secret_access_key", "nul\x00", "secret_access_key must be printable text without spaces"),
        ("secret_access_key", "caf\u00e9", "secret_access_key must be printable text without spaces"),
        ("session_token", "a b", "session_token must be printable text without spaces"),
        ("session_token", "\x7f", "session_token must be printable text without spaces"),
    ],
)
def test_aws_field_rules(field: str, value: str, message: str, canary: MakeCanary) -> None:
    fields = _aws(**{field: value})
    exc = _refused(
        lambda: encode_fields(Kind.AWS, fields), "invalid_field", field=field, hidden=(SECRET_KEY,)
    )
    assert exc.message == message


@pytest.mark.parametrize("field", ["access_key_id", "region", "secret_access_key", "session_token"])
def test_aws_rule_errors_do_not_echo_the_value(field: str, canary: MakeCanary) -> None:
    bad = canary() + " \x00"  # lower case, a space and a NUL: breaks every aws field rule
    _refused(
        lambda: encode_fields(Kind.AWS, _aws(**{field: bad})),
        "invalid_field",
        field=field,
        hidden=(bad, bad[:21]),
    )


# -- multi-field kinds: database -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "postgresql://user:pw@db.internal:5432/prod"},
        {"url": "mysql+pymysql://u@h/d?ssl=true"},
        {"url": "sqlite:///x.db"},
        {"host": "db.internal"},
        {"host": "db", "port": "5432", "user": "u", "password": "p w", "dbname": "prod"},
        {"host": "db", "port": "1"},
        {"host": "db", "port": "65535"},
        {"host": "db", "port": ""},
        {"url": "postgresql://h/d", "host": "", "port": ""},
    ],
)
def test_database_fields(fields: dict[str, str]) -> None:
    expected = {k: v for k, v in fields.items() if v}
    assert decode_fields(encode_fields(Kind.DATABASE, fields)) == expected


@pytest.mark.parametrize("part", ["host", "port", "user", "password", "dbname"])
def test_database_url_and_parts_are_exclusive(part: str, canary: MakeCanary) -> None:
    secret = canary()
    fields = {"url": f"postgresql://u:{secret}@h/d", part: "5432" if part == "port" else secret}
    exc = _refused(
        lambda: encode_fields(Kind.DATABASE, fields), "invalid_field", field="url", hidden=(secret,)
    )
    assert exc.message == "give either url, or host/port/user/password/dbname, not both"


@pytest.mark.parametrize(
    "url", ["not a url", "db.internal:5432", "://x", "1http://x", "postgresql://", "http://a b"]
)
def test_database_url_must_look_like_one(url: str) -> None:
    exc = _refused(lambda: encode_fields(Kind.DATABASE, {"url": url}), "invalid_field", field="url")
    assert exc.message == "url must look like scheme://…"


def test_database_url_error_does_not_echo(canary: MakeCanary) -> None:
    bad = canary() + " no-scheme"
    _refused(
        lambda: encode_fields(Kind.DATABASE, {"url": bad}),
        "invalid_field",
        field="url",
        hidden=(bad, bad[:21]),
    )


@pytest.mark.parametrize(
    "fields", [{}, {"port": "5432"}, {"user": "u", "password": "p"}, {"host": "", "dbname": "d"}]
)
def test_database_needs_url_or_host(fields: dict[str, str]) -> None:
    exc = _refused(lambda: encode_fields(Kind.DATABASE, fields), "missing_field", field="host")
    assert exc.message == "kind database needs url, or host (with port/user/password/dbname)"


@pytest.mark.parametrize("port", ["0", "65536", "99999", "-1", "+80", "80a", "5432 ", " 5432", "1e3", "0x50"])
def test_database_port_range(port: str) -> None:
    exc = _refused(
        lambda: encode_fields(Kind.DATABASE, {"host": "db", "port": port}), "invalid_field", field="port"
    )
    assert exc.message == "port must be a number from 1 to 65535"


def test_database_port_error_does_not_echo(canary: MakeCanary) -> None:
    bad = canary()
    _refused(
        lambda: encode_fields(Kind.DATABASE, {"host": "db", "port": bad}),
        "invalid_field",
        field="port",
        hidden=(bad,),
    )


@pytest.mark.parametrize("port", ["\u00b2", "1\u00b2", "\u2460"])
def test_database_port_with_a_superscript_digit_is_a_bad_request(port: str) -> None:
    _refused(
        lambda: encode_fields(Kind.DATABASE, {"host": "db", "port": port}), "invalid_field", field="port"
    )


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        (Kind.DATABASE, {"host": "db", "port": "\u0668\u0660"}),
        (Kind.DATABASE, {"host": "db", "port": "\uff18\uff10"}),
        (Kind.AWS, {"access_key_id": KEY_ID, "secret_access_key": SECRET_KEY, "region": "eu-west-\u0661"}),
    ],
    ids=["port-arabic-indic", "port-fullwidth", "region-arabic-indic"],
)
def test_non_ascii_digits_are_refused(kind: Kind, fields: dict[str, str]) -> None:
    _refused(lambda: encode_fields(kind, fields), "invalid_field")


# -- field names and types -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MULTI)
def test_unknown_field_is_refused_without_echo(kind: Kind, canary: MakeCanary) -> None:
    name, value = canary("name-"), canary("value-")
    fields = {**(_aws() if kind is Kind.AWS else {"host": "db"}), name: value}
    exc = _refused(
        lambda: encode_fields(kind, fields), "invalid_field", field="fields", hidden=(name, value, name[:21])
    )
    assert exc.message == f"unknown field for kind {kind.value}; allowed: {', '.join(SPECS[kind].all_fields)}"


@pytest.mark.parametrize("name", ["Access_Key_Id", "access_key_id ", "url\x00", "__proto__", "", "host/../x"])
def test_near_miss_field_names_are_unknown(name: str) -> None:
    _refused(lambda: encode_fields(Kind.AWS, {**_aws(), name: "x"}), "invalid_field", field="fields")


@pytest.mark.parametrize("kind", ONLY_ONE_VALUE)
def test_one_value_kinds_take_no_fields(kind: Kind, canary: MakeCanary) -> None:
    name, value = canary("name-"), canary("value-")
    exc = _refused(
        lambda: encode_fields(kind, {name: value}), "invalid_value", field="fields", hidden=(name, value)
    )
    assert exc.message == f"kind {kind.value} takes one value, not fields"


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        (Kind.AWS, {"access_key_id": KEY_ID, "secret_access_key": 5}, "secret_access_key"),
        (Kind.AWS, {**_aws(), "region": None}, "region"),
        (Kind.AWS, {**_aws(), "session_token": b"bytes"}, "session_token"),
        (Kind.DATABASE, {"host": "db", "port": 5432}, "port"),
        (Kind.DATABASE, {"url": ["postgresql://x"]}, "url"),
    ],
)
def test_field_values_must_be_text(kind: Kind, fields: Mapping[str, object], field: str) -> None:
    exc = _refused(lambda: encode_fields(kind, fields), "invalid_field", field=field)  # type: ignore[arg-type]
    assert exc.message == f"field {field} must be text"


def test_decode_fields_refuses_a_non_map() -> None:
    with pytest.raises(ValueError, match=r"^not a field map$"):
        decode_fields(b'["a"]')
    assert decode_fields(b'{"a":"1","b":2}') == {"a": "1", "b": "2"}


@pytest.mark.parametrize("kind", SINGLE)
def test_one_value_kinds_have_no_field_rules(kind: Kind) -> None:
    # encode_fields refuses these kinds before their field rules run; the rules pass them through.
    _check_kind_rules(kind, {"anything": "x"})


@pytest.mark.parametrize("kind", list(Kind))
def test_tokens_and_ssh_keys_are_given_as_text(kind: Kind) -> None:
    """`value_base64` is for bytes; a token's or an ssh-key's rules read text, as the API's schema says."""
    check_text_kind(kind, given_as_bytes=False)
    if kind in (Kind.TOKEN, Kind.SSH_KEY, Kind.GCP):
        with pytest.raises(BadRequest) as info:
            check_text_kind(kind, given_as_bytes=True)
        assert (info.value.code, info.value.field) == ("invalid_value", "value_base64")
    else:
        check_text_kind(kind, given_as_bytes=True)


# -- gcp keys and tokens with fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"type": "authorized_user"}, "invalid_field", "type"),
        ({"client_email": ""}, "missing_field", "client_email"),
        ({"client_email": "nobody"}, "invalid_field", "client_email"),
        ({"private_key": None}, "missing_field", "private_key"),
        ({"private_key": "not a key"}, "invalid_field", "private_key"),
        ({"token_uri": "http://oauth2.example/token"}, "invalid_field", "token_uri"),
    ],
)
def test_gcp_keys_are_checked_on_entry(change: dict[str, object], code: str, field: str) -> None:
    key = json.dumps({**GCP_KEY, **change}).encode()
    _refused(lambda: check_single_value(Kind.GCP, key), code, field=field)


@pytest.mark.parametrize("value", [b"{", b"[]", b"not json", b'"text"', b"\xff"])
def test_a_gcp_value_is_a_json_object(value: bytes) -> None:
    _refused(lambda: check_single_value(Kind.GCP, value), "invalid_value", field="value")


def test_a_token_with_its_host_and_user_name(canary: MakeCanary) -> None:
    token = canary()
    fields = {"token": token, "host": "github.com", "username": "me"}
    encoded = encode_fields(Kind.TOKEN, fields)
    assert token_fields(encoded) == fields
    assert token_fields(f"  {token}\n".encode()) == {"token": token}  # one value: the token alone
    assert token_fields(encode_fields(Kind.TOKEN, {"token": token})) == {"token": token}
    for host in ("127.0.0.1:8080", "https://index.docker.io/v1/", "http://git.local:3000"):
        encode_fields(Kind.TOKEN, {"token": token, "host": host})


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"host": "github.com"}, "missing_field", "token"),
        ({"token": "a\nb"}, "invalid_field", "token"),
        ({"token": " padded"}, "invalid_field", "token"),
        ({"token": "t", "host": "git hub"}, "invalid_field", "host"),
        ({"token": "t", "host": "ftp://h"}, "invalid_field", "host"),
        ({"token": "t", "username": "a:b"}, "invalid_field", "username"),
        ({"token": "t", "username": "a b"}, "invalid_field", "username"),
        ({"token": "t", "password": "p"}, "invalid_field", "fields"),
    ],
)
def test_token_fields_are_checked(fields: dict[str, str], code: str, field: str) -> None:
    exc = _refused(lambda: encode_fields(Kind.TOKEN, fields), code, field=field)
    assert "a\nb" not in exc.message
