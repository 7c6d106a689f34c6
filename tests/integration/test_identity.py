"""Identity (issue 5, "Identity"; TEST-PLAN T16): OpenID Connect, a trusted proxy's header, rate limits.

OIDC is tested against a real issuer process (`tests/support/issuer.py`): the server finds its JWKS
through discovery and checks signature, audience, issuer and expiry; users are provisioned on first
sight and join the groups their token names, so a secret shared with such a group is usable at once.
The `X-Forwarded-User` header counts only from the configured proxy addresses. Failed authentication
is counted per client address and per normalised identity: the 21st failure in a minute gets 429 with
`Retry-After` instead of 401, and two server replicas on one PostgreSQL database share the count; a
valid credential is never refused by a count (issue 12, finding 4: a flood from a shared address, or
under somebody's token id, locks nobody out; tests/integration/test_lockout.py floods it).

Requests come from distinct loopback addresses (127.0.0.x) so that each test has its own address
bucket; the failure counters are per minute, so the rate-limit tests start early in a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.issuer import AUDIENCE, Issuer, replica, restart_server, running_issuer
from tests.support.processes import Stack, running_stack

API = "/api/v1"
_ADDRESSES = itertools.count(10)
SECRETS: list[str] = []  # values and tokens: never in a log


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_address() -> str:
    """A loopback address of this test's own: its failure bucket starts empty."""
    n = next(_ADDRESSES)
    return f"127.0.{n // 250}.{n % 250 + 2}"


def call(
    url: str,
    path: str,
    *,
    token: str | bytes | None = None,
    source: str = "127.0.0.1",
    headers: dict[str, Any] | None = None,
    method: str = "GET",
    **kwargs: Any,
) -> httpx.Response:
    sent: dict[str, Any] = dict(headers or {})
    if token is not None:
        sent["Authorization"] = (b"Bearer " + token) if isinstance(token, bytes) else f"Bearer {token}"
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=url, transport=transport, timeout=30) as client:
        resp = client.request(method, f"{API}{path}", headers=sent, **kwargs)
    assert find_in_bytes(resp.content, [s for s in SECRETS if s.startswith("cnry-")]) == []
    return resp


def new_user(stack: Stack, prefix: str) -> tuple[str, str]:
    name = unique(prefix)
    resp = call(stack.url, "/users", token=stack.admin_token, method="POST", json={"name": name})
    assert resp.status_code == 201, resp.text
    SECRETS.append(resp.json()["token"])
    return name, resp.json()["token"]


def user_names(stack: Stack) -> set[str]:
    resp = call(stack.url, "/users", token=stack.admin_token)
    assert resp.status_code == 200, resp.text
    return {u["name"] for u in resp.json()}


def fresh_window(needed: float = 15.0) -> None:
    """Wait, if need be, so that the next `needed` seconds fall into one failure-counting minute."""
    into = time.time() % 60
    if into > 60 - needed:
        time.sleep(60 - into + 0.3)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- fixtures -------------------------------------------------------------------------------------------


@dataclass
class OIDC:
    stack: Stack
    issuer: Issuer


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDC]:
    """A stack whose server trusts the test issuer (found by discovery) and the proxy at 127.0.0.1."""
    root = tmp_path_factory.mktemp("oidc")
    with running_issuer(root) as issuer, running_stack(root) as stack:
        restart_server(
            stack,
            SEALBOX_OIDC_ISSUER=issuer.url,
            SEALBOX_OIDC_AUDIENCE=AUDIENCE,
            SEALBOX_TRUSTED_PROXIES="127.0.0.1",
        )
        SECRETS.append(stack.admin_token)
        yield OIDC(stack=stack, issuer=issuer)
        assert find_in_bytes(stack.logs(), SECRETS) == []


# --- OpenID Connect -------------------------------------------------------------------------------------


