"""TEST-PLAN T15: a Hypothesis stateful model of users, secrets, versions, grants, revocations and sessions,
driven through the real HTTP API of real keeper and server processes, on SQLite and on PostgreSQL.

Each example gets three fresh users and a fresh group (so one stack per backend serves every example),
then Hypothesis runs create/replace/update/delete, share/unshare at use/write/manage to users and to the
group, group membership changes (the manager invites; the invited person accepts or declines; a pending
invitation grants nothing), launches and redemptions. After every step:
  - each user's list is the model's (own secrets as `owner`, shared ones with the best level any grant gives);
  - every answer's status is the model's: 404 for no access (exactly as for a missing secret), 403 for too
    low a level (services/secrets.py resolve());
  - each secret's versions are contiguous and only the last N are kept (N = SEALBOX_VERSIONS_KEPT, set to 3
    here so that pruning happens within a short run; the default of 10 is the same code with another N);
  - no stored value is in any response, in any encoding; a redemption delivers the current value, and a
    revoked grant refuses the next redemption and the next launch.

The race run repeats this with `sys.setswitchinterval(1e-6)` and a rule that sends two requests at once
from two clients (two replaces, two creates, an unshare beside the grantee's launch, a delete beside a
replace) and checks that the answers fit one order of the two.

Size: SEALBOX_STATEFUL_EXAMPLES and SEALBOX_STATEFUL_STEPS (CI default 25 x 30; the T15 figure is 100 x 50).
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from sealbox.errors import ClientError
from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import encodings, find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack

API = "/api/v1"
KEPT = 3  # versions kept: SEALBOX_VERSIONS_KEPT for the stacks of this module
EXAMPLES = int(os.environ.get("SEALBOX_STATEFUL_EXAMPLES", "25"))
STEPS = int(os.environ.get("SEALBOX_STATEFUL_STEPS", "30"))

RANK = {"use": 1, "write": 2, "manage": 3, "owner": 4}
USERS = range(3)  # u0 manages the group; anyone may own, share and launch
NAMES = ("a", "b", "c")  # a small pool, so that steps meet the same secrets often
LEVELS = ("use", "write", "manage")
GRANTEES = (("user", 0), ("user", 1), ("user", 2), ("group", 0))
Key = tuple[int, str]  # (owner index, secret name)


@contextmanager
def keeping_stack(root: Path, *, database_url: str | None = None) -> Iterator[Stack]:
    """running_stack, with a server that keeps only the last KEPT versions.

    The setting goes into the environment the server starts with: restarting it instead would race a
    worker of the first server that outlives its master (see the report on server shutdown)."""
    original = Stack.env
    with ExitStack() as running:
        Stack.env = functools.partialmethod(original, SEALBOX_VERSIONS_KEPT=str(KEPT))  # type: ignore[method-assign]
        try:
            s = running.enter_context(running_stack(root, database_url=database_url))
        finally:
            Stack.env = original  # type: ignore[method-assign]
        yield s


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def model_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if request.param == "sqlite":
        with keeping_stack(tmp_path_factory.mktemp("model-sqlite")) as s:
            yield s
            _scan_logs(s)
    else:
        with (
            fresh_database() as url,
            keeping_stack(tmp_path_factory.mktemp("model-pg"), database_url=url) as s,
        ):
            yield s
            _scan_logs(s)


# Every value stored by this module, for the log scan at the end.
ALL_VALUES: list[str] = []


def _scan_logs(s: Stack) -> None:
    logs = s.logs()
    assert b"cnry-" not in logs  # every value starts so: none raw or JSON-quoted
    assert find_in_bytes(logs, [*ALL_VALUES[-200:], s.admin_token]) == []  # and a sample, in any encoding


@dataclass
class Secret:
    id: str
    value: str
    version: int = 1
    grants: dict[tuple[str, int], str] = field(default_factory=dict)  # (user|group, index) -> level


@dataclass
class Launch:
    actor: int
    keys: list[Key]
    ids: list[str]  # a secret deleted and made again under its name is another secret
    body: dict[str, Any]


def expect(resp: httpx.Response, *codes: int) -> httpx.Response:
    assert resp.status_code in codes, (
        resp.request.method,
        str(resp.request.url),
        resp.status_code,
        resp.text,
    )
    return resp


class Model(RuleBasedStateMachine):
    stack: Stack  # set by the test before the run

    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex[:10]
        self.names = [f"m{tag}-u{i}" for i in USERS]
        self.group = f"m{tag}-g"
        self.secrets: dict[Key, Secret] = {}
        self.deleted: dict[Key, Secret] = {}  # in the recovery window: hidden, the name held, restorable
        self.members: set[int] = {0}  # the group's creator is its manager, and so a member
        self.invited: set[int] = set()  # invited by the manager, not (yet) accepted: no access from it
        self.launches: list[Launch] = []
        self.forms: list[bytes] = []  # every value of this example, in every encoding
        self.lanes: list[dict[int, httpx.Client]] = [{}, {}]  # two clients per user: lane 1 races lane 0
        self.tokens: list[str] = []
        with self.stack.client() as admin:
            for name in self.names:
                resp = expect(admin.post(f"{API}/users", json={"name": name}), 201)
                self.tokens.append(resp.json()["token"])
        expect(self.call(0, "POST", "/groups", json={"name": self.group}), 201)

    def teardown(self) -> None:
        for lane in self.lanes:
            for c in lane.values():
                c.close()

    # --- plumbing ------------------------------------------------------------------------------

    def call(self, actor: int, method: str, path: str, *, lane: int = 0, **kwargs: Any) -> httpx.Response:
        clients = self.lanes[lane]
        if actor not in clients:
            clients[actor] = self.stack.client(self.tokens[actor])
        resp = clients[actor].request(method, f"{API}{path}", **kwargs)
        leaked = [f for f in self.forms if f in resp.content]
        assert leaked == [], ("a value in a response", method, path)
        return resp

    def new_value(self) -> str:
        value = make_canary("t15")
        ALL_VALUES.append(value)
        self.forms.extend(encodings(value))
        return value

    def on(
        self, actor: int, key: Key, method: str, tail: str = "", *, lane: int = 0, **kwargs: Any
    ) -> httpx.Response:
        owner, name = key
        params = {} if owner == actor else {"owner": self.names[owner]}
        if method == "DELETE" and not tail:
            # The model's sessions are not ended, so most deletes would find a live session holding the
            # secret (409 secret_in_use, tests/integration/test_usage.py): the model deletes with force.
            params["force"] = "true"
        return self.call(actor, method, f"/secrets/{name}{tail}", params=params, lane=lane, **kwargs)

    def pick(self, data: st.DataObject) -> Key:
        """Mostly a secret that exists (so that steps build on each other), else any (mostly missing)."""
        if self.secrets and data.draw(st.integers(0, 3), label="existing?"):
            return data.draw(st.sampled_from(sorted(self.secrets)), label="secret")
        return data.draw(st.tuples(st.sampled_from(USERS), st.sampled_from(NAMES)), label="any secret")

    def level(self, actor: int, key: Key) -> str | None:
        """The model's rule: owner, else the best of the actor's own grant and the group's (if a member)."""
        if key not in self.secrets:
            return None
        if key[0] == actor:
            return "owner"
        grants = self.secrets[key].grants
        have = [grants.get(("user", actor))]
        if actor in self.members:
            have.append(grants.get(("group", 0)))
        levels = [lv for lv in have if lv is not None]
        return max(levels, key=RANK.__getitem__) if levels else None

    def allowed(self, actor: int, key: Key, need: str) -> int:
        """The status resolve() answers before the action: 0 when allowed, else 404 or 403."""
        have = self.level(actor, key)
        if have is None:
            return 404
        return 0 if RANK[have] >= RANK[need] else 403

    def refused(self, resp: httpx.Response, status: int) -> None:
        expect(resp, status)
        assert set(resp.json()) >= {"code", "message"}, resp.text
        if status == 403:
            assert resp.json()["code"] == "insufficient_level", resp.text

    def answered(self, resp: httpx.Response, status: int, ok: int) -> None:
        if status:
            self.refused(resp, status)
        else:
            expect(resp, ok)

    # --- secrets -------------------------------------------------------------------------------

    @rule(actor=st.sampled_from(USERS), name=st.sampled_from(NAMES))
    def create(self, actor: int, name: str) -> None:
        value = self.new_value()
        resp = self.call(actor, "POST", "/secrets", json={"name": name, "value": value})
        if (actor, name) in self.secrets:
            expect(resp, 409)
            return
        if (actor, name) in self.deleted:
            assert expect(resp, 409).json()["code"] == "name_held_by_deleted_secret", resp.text
            return
        body = expect(resp, 201).json()
        assert (body["access"], body["current_version"], body["ref"]) == (
            "owner",
            1,
            f"{self.names[actor]}/{name}",
        )
        self.secrets[(actor, name)] = Secret(id=body["id"], value=value)

    @rule(actor=st.sampled_from(USERS), data=st.data(), times=st.integers(1, KEPT + 1))
    def replace(self, actor: int, data: st.DataObject, times: int) -> None:
        """One to KEPT + 1 replaces in a row, so that old versions fall out of the window."""
        key = self.pick(data)
        for _ in range(times):
            value = self.new_value()
            resp = self.on(actor, key, "PUT", "/value", json={"value": value})
            if status := self.allowed(actor, key, "write"):
                self.refused(resp, status)
                return
            body = expect(resp, 200).json()
            secret = self.secrets[key]
            secret.version += 1
            secret.value = value
            assert body["current_version"] == secret.version, body
            assert body["access"] == self.level(actor, key), body

    @rule(actor=st.sampled_from(USERS), data=st.data())
    def update(self, actor: int, data: st.DataObject) -> None:
        key = self.pick(data)
        resp = self.on(actor, key, "PATCH", json={"description": f"by {actor}"})
        if status := self.allowed(actor, key, "manage"):
            self.refused(resp, status)
            return
        body = expect(resp, 200).json()
        assert (body["description"], body["current_version"]) == (f"by {actor}", self.secrets[key].version)

    @rule(actor=st.sampled_from(USERS), data=st.data())
    def delete(self, actor: int, data: st.DataObject) -> None:
        key = self.pick(data)
        resp = self.on(actor, key, "DELETE")
        if status := self.allowed(actor, key, "manage"):
            self.refused(resp, status)
            return
        expect(resp, 204)
        self.deleted[key] = self.secrets.pop(key)

    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        """The owner brings a deleted secret back, with its versions and grants."""
        if not self.deleted:
            return
        key = owner, _ = data.draw(st.sampled_from(sorted(self.deleted)), label="deleted")
        body = expect(self.on(owner, key, "POST", "/restore"), 200).json()
        secret = self.secrets[key] = self.deleted.pop(key)
        assert (body["current_version"], body["access"]) == (secret.version, "owner"), body

    @rule(data=st.data())
    def purge(self, data: st.DataObject) -> None:
        """The owner removes a deleted secret for good: the name is free again."""
        if not self.deleted:
            return
        key = owner, name = data.draw(st.sampled_from(sorted(self.deleted)), label="deleted")
        expect(self.call(owner, "DELETE", f"/secrets/{name}", params={"purge": "true"}), 204)
        del self.deleted[key]

    @rule(actor=st.sampled_from(USERS), data=st.data())
    def get(self, actor: int, data: st.DataObject) -> None:
        key = self.pick(data)
        resp = self.on(actor, key, "GET")
        if status := self.allowed(actor, key, "use"):
            self.refused(resp, status)
            return
        body = expect(resp, 200).json()
        assert (body["access"], body["current_version"]) == (
            self.level(actor, key),
            self.secrets[key].version,
        )

    @rule(data=st.data())
    def probe_every_level(self, data: st.DataObject) -> None:
        """Each user against one secret at each level, by requests that change nothing when allowed:
        a read (use), a replace with an impossible If-Match (write: 409 once past the level check) and a
        grant to a user that does not exist (manage: 404 on the user, not the secret)."""
        key = self.pick(data)
        for actor in USERS:
            status = self.allowed(actor, key, "use")
            resp = self.on(actor, key, "GET")
            self.answered(resp, status, 200)
            status = self.allowed(actor, key, "write")
            resp = self.on(actor, key, "PUT", "/value", json={"value": "x"}, headers={"If-Match": '"0"'})
            self.answered(resp, status, 409)
            status = self.allowed(actor, key, "manage")
            resp = self.on(actor, key, "POST", "/grants", json={"level": "use", "user": "no-such-user"})
            if status:
                self.refused(resp, status)
                assert resp.json()["message"] == (
                    "no such secret" if status == 404 else resp.json()["message"]
                )
            else:
                assert (resp.status_code, resp.json()["message"]) == (404, "no such user"), resp.text

    # --- sharing -------------------------------------------------------------------------------

    @rule(
        actor=st.sampled_from(USERS),
        data=st.data(),
        grantee=st.sampled_from(GRANTEES),
        level=st.sampled_from(LEVELS),
    )
    def share(self, actor: int, data: st.DataObject, grantee: tuple[str, int], level: str) -> None:
        key = owner, _ = self.pick(data)
        kind, who = grantee
        target = {"user": self.names[who]} if kind == "user" else {"group": self.group}
        resp = self.on(actor, key, "POST", "/grants", json={"level": level, **target})
        if status := self.allowed(actor, key, "manage"):
            self.refused(resp, status)
            return
        if grantee == ("user", owner):
            expect(resp, 400)
            assert resp.json()["code"] == "invalid_grantee"
            return
        listed = expect(resp, 201).json()
        self.secrets[key].grants[grantee] = level
        names = {("user", self.names[i]): ("user", i) for i in USERS} | {("group", self.group): ("group", 0)}
        assert {names[(g["grantee_type"], g["grantee"])]: g["level"] for g in listed} == self.secrets[
            key
        ].grants

    @rule(
        actor=st.sampled_from(USERS),
        data=st.data(),
        grantee=st.sampled_from(GRANTEES),
    )
    def unshare(self, actor: int, data: st.DataObject, grantee: tuple[str, int]) -> None:
        key = self.pick(data)
        kind, who = grantee
        target = self.names[who] if kind == "user" else self.group
        resp = self.on(actor, key, "DELETE", f"/grants/{kind}/{target}")
        if status := self.allowed(actor, key, "manage"):
            self.refused(resp, status)
            return
        if grantee not in self.secrets[key].grants:
            expect(resp, 404)
            return
        expect(resp, 200)
        del self.secrets[key].grants[grantee]

    @rule(user=st.sampled_from((1, 2)))
    def toggle_member(self, user: int) -> None:
        """The manager removes a member, or invites anyone else (the same answer again while pending)."""
        if user in self.members:
            expect(self.call(0, "DELETE", f"/groups/{self.group}/members/{self.names[user]}"), 204)
            self.members.discard(user)
        else:
            resp = self.call(0, "PUT", f"/groups/{self.group}/members", json={"user": self.names[user]})
            assert expect(resp, 202).json()["status"] == "invited", resp.text
            self.invited.add(user)

    @rule(user=st.sampled_from((1, 2)), accept=st.booleans())
    def answer_invitation(self, user: int, accept: bool) -> None:
        pending = expect(self.call(user, "GET", "/invitations"), 200).json()
        assert [i["group"] for i in pending] == ([self.group] if user in self.invited else []), pending
        if accept:
            resp = self.call(user, "POST", f"/invitations/{self.group}/accept")
        else:
            resp = self.call(user, "DELETE", f"/invitations/{self.group}")
        if user not in self.invited:
            expect(resp, 404)
            return
        expect(resp, 200 if accept else 204)
        self.invited.discard(user)
        if accept:
            self.members.add(user)

    @rule(actor=st.sampled_from((1, 2)), user=st.sampled_from(USERS))
    def only_the_manager_invites(self, actor: int, user: int) -> None:
        """A member who does not manage the group gets 403; someone outside it, 404 (as for no group)."""
        resp = self.call(actor, "PUT", f"/groups/{self.group}/members", json={"user": self.names[user]})
        expect(resp, 403 if actor in self.members else 404)

    # --- sessions ------------------------------------------------------------------------------

    @rule(
        actor=st.sampled_from(USERS),
        keys=st.lists(
            st.tuples(st.sampled_from(USERS), st.sampled_from(NAMES)), min_size=1, max_size=3, unique=True
        ),
    )
    def launch(self, actor: int, keys: list[Key]) -> None:
        refs = [name if owner == actor else f"{self.names[owner]}/{name}" for owner, name in keys]
        resp = self.call(
            actor,
            "POST",
            "/sessions",
            json={"secrets": [{"name": r, "file": f"f{i}"} for i, r in enumerate(refs)]},
        )
        if any(self.level(actor, k) is None for k in keys):
            expect(resp, 404)  # no such secret, or not one you may use: the same answer
            return
        ids = [self.secrets[k].id for k in keys]
        self.launches.append(Launch(actor=actor, keys=keys, ids=ids, body=expect(resp, 201).json()))

    @rule(data=st.data())
    def redeem_launch(self, data: st.DataObject) -> None:
        if not self.launches:
            return
        launch = self.launches.pop(data.draw(st.integers(0, len(self.launches) - 1), label="launch"))
        expected: tuple[int, str] | None = None  # the first refused position decides
        for key, secret_id in zip(launch.keys, launch.ids, strict=True):
            if key not in self.secrets or self.secrets[key].id != secret_id:
                expected = (404, "secret_gone")
                break
            if key[0] != launch.actor and self.level(launch.actor, key) is None:
                expected = (403, "access_revoked")
                break
        with HTTPClient(self.stack.url) as anonymous:
            try:
                delivery = redeem(
                    anonymous,
                    session_id=launch.body["session"]["id"],
                    credential=launch.body["session_credential"],
                    keeper_url=self.stack.keeper.url,
                )
            except ClientError as err:
                assert (err.status_code, err.code) == expected, (err.status_code, err.code, expected)
                return
        assert expected is None, expected
        assert [i.value.decode() for i in delivery.items] == [self.secrets[k].value for k in launch.keys]

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def lists_are_the_model(self) -> None:
        if not hasattr(self, "tokens"):
            return
        for actor in USERS:
            resp = expect(self.call(actor, "GET", "/secrets", params={"limit": 500}), 200)
            got = {item["ref"]: item["access"] for item in resp.json()["items"]}
            want = {}
            for key in self.secrets:
                level = self.level(actor, key)
                if level is not None:
                    want[f"{self.names[key[0]]}/{key[1]}"] = level
            assert got == want, (actor, got, want)

    @invariant()
    def versions_are_contiguous_and_the_last_n(self) -> None:
        if not hasattr(self, "tokens"):
            return
        for (owner, name), secret in self.secrets.items():
            body = expect(self.on(owner, (owner, name), "GET"), 200).json()
            kept = sorted(v["version"] for v in body["versions"])
            assert body["current_version"] == secret.version, body
            assert kept == list(range(max(1, secret.version - KEPT + 1), secret.version + 1)), (
                kept,
                secret.version,
            )


