"""What the CLI says when the server refuses its token, and `sealbox login` without a scheme (issue 12,
new-user finding 6).

Before: an expired or revoked saved token gave only `a valid token is required (unauthenticated)`, and
`sealbox login 127.0.0.1:PORT` said it could not reach the server. Now the CLI says what to do; the
server still answers every refused token alike (no oracle for which token ids exist), and a URL
without a scheme gets http:// only for this machine (https:// otherwise), saying which. And
`sealbox token revoke` says how many web sessions ended with the token (finding 2).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Stack, base_env, free_port, sealbox_cmd

API = "/api/v1"
Result = subprocess.CompletedProcess[str]
USERINFO = "someone:" + "not-echoed"  # a user name and password in a URL, never shown back


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run(config: Path, *args: str, stdin: str = "") -> Result:
    proc = subprocess.run(
        sealbox_cmd(*args),
        input=stdin.encode(),
        capture_output=True,
        env=base_env(SEALBOX_CONFIG=str(config)),
        timeout=120,
        check=False,
    )
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def error_line(result: Result) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "sealbox" / "config.toml"


def test_a_refused_saved_token_says_what_to_do(stack: Stack, tmp_path: Path) -> None:
    token = stack.add_user(unique("cli").lower())
    with stack.client(token) as me:
        soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
        expiring = me.post(f"{API}/tokens", json={"name": "short", "expires_at": soon}).json()
        revoked = me.post(f"{API}/tokens", json={"name": "gone"}).json()
        assert me.delete(f"{API}/tokens/{revoked['id']}").status_code == 200
    unknown = "sbx_" + "a" * 16 + "_" + "b" * 43
    configs = {}
    for label, saved in (("expired", expiring["token"]), ("revoked", revoked["token"]), ("unknown", unknown)):
        configs[label] = tmp_path / label / "config.toml"
        configs[label].parent.mkdir()
        configs[label].write_text(f'url = "{stack.url}"\ntoken = "{saved}"\n')
        configs[label].chmod(0o600)
    time.sleep(3.5)
    lines = {label: error_line(run(path, "secret", "ls")) for label, path in configs.items()}
    # One message for every refused token: the CLI cannot tell them apart, and says what to do.
    assert len(set(lines.values())) == 1, lines
    line = lines["revoked"]
    assert "refused the saved token" in line and "expired" in line and "revoked" in line
    assert "sealbox login" in line and "(unauthenticated)" in line
    assert all(t not in line for t in (expiring["token"], revoked["token"], unknown))


def test_login_with_a_refused_token_says_so(stack: Stack, config: Path) -> None:
    line = error_line(
        run(config, "login", stack.url, "--token", "-", stdin="sbx_" + "c" * 16 + "_" + "d" * 43)
    )
    assert "refused this token" in line and "(unauthenticated)" in line
    assert not config.exists()


def test_login_without_a_scheme_uses_http_for_this_machine_and_says_so(stack: Stack, config: Path) -> None:
    token = stack.add_user(unique("noscheme").lower())
    bare = stack.url.removeprefix("http://")
    done = run(config, "login", bare, "--token", "-", stdin=token + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"logged in to {stack.url} as ")
    assert done.stderr.strip() == "note: no scheme given: http:// assumed, as the host is this machine"
    assert f'url = "{stack.url}"' in config.read_text()
    assert run(config, "secret", "ls").returncode == 0
    localhost = run(config, "login", f"localhost:{stack.port}", "--token", "-", stdin=token + "\n")
    assert localhost.returncode == 0 and f"http://localhost:{stack.port}" in localhost.stdout


def test_login_without_a_scheme_to_another_host_assumes_https_and_says_which(config: Path) -> None:
    line = error_line(run(config, "login", "sealbox.invalid:8480", "--token", "-", stdin="sbx_x\n"))
    assert "https://sealbox.invalid:8480" in line and "give http://" in line
    refused = run(config, "login", f"127.0.0.1:{free_port()}", "--token", "-", stdin="sbx_x\n")
    assert "cannot reach" in error_line(refused) and "http:// assumed" in error_line(refused)
    assert not config.exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://127.0.0.1:8480", "must start with http:// or https://"),
        ("http://", "has no host name"),
        (":8480", "has no host name"),
        ("http://127.0.0.1:99999", "port"),
        (f"https://{USERINFO}@sealbox.example.org", "no user name, password"),
    ],
)
def test_login_names_what_is_wrong_with_a_url(config: Path, url: str, says: str) -> None:
    line = error_line(run(config, "login", url, "--token", "-", stdin="sbx_x\n"))
    assert says in line and "http://127.0.0.1:8480" in line  # and shows what would do
    assert USERINFO not in line
    assert not config.exists()


def _web_sign_in(stack: Stack, token: str) -> httpx.Client:
    web = httpx.Client(base_url=stack.url, timeout=30, follow_redirects=False)
    page = web.get("/web/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert web.post("/web/login", data={"csrf": csrf, "token": token}).status_code == 303
    return web


def test_token_revoke_says_how_many_web_sessions_it_ended(stack: Stack, config: Path) -> None:
    token = stack.add_user(unique("revoker").lower())
    assert run(config, "login", stack.url, "--token", "-", stdin=token + "\n").returncode == 0
    with stack.client(token) as me:
        other = me.post(f"{API}/tokens", json={"name": "laptop"}).json()
    first, second = _web_sign_in(stack, other["token"]), _web_sign_in(stack, other["token"])
    try:
        done = run(config, "token", "revoke", other["id"])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"revoked {other['id']}; ended 2 web sessions signed in with it"
        for web in (first, second):
            assert web.get("/web/").headers.get("location") == "/web/login"
    finally:
        first.close()
        second.close()
    again = run(config, "token", "revoke", other["id"])
    assert again.stdout.strip() == f"revoked {other['id']}; ended 0 web sessions signed in with it"