def test_a_valid_token_provisions_the_user_who_joins_the_groups_it_names(oidc: OIDC) -> None:
    url = oidc.stack.url
    name, group = unique("carol"), unique("oidc-data")
    token = oidc.issuer.token(preferred_username=name, groups=[group, "not a group name!", 7])
    SECRETS.append(token)
    assert name not in user_names(oidc.stack)
    me = call(url, "/me", token=token)
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["is_admin"]) == (name, False)
    assert call(url, "/groups", token=token).json() == [{"name": group, "role": "member"}]

    # A secret shared with that group is usable by the new user at once, through a real launch.
    alice, alice_token = new_user(oidc.stack, "alice")
    value = make_canary("oidc")
    SECRETS.append(value)
    secret = unique("db")
    created = call(url, "/secrets", token=alice_token, method="POST", json={"name": secret, "value": value})
    assert created.status_code == 201
    shared = call(
        url,
        f"/secrets/{secret}/grants",
        token=alice_token,
        method="POST",
        json={"group": group, "level": "use"},
    )
    assert shared.status_code == 201, shared.text
    listed = call(url, "/secrets", token=token).json()["items"]
    assert [(i["ref"], i["access"]) for i in listed] == [(f"{alice}/{secret}", "use")]
    launch = call(
        url,
        "/sessions",
        token=token,
        method="POST",
        json={"secrets": [{"name": f"{alice}/{secret}", "file": "f"}]},
    )
    assert launch.status_code == 201, launch.text
    with HTTPClient(url) as anonymous:
        delivery = redeem(
            anonymous,
            session_id=launch.json()["session"]["id"],
            credential=launch.json()["session_credential"],
            keeper_url=oidc.stack.keeper.url,
        )
    assert delivery.items[0].value.decode() == value

    # The next token of the same person is the same user, whatever the case of the claim.
    again = oidc.issuer.token(preferred_username=name.upper(), groups=[group])
    assert call(url, "/me", token=again).json()["id"] == me.json()["id"]


def _forged(issuer: Issuer, kind: str, claims: dict[str, Any]) -> str:
    """Tokens no issuer signed: `alg: none`, or HS256 keyed with the issuer's public key."""
    kid = issuer.jwks()["keys"][0]["kid"]
    if kind == "none":
        header = {"alg": "none", "typ": "JWT", "kid": kid}
        return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."
    public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(issuer.jwks()["keys"][0]))
    pem = public.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


BAD_TOKENS = [
    "expired",
    "not-yet-valid",
    "wrong-audience",
    "wrong-issuer",
    "no-expiry",
    "no-username",
    "rogue-key-same-kid",
    "rogue-key-unknown-kid",
    "alg-none",
    "hs256-with-public-key",
    "payload-swapped",
]


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_a_bad_token_is_401_and_provisions_nobody(oidc: OIDC, case: str) -> None:
    issuer = oidc.issuer
    name = unique(case[:12])
    now = int(time.time())
    good = {"iss": issuer.url, "aud": AUDIENCE, "iat": now, "exp": now + 300, "preferred_username": name}
    token = {
        "expired": lambda: issuer.token(preferred_username=name, iat=now - 900, nbf=now - 900, exp=now - 300),
        "not-yet-valid": lambda: issuer.token(preferred_username=name, nbf=now + 600, exp=now + 900),
        "wrong-audience": lambda: issuer.token(preferred_username=name, aud="another-service"),
        "wrong-issuer": lambda: issuer.token(preferred_username=name, iss="http://127.0.0.1:9/elsewhere"),
        "no-expiry": lambda: issuer.token(preferred_username=name, exp=None),
        "no-username": lambda: issuer.token(preferred_username=None, name=name, email=f"{name}@example.org"),
        "rogue-key-same-kid": lambda: issuer.token(preferred_username=name, key="rogue"),
        "rogue-key-unknown-kid": lambda: issuer.token(preferred_username=name, key="rogue", kid="rogue-1"),
        "alg-none": lambda: _forged(issuer, "none", good),
        "hs256-with-public-key": lambda: _forged(issuer, "hs256", good),
        "payload-swapped": lambda: ".".join(
            [
                issuer.token(preferred_username=unique("real")).split(".")[0],
                b64url(json.dumps(good).encode()),
                issuer.token(preferred_username=unique("real")).split(".")[2],
            ]
        ),
    }[case]()
    SECRETS.append(token)
    resp = call(oidc.stack.url, "/me", token=token, source=new_address())
    assert resp.status_code == 401, (case, resp.text)
    assert resp.json()["code"] == "unauthenticated"
    assert name not in user_names(oidc.stack)


def test_a_service_account_cannot_sign_in_through_the_issuer(oidc: OIDC) -> None:
    name = unique("svc")
    resp = call(
        oidc.stack.url,
        "/service-accounts",
        token=oidc.stack.admin_token,
        method="POST",
        json={"name": name, "kinds": ["aws"]},
    )
    assert resp.status_code == 201, resp.text
    token = oidc.issuer.token(preferred_username=name)
    assert call(oidc.stack.url, "/me", token=token, source=new_address()).status_code == 401