class RacingModel(Model):
    """The same model, plus two requests at once from two clients; the answers must fit one order."""

    def pair(
        self, first: Callable[[], httpx.Response], second: Callable[[], httpx.Response]
    ) -> list[httpx.Response]:
        with ThreadPoolExecutor(2) as pool:
            return [f.result() for f in [pool.submit(first), pool.submit(second)]]

    @rule(
        actor=st.sampled_from(USERS),
        other=st.sampled_from(USERS),
        data=st.data(),
    )
    def race_replaces(self, actor: int, other: int, data: st.DataObject) -> None:
        key = self.pick(data)
        values = [self.new_value(), self.new_value()]
        resps = self.pair(
            lambda: self.on(actor, key, "PUT", "/value", json={"value": values[0]}),
            lambda: self.on(other, key, "PUT", "/value", json={"value": values[1]}, lane=1),
        )
        won: list[tuple[int, str]] = []
        for who, resp, value in zip((actor, other), resps, values, strict=True):
            if status := self.allowed(who, key, "write"):
                self.refused(resp, status)
            elif expect(resp, 200, 409).status_code == 409:
                assert resp.json()["code"] == "version_conflict", resp.text
            else:
                won.append((resp.json()["current_version"], value))
        if not won:
            assert self.allowed(actor, key, "write") and self.allowed(other, key, "write"), "both lost a race"
            return
        secret = self.secrets[key]
        assert sorted(v for v, _ in won) == list(range(secret.version + 1, secret.version + 1 + len(won))), (
            won
        )
        secret.version, secret.value = max(won)

    @rule(actor=st.sampled_from(USERS), name=st.sampled_from(NAMES))
    def race_creates(self, actor: int, name: str) -> None:
        values = [self.new_value(), self.new_value()]
        resps = self.pair(
            lambda: self.call(actor, "POST", "/secrets", json={"name": name, "value": values[0]}),
            lambda: self.call(actor, "POST", "/secrets", json={"name": name, "value": values[1]}, lane=1),
        )
        codes = sorted(r.status_code for r in resps)
        if (actor, name) in self.secrets or (actor, name) in self.deleted:
            assert codes == [409, 409], [r.text for r in resps]
            return
        assert codes == [201, 409], [r.text for r in resps]
        winner = [r.status_code for r in resps].index(201)
        self.secrets[(actor, name)] = Secret(id=resps[winner].json()["id"], value=values[winner])

    @rule(grantee=st.sampled_from(USERS), data=st.data())
    def race_unshare_and_launch(self, grantee: int, data: st.DataObject) -> None:
        key = owner, name = self.pick(data)
        if key not in self.secrets or ("user", grantee) not in self.secrets[key].grants:
            return
        ref = f"{self.names[owner]}/{name}"
        unshared, launched = self.pair(
            lambda: self.on(owner, key, "DELETE", f"/grants/user/{self.names[grantee]}"),
            lambda: self.call(
                grantee, "POST", "/sessions", json={"secrets": [{"name": ref, "file": "f"}]}, lane=1
            ),
        )
        expect(unshared, 200)
        del self.secrets[key].grants[("user", grantee)]
        if expect(launched, 201, 404).status_code == 201:  # it came first: its redemption is refused now
            self.launches.append(
                Launch(actor=grantee, keys=[key], ids=[self.secrets[key].id], body=launched.json())
            )
        else:
            assert self.level(grantee, key) is None  # refused only if no other grant reaches them

    @rule(data=st.data())
    def race_delete_and_replace(self, data: st.DataObject) -> None:
        key = owner, _ = self.pick(data)
        if key not in self.secrets:
            return
        value = self.new_value()
        deleted, replaced = self.pair(
            lambda: self.on(owner, key, "DELETE"),
            lambda: self.on(owner, key, "PUT", "/value", json={"value": value}, lane=1),
        )
        expect(deleted, 204)
        # Before the delete: 200; after it: 404; meanwhile (PostgreSQL): 409, and a retry gets the 404.
        if expect(replaced, 200, 404, 409).status_code == 409:
            assert replaced.json()["code"] == "version_conflict", replaced.text
        secret = self.deleted[key] = self.secrets.pop(key)  # into the recovery window
        if replaced.status_code == 200:  # the replace came first: the deleted secret holds its version
            secret.version, secret.value = secret.version + 1, value


def _run(machine: type[Model], stack: Stack) -> None:
    machine.stack = stack
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,  # nothing left behind in the work tree
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_the_api_follows_the_model(model_stack: Stack) -> None:
    _run(Model, model_stack)


def test_the_api_follows_the_model_with_two_clients_racing(model_stack: Stack) -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        _run(RacingModel, model_stack)
    finally:
        sys.setswitchinterval(before)
