"""`sealbox run --as pgpass | netrc | git | ssh`, each read by its real client (issue 16).

psycopg (libpq) logs in with a password to a PostgreSQL cluster of this test's own that refuses any other
way (scram-sha-256 in pg_hba.conf); requests reads NETRC (Python's own `netrc` module ignores that
variable) for a server that checks Basic auth; `git credential fill` and a clone over HTTP from `git
http-backend` behind a small WSGI server use the helper, and a helper in the person's own git config
stores nothing; ssh and a `git clone` over ssh reach an sshd started here on loopback with the key.
Every run has an empty home folder that must stay empty (the git runs: only the .gitconfig put there),
and no value may reach sealbox's output or the child's report.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psycopg
import pytest
from psycopg import sql

from tests.integration.formats_support import (
    PRELUDE,
    Ran,
    bare_repository,
    basic_auth_server,
    run_as,
    sha,
    wait_until,
)
from tests.integration.test_run import Person, make_person, unique
from tests.support.pgcluster import PrivateCluster, private_cluster
from tests.support.processes import Stack, free_port

Canary = Callable[[str], str]


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("logins"), "logins")


# --- pgpass ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as started:
        yield started


def require_scram(cluster: PrivateCluster, role: str, password: str) -> None:
    """Give `role` a scram-sha-256 password, and make every TCP login but the admin's need one."""
    admin = f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
    (cluster.data / "pg_hba.conf").write_text(
        "local all postgres trust\n"
        "host all postgres 127.0.0.1/32 trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    cluster._run(str(cluster.bin / "pg_ctl"), "reload", "-D", str(cluster.data))

    def refused_without_password() -> bool:
        try:
            psycopg.connect(
                host="127.0.0.1", port=cluster.port, dbname="sealbox", user=role, passfile="/dev/null"
            ).close()
        except psycopg.OperationalError:
            return True
        return False

    wait_until(refused_without_password, "pg_hba.conf to be reloaded")  # the cluster is not trust any more


PSQL_CLIENT = (
    PRELUDE
    + """
import psycopg
host, port = sys.argv[2], int(sys.argv[3])
out["pgpass"] = mode(os.environ["PGPASSFILE"])
with psycopg.connect(host=host, port=port, dbname="sealbox", user="app_user", connect_timeout=10) as conn:
    out["user"] = conn.execute("SELECT current_user").fetchone()[0]
done()
"""
)


def test_pgpass_password_login_with_scram(
    person: Person, cluster: PrivateCluster, canary: Canary, tmp_path: Path
) -> None:
    password = canary("pg") + ":with\\colon:"
    require_scram(cluster, "app_user", password)
    name = unique("warehouse")
    fields = {
        "host": "127.0.0.1",
        "port": str(cluster.port),
        "dbname": "sealbox",
        "user": "app_user",
        "password": password,
    }
    person.add(name, kind="database", fields=fields)
    ran = run_as(
        person,
        tmp_path,
        ["--secret", name, "--as", "pgpass"],
        PSQL_CLIENT,
        "127.0.0.1",
        str(cluster.port),
        values=(password,),
    )
    assert ran.code == 0, ran.stderr
    assert ran.report["user"] == "app_user" and ran.report["pgpass"] == "0o400"
    log = cluster.log.read_bytes()
    assert password.encode() not in log


# --- netrc -------------------------------------------------------------------------------------------

REQUESTS_CLIENT = (
    PRELUDE
    + """
import netrc, requests
out["status"] = requests.get(sys.argv[2], timeout=10).status_code
out["netrc_module_reads_NETRC"] = False
try:
    netrc.netrc()  # ~/.netrc only: the variable is not read by Python's module
except FileNotFoundError:
    pass
else:
    out["netrc_module_reads_NETRC"] = True
done()
"""
)


def test_netrc_read_by_requests(person: Person, canary: Canary, tmp_path: Path) -> None:
    token = canary("netrc")
    with basic_auth_server("octo", token) as (url, seen):
        name = unique("api")
        host = url.removeprefix("http://")
        person.add(name, kind="token", fields={"token": token, "host": host, "username": "octo"})
        ran = run_as(
            person, tmp_path, ["--secret", name, "--as", "netrc"], REQUESTS_CLIENT, url, values=(token,)
        )
    assert ran.code == 0, ran.stderr
    assert ran.report["status"] == 200 and seen == ["ok"]
    assert not ran.report["netrc_module_reads_NETRC"]


# --- git over HTTP -----------------------------------------------------------------------------------


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _git_http_app(root: Path, user: str, password: str, seen: list[str]) -> Callable[..., list[bytes]]:
    """`git http-backend` as CGI behind Basic auth (smart HTTP: clone and fetch)."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != expected:
            seen.append("refused")
            start_response(
                "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Length", "0")]
            )
            return [b""]
        seen.append("ok")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi = {
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": user,
            "PATH": os.environ["PATH"],
            **{
                k: str(environ.get(k, ""))
                for k in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE")
            },
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": str(environ.get("HTTP_CONTENT_ENCODING", "")),
            "GIT_PROTOCOL": str(environ.get("HTTP_GIT_PROTOCOL", "")),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=cgi, capture_output=True, check=False, timeout=60
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\r\n") if ": " in line]
        status = next((v for k, v in headers if k.lower() == "status"), "200 OK")
        start_response(status, [(k, v) for k, v in headers if k.lower() != "status"])
        return [payload]

    return app


@pytest.fixture
def git_server(tmp_path: Path, canary: Canary) -> Iterator[tuple[str, str, list[str]]]:
    token, seen = canary("git"), []
    bare_repository(tmp_path / "repos")
    server = make_server(
        "127.0.0.1",
        0,
        _git_http_app(tmp_path / "repos", "octo", token, seen),
        server_class=_Threading,
        handler_class=_Quiet,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", token, seen
    finally:
        server.shutdown()
        server.server_close()


GIT_CLIENT = (
    PRELUDE
    + """
import subprocess
url, target = sys.argv[2], sys.argv[3]
host = url.removeprefix("http://")
quiet = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
fill = subprocess.run(["git", "credential", "fill"], input=f"protocol=http\\nhost={host}\\n\\n",
                      capture_output=True, text=True, check=True, env=quiet)
answer = dict(line.split("=", 1) for line in fill.stdout.splitlines() if "=" in line)
out.update(user=answer.get("username"), password=sha(answer.get("password", "")))
other = subprocess.run(["git", "credential", "fill"], input="protocol=https\\nhost=elsewhere.example\\n\\n",
                       capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
out["other_host_answered"] = "password=" in other.stdout
clone = subprocess.run(["git", "clone", "-q", url + "/repo.git", target], capture_output=True, text=True,
                       env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
out["clone"] = clone.returncode
out["readme"] = Path(target, "README").read_text() if clone.returncode == 0 else clone.stderr[-300:]
out["config_count"] = os.environ.get("GIT_CONFIG_COUNT")
done()
"""
)


def test_git_helper_fill_and_clone_over_http(
    person: Person, git_server: tuple[str, str, list[str]], tmp_path: Path
) -> None:
    url, token, seen = git_server
    home = tmp_path / "home"
    home.mkdir()
    # The person's own git config stores credentials: it must store none of these (the helper list for
    # the token's host is reset before sealbox's helper).
    (home / ".gitconfig").write_text("[credential]\n\thelper = store\n[user]\n\tname = t\n")
    name = unique("gitea")
    person.add(name, kind="token", fields={"token": token, "host": url, "username": "octo"})
    ran = run_as(
        person,
        tmp_path,
        ["--secret", name, "--as", "git"],
        GIT_CLIENT,
        url,
        str(tmp_path / "clone"),
        values=(token,),
    )
    assert ran.code == 0, ran.stderr
    report = ran.report
    assert (report["user"], report["password"]) == ("octo", sha(token))
    assert not report["other_host_answered"]
    assert report["clone"] == 0 and report["readme"] == "hello from sealbox\n", report["readme"]
    assert report["config_count"] == "2" and "ok" in seen
    assert not (home / ".git-credentials").exists()
    assert not any(
        token in p.read_text(errors="replace") for p in (tmp_path / "clone" / ".git").glob("config")
    )


# --- ssh ---------------------------------------------------------------------------------------------


def _sshd() -> str | None:
    for candidate in ("/usr/sbin/sshd", shutil.which("sshd")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Path, Path]]:
    """An sshd on a loopback port that takes one key for this user (root here: key logins only);
    yields its port, the private key, the known_hosts line file and a bare repository."""
    exe = _sshd()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("sshd is missing: scripts/test installs openssh-server")
        pytest.skip("sshd is not installed (Debian openssh-server; scripts/test installs it)")
    root = tmp_path_factory.mktemp("sshd")
    for key in ("host", "user"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", str(root / key)], check=True
        )
    (root / "authorized_keys").write_text((root / "user.pub").read_text())
    port = free_port()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {(root / 'host.pub').read_text()}")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation needs it when run as root
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
    )
    log = root / "sshd.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([exe, "-D", "-e", "-f", str(config)], stdout=sink, stderr=subprocess.STDOUT)
    try:

        def up() -> bool:
            if proc.poll() is not None:
                return True
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(up, "sshd")
        if proc.poll() is not None:
            # Say exactly why (sshd's own last line), rather than fail on what this machine cannot do.
            why = log.read_text(errors="replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            pytest.skip(f"sshd cannot run here: {why[0]}")
        repo = bare_repository(root / "repos")
        yield port, root / "user", root / "known_hosts", repo
    finally:
        proc.terminate()
        proc.wait(timeout=30)


SSH_CLIENT = (
    PRELUDE
    + """
import shlex, subprocess
port, known, repo, target = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
command = os.environ["GIT_SSH_COMMAND"]
words = shlex.split(command)
out["key_mode"] = mode(words[words.index("-i") + 1])
out["key_ends_lf"] = Path(words[words.index("-i") + 1]).read_bytes().endswith(b"\\n")
out["identities_only"] = "IdentitiesOnly=yes" in words
# The test adds only where the host key is known; the key and IdentitiesOnly are sealbox's.
pinned = f"{command} -o UserKnownHostsFile={shlex.quote(known)} -o BatchMode=yes"
who = subprocess.run(["sh", "-c", f"{pinned} -p {port} root@127.0.0.1 whoami"],
                     capture_output=True, text=True, timeout=60)
out["whoami"] = who.stdout.strip() or who.stderr[-300:]
clone = subprocess.run(["git", "clone", "-q", f"ssh://root@127.0.0.1:{port}{repo}", target],
                       env={**os.environ, "GIT_SSH_COMMAND": pinned}, capture_output=True, text=True,
                       timeout=60)
out["readme"] = Path(target, "README").read_text() if clone.returncode == 0 else clone.stderr[-300:]
done()
"""
)


def test_ssh_key_logs_in_and_clones(
    person: Person, sshd: tuple[int, Path, Path, Path], tmp_path: Path
) -> None:
    port, key, known, repo = sshd
    text = key.read_text()
    name = unique("deploy-key")
    # Stored with CRLF line ends and no final newline, as a key pasted from elsewhere may be.
    person.add(name, kind="ssh-key", value=text.replace("\n", "\r\n").rstrip())
    body_line = text.splitlines()[3]  # key material (the first lines are the same in every such key)
    ran: Ran = run_as(
        person,
        tmp_path,
        ["--secret", name, "--as", "ssh"],
        SSH_CLIENT,
        str(port),
        str(known),
        str(repo),
        str(tmp_path / "clone"),
        values=(body_line,),
    )
    assert ran.code == 0, ran.stderr
    report = ran.report
    assert report["key_mode"] == "0o400" and report["key_ends_lf"] and report["identities_only"]
    assert report["whoami"] == "root", report["whoami"]
    assert report["readme"] == "hello from sealbox\n", report["readme"]