# --- the trusted proxy header ---------------------------------------------------------------------------


def test_the_proxy_header_is_ignored_when_no_proxy_is_trusted(stack: Stack) -> None:
    """The default: nobody may name a user in a header."""
    bob, bob_token = new_user(stack, "bob")
    claimed = unique("proxied")
    for who in ("admin", claimed):
        resp = call(stack.url, "/me", headers={"X-Forwarded-User": who}, source=new_address())
        assert resp.status_code == 401, resp.text
    with_token = call(stack.url, "/me", token=bob_token, headers={"X-Forwarded-User": "admin"})
    assert with_token.status_code == 200 and with_token.json()["name"] == bob
    assert claimed not in user_names(stack)


def test_the_proxy_header_counts_only_from_the_trusted_address(oidc: OIDC) -> None:
    url = oidc.stack.url
    name = unique("kubeflow-user")
    header = {"X-Forwarded-User": name.upper()}
    untrusted = call(url, "/me", headers=header, source=new_address())
    assert untrusted.status_code == 401
    assert name not in user_names(oidc.stack)
    trusted = call(url, "/me", headers=header, source="127.0.0.1")
    assert trusted.status_code == 200 and trusted.json()["name"] == name  # provisioned, normalised
    assert call(url, "/me", headers={"x-forwarded-user": name}).json()["id"] == trusted.json()["id"]
    # A bearer token, when given, decides; a bad one is not rescued by the header.
    assert call(url, "/me", token="sbx_garbage", headers=header).status_code == 401
    # Names that are no user name, and service accounts, are refused even from the proxy.
    assert call(url, "/me", headers={"X-Forwarded-User": "not a name!"}).status_code == 401


def test_a_disabled_user_is_refused_through_the_issuer_and_the_proxy_at_once(oidc: OIDC) -> None:
    """Issue 12, finding 2: disabling a user refuses their OpenID Connect and proxy sign-ins, as well as
    their tokens; enabling them lets them in again."""
    url = oidc.stack.url
    via_oidc, via_proxy = unique("olga"), unique("pete")
    token = oidc.issuer.token(preferred_username=via_oidc)
    SECRETS.append(token)
    assert call(url, "/me", token=token).json()["name"] == via_oidc
    assert call(url, "/me", headers={"X-Forwarded-User": via_proxy}).json()["name"] == via_proxy
    for name in (via_oidc, via_proxy):
        done = call(url, f"/users/{name}/disable", token=oidc.stack.admin_token, method="POST")
        assert done.status_code == 200, done.text
    fresh = oidc.issuer.token(preferred_username=via_oidc)  # a new JWT does not help either
    for refused in (
        call(url, "/me", token=token, source=new_address()),
        call(url, "/me", token=fresh, source=new_address()),
        call(url, "/secrets", token=fresh, source=new_address()),
        call(url, "/me", headers={"X-Forwarded-User": via_proxy}),
        call(url, "/secrets", headers={"X-Forwarded-User": via_proxy.upper()}),
    ):
        assert refused.status_code == 401, refused.text
    for name in (via_oidc, via_proxy):
        call(url, f"/users/{name}/enable", token=oidc.stack.admin_token, method="POST").raise_for_status()
    assert call(url, "/me", token=fresh).json()["name"] == via_oidc
    assert call(url, "/me", headers={"X-Forwarded-User": via_proxy}).json()["name"] == via_proxy


def test_an_identity_providers_jwt_does_not_sign_in_to_the_web_form(oidc: OIDC) -> None:
    """The form takes personal access tokens only: a web session signed in with a JWT would name no token
    and outlive the JWT (single sign-on is the way in for an identity provider's users)."""
    token = oidc.issuer.token(preferred_username=unique("wendy"))
    SECRETS.append(token)
    assert call(oidc.stack.url, "/me", token=token).status_code == 200
    with httpx.Client(base_url=oidc.stack.url, timeout=30, follow_redirects=False) as web:
        page = web.get("/web/login")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        resp = web.post("/web/login", data={"csrf": csrf, "token": token})
        assert resp.status_code == 401 and "sealbox_session" not in web.cookies
        assert "that token is not valid" in resp.text


# --- rate limits ----------------------------------------------------------------------------------------


def assert_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.json()["code"] == "rate_limited"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_the_21st_failure_from_one_address_is_429_and_valid_credentials_still_work(oidc: OIDC) -> None:
    url = oidc.stack.url
    name, token = new_user(oidc.stack, "dora")
    erik = unique("erik")
    jwt_token = oidc.issuer.token(preferred_username=erik)
    source = new_address()
    fresh_window()
    for i in range(20):
        assert call(url, "/me", token=f"not-a-token-{i}", source=source).status_code == 401, i
    # Failures from the address are slowed: bad tokens, a forged JWT, no credentials at all.
    assert_limited(call(url, "/me", token="not-a-token-21", source=source))
    assert_limited(call(url, "/me", token=jwt_token[:-4] + "AAAA", source=source))
    assert_limited(call(url, "/me", source=source))
    # Valid credentials from the same address are not (issue 12, finding 4): a personal token, a JWT.
    assert call(url, "/me", token=token, source=source).json()["name"] == name
    assert call(url, "/me", token=jwt_token, source=source).json()["name"] == erik
    assert_limited(call(url, "/me", token="not-a-token-22", source=source))


def _variants(token_id: str) -> list[bytes]:
    """The token id in other case and in Unicode compatibility forms (ª º ² ³), as Latin-1 header bytes."""
    forms = [token_id.upper()]
    for plain, compat in (("a", "ª"), ("o", "º"), ("2", "²"), ("3", "³")):
        if plain in token_id:
            forms.append(token_id.replace(plain, compat))
    return [f"sbx_{f}_{'A' * 43}".encode("latin-1") for f in forms]


def test_case_and_unicode_variants_of_one_identity_share_a_bucket(oidc: OIDC) -> None:
    url = oidc.stack.url
    _, first = new_user(oidc.stack, "vera")
    for _ in range(50):  # a token whose id has a letter or digit with a compatibility form
        issued = call(url, "/tokens", token=first, method="POST", json={"name": "variants"}).json()
        SECRETS.append(issued["token"])
        if any(c in issued["id"] for c in "ao23"):
            break
    token, token_id = issued["token"], issued["id"]
    variants = _variants(token_id)
    assert len(variants) >= 2
    fresh_window()
    for i in range(20):  # each from its own address: only the identity's bucket fills up
        resp = call(url, "/me", token=variants[i % len(variants)], source=new_address())
        assert resp.status_code == 401, (i, resp.text)
    # Guessing at this token id is slowed from any address, in any spelling of the id...
    assert_limited(call(url, "/me", token=f"sbx_{token_id}_{'B' * 43}", source=new_address()))
    assert_limited(call(url, "/me", token=variants[0], source=new_address()))
    # ...but the token's owner is not locked out by it (a token id is no secret), nor is anybody else.
    assert call(url, "/me", token=token, source=new_address()).status_code == 200
    assert call(url, "/me", token=first, source=new_address()).status_code == 200


def test_the_limit_holds_across_two_replicas_on_postgresql(pg_stack: Stack) -> None:
    name, token = new_user(pg_stack, "rita")
    with replica(pg_stack) as second:
        urls = [pg_stack.url, second]
        source = new_address()
        fresh_window(needed=25)
        for url in urls:
            assert call(url, "/me", token=token, source=source).json()["name"] == name
        for i in range(20):  # spread over both replicas: 10 failures each
            assert call(urls[i % 2], "/me", token=f"bad-{i}", source=source).status_code == 401, i
        for url in urls:  # each replica sees the 20 failures of both
            assert_limited(call(url, "/me", token="bad-21", source=source))
            assert call(url, "/me", token=token, source=source).json()["name"] == name


# --- identities are bound to the accounts they created; provider groups follow the claims ---------------


@pytest.mark.parametrize("claim", ["admin", "\uff41\uff44\uff4d\uff49\uff4e"])
def test_an_oidc_identity_cannot_take_over_a_local_account(oidc: OIDC, claim: str) -> None:
    token = oidc.issuer.token(preferred_username=claim)
    resp = call(oidc.stack.url, "/me", token=token, source=new_address())
    assert resp.status_code == 401 or not resp.json()["is_admin"], resp.text


def test_leaving_a_group_at_the_issuer_takes_effect(oidc: OIDC) -> None:
    name, group = unique("leaver"), unique("oidc-team")
    assert call(
        oidc.stack.url, "/groups", token=oidc.issuer.token(preferred_username=name, groups=[group])
    ).json()
    later = oidc.issuer.token(preferred_username=name, groups=[])
    assert call(oidc.stack.url, "/groups", token=later).json() == []
