"""JupyterHub's LocalProcessSpawner with real system users (issue 7): the hub runs as root (as it must to
start servers as other accounts), the single-user server runs as a system user created for this test, and
that user, and only that user, can read its secrets.

What the operator provides, and what stands in for it here: a Python that the users can run, with
sealbox, jupyterhub (for `jupyterhub-singleuser`) and ipykernel installed. This machine's test venv lives
behind /root (0700), so its interpreter is out of the users' reach; the test makes a venv from an
interpreter of the same version that the user *can* run (checked by running it as that user) and puts
this run's installed packages on its path (a `.pth` file; the packages themselves are readable by all).
No package is faked: the server, the kernel and `sealbox.get_secret` are the real ones, running as the
user. Everything else is real: sealbox server and keeper, the hub, configurable-http-proxy, setuid.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sealbox.ipython.redact import REDACTED
from sealbox.launcher.spool import _filesystem_type
from tests.integration.jupyterhub_support import (
    Hub,
    environ_of,
    hub_service_token,
    kernel_output,
    running_hub,
    server_processes,
)
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import Stack, running_stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0,
        reason="needs root: creates system users, and LocalProcessSpawner setuids to them",
    ),
]
VALUES: dict[str, str] = {}


@dataclass(frozen=True)
class SystemUser:
    name: str
    uid: int
    gid: int
    home: Path


@dataclass
class World:
    stack: Stack
    hub: Hub
    user: SystemUser  # whose server it is
    other: SystemUser  # another unprivileged account on the same machine
    token: str = field(repr=False)  # the user's sealbox token
    python: Path  # the users' Python (bin/python of the venv that holds jupyterhub-singleuser)
    token_file: Path  # the hub's sealbox service token


def _as(user: SystemUser, *argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["runuser", "-u", user.name, "--", *argv], capture_output=True, timeout=60)


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            uids = next(
                line for line in (entry / "status").read_text().splitlines() if line.startswith("Uid:")
            )
        except (OSError, StopIteration):
            continue
        if int(uids.split()[1]) == uid:
            found.append(int(entry.name))
    return found


@contextmanager
def system_user(prefix: str) -> Iterator[SystemUser]:
    """A new system account with a home; removed (home included) at the end, after its processes, which
    this test's hub started, are gone."""
    name = f"{prefix}{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--system", "--create-home", name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    try:
        yield SystemUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=Path(entry.pw_dir))
    finally:
        for pid in _processes_of(entry.pw_uid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _processes_of(entry.pw_uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["userdel", "-r", name], check=False, capture_output=True)


@contextmanager
def user_python(user: SystemUser) -> Iterator[Path]:
    """A venv `user` can run, with sealbox, jupyterhub and ipykernel: see the module's docstring. Returns
    its `bin/jupyterhub-singleuser` (what an operator puts in `c.Spawner.cmd`)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        Path(getattr(sys, "_base_executable", sys.executable)).resolve(),
        Path("/usr/bin") / version,
        Path("/usr/local/bin") / version,
    ]
    interpreter = next(
        (c for c in candidates if c.is_file() and _as(user, str(c), "-c", "pass").returncode == 0), None
    )
    if interpreter is None:
        pytest.skip(f"no {version} on this machine that an unprivileged user may run")
    work = Path(tempfile.mkdtemp(prefix="sealbox-userpy-", dir="/tmp"))
    try:
        work.chmod(0o755)
        venv = work / "venv"
        subprocess.run([str(interpreter), "-m", "venv", "--without-pip", str(venv)], check=True)
        site = venv / "lib" / version / "site-packages"
        purelib = sysconfig.get_paths()["purelib"]
        (site / "sealbox-test-packages.pth").write_text(f"import site; site.addsitedir({purelib!r})\n")
        script = venv / "bin" / "jupyterhub-singleuser"
        script.write_text(
            f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom jupyterhub.singleuser import main\n"
            "sys.exit(main())\n"
        )
        script.chmod(0o755)
        probe = _as(
            user, str(venv / "bin" / "python"), "-c", "import sealbox, jupyterhub.singleuser, ipykernel"
        )
        if probe.returncode != 0:
            pytest.skip(
                f"{user.name} cannot import this run's packages from {purelib} (a folder on its way is "
                f"not readable by other users): {probe.stderr.decode(errors='replace')[-300:]}"
            )
        yield script
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _value(label: str) -> str:
    VALUES[label] = make_canary(label)
    return VALUES[label]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("jupyterhub-system-user")
    (root / "sealbox").mkdir()
    with (
        system_user("sbxu") as user,
        system_user("sbxo") as other,
        user_python(user) as singleuser,
        running_stack(root / "sealbox") as stack,
    ):
        token, owner = stack.add_user(user.name), stack.add_user(f"{other.name}x")
        with stack.client(token) as mine:
            for name in ("db_password", "api_token"):
                made = mine.post("/api/v1/secrets", json={"name": name, "value": _value(name)})
                assert made.status_code == 201, made.text
        with stack.client(owner) as theirs:
            made = theirs.post("/api/v1/secrets", json={"name": "shared_key", "value": _value("shared_key")})
            assert made.status_code == 201, made.text
            granted = theirs.post(
                "/api/v1/secrets/shared_key/grants", json={"user": user.name, "level": "use"}
            )
            assert granted.status_code in (200, 201), granted.text
        token_file = hub_service_token(stack, root, kinds=["generic"])
        # What an operator writes for LocalProcessSpawner (README): the users' Python, the hub as root.
        extra = f"""
c.JupyterHub.spawner_class = "sealbox.integrations.jupyterhub.local_spawner.SealboxLocalProcessSpawner"
c.Spawner.cmd = [{str(singleuser)!r}]
c.Spawner.args = ["--ServerApp.log_level=INFO"]
c.Spawner.environment = {{"PATH": "{singleuser.parent}:/usr/bin:/bin"}}
"""
        with running_hub(
            root / "hub", stack=stack, token_file=token_file, extra=extra, memory_mode=0o711
        ) as hub:
            hub.add_user(user.name)
            yield World(
                stack=stack,
                hub=hub,
                user=user,
                other=other,
                token=token,
                python=singleuser.parent / "python",
                token_file=token_file,
            )
            scan = [hub.dir / "jupyterhub.sqlite", hub.log, hub.dir / "jupyterhub_config.py"]
        blobs = b"".join(p.read_bytes() for p in scan if p.exists())
        assert find_in_bytes(blobs, [*VALUES.values(), token_file.read_text().strip()]) == []
        assert find_in_bytes(stack.logs(), [*VALUES.values(), stack.admin_token]) == []


def _session_status(w: World, session_id: str) -> str:
    with w.stack.client(w.token) as me:
        return str(me.get(f"/api/v1/sessions/{session_id}").json()["status"])


def _wait_for_status(w: World, session_id: str, status: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while _session_status(w, session_id) != status:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _server(w: World) -> tuple[int, dict[str, str]]:
    pids = server_processes(w.user.name, w.hub)
    assert len(pids) == 1, (pids, w.hub.log.read_text()[-3000:])
    return pids[0], environ_of(pids[0])


def test_the_server_runs_as_the_system_user_who_alone_can_read_its_secrets(world: World) -> None:
    w, user = world, world.user
    options = {
        "sealbox": {
            "secrets": [
                "db_password",
                {"name": "api_token", "env": "API_TOKEN"},
                f"{w.other.name}x/shared_key",
            ]
        }
    }
    response = w.hub.spawn(user.name, options)
    assert response.status_code in (201, 202), (response.text, w.hub.log.read_text()[-3000:])
    pid, env = _server(w)
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    assert [int(x) for x in status["Uid"].split()] == [user.uid] * 4
    assert [int(x) for x in status["Gid"].split()] == [user.gid] * 4

    folder = Path(env["SEALBOX_SECRETS_DIR"])
    assert folder.parent == w.hub.root and _filesystem_type(folder) == "tmpfs"
    st = os.lstat(folder)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o700, user.uid, user.gid)
    for name in ("db_password", "api_token", "shared_key"):
        f = os.stat(folder / name)  # a link into the folder's current version (atomic swaps)
        assert (folder / name).resolve().is_relative_to(folder)
        assert (stat.S_IMODE(f.st_mode), f.st_uid, f.st_gid) == (0o400, user.uid, user.gid), name
        assert (folder / name).read_text() == VALUES[name]
    for path in [folder, *folder.rglob("*")]:  # everything sealbox wrote there is the user's
        assert (os.lstat(path).st_uid, os.lstat(path).st_gid) == (user.uid, user.gid), path
    assert env["API_TOKEN"] == VALUES["api_token"]
    assert env["SEALBOX_ENV_MAP"] == '{"api_token": "API_TOKEN"}'
    assert VALUES["db_password"] not in "".join(env.values())
    assert env["HOME"] == str(user.home) and env["USER"] == user.name
    session_id = env["SEALBOX_SESSION_ID"]
    assert _session_status(w, session_id) != "ended"

    # The user reads the files; another unprivileged user can neither read them nor list the folders.
    mine = _as(user, "cat", str(folder / "db_password"))
    assert (mine.returncode, mine.stdout.decode()) == (0, VALUES["db_password"])
    for argv in (["cat", str(folder / "db_password")], ["ls", str(folder)], ["ls", str(w.hub.root)]):
        theirs = _as(w.other, *argv)
        assert theirs.returncode != 0, argv
        assert b"Permission denied" in theirs.stderr, (argv, theirs.stderr)
        assert find_in_bytes(theirs.stdout, list(VALUES.values())) == []

    # A kernel in that server runs as the user and reads the secrets through sealbox.
    printed = kernel_output(
        w.hub,
        user.name,
        "import hashlib, os, sealbox\n"
        "shared = hashlib.sha256(sealbox.get_secret('shared_key').encode()).hexdigest()\n"
        "print(os.getuid(), sealbox.get_secret('db_password'), shared,"
        " sealbox.get_secret('api_token') == os.environ['API_TOKEN'])",
        user.home / ".local" / "share" / "jupyter" / "runtime",
    )
    shared_hash = hashlib.sha256(VALUES["shared_key"].encode()).hexdigest()
    assert printed.split() == [str(user.uid), REDACTED, shared_hash, "True"]  # outputs are redacted
    # `python` on the server's PATH (what `!python` and terminals run) is the users' Python, with sealbox.
    printed = kernel_output(
        w.hub,
        user.name,
        "import subprocess\n"
        "print(subprocess.run(['python', '-c', 'import sealbox; print(sealbox.get_secret(\"api_token\"))'],"
        " capture_output=True, text=True, check=True).stdout)",
        user.home / ".local" / "share" / "jupyter" / "runtime",
    )
    assert printed.split() == [REDACTED]

    w.hub.stop_server(user.name)
    assert not folder.exists()
    assert not (w.hub.root / "leases" / f"{session_id}.json").exists()
    assert server_processes(user.name, w.hub) == []
    # The hub ends the session as the server stops (in the background when it found the server gone).
    assert _wait_for_status(w, session_id, "ended"), [
        line for line in w.hub.log.read_text().splitlines() if "sealbox" in line
    ][-20:]
    # Nothing the server or its kernels wrote in the user's home (runtime files, history) holds a value.
    written = b"".join(p.read_bytes() for p in user.home.rglob("*") if p.is_file() and not p.is_symlink())
    assert written and find_in_bytes(written, list(VALUES.values())) == []


def test_a_killed_hub_removes_the_users_folder_when_it_starts_again(world: World) -> None:
    w, user = world, world.user
    assert w.hub.spawn(user.name, {"sealbox": {"secrets": ["db_password"]}}).status_code in (201, 202)
    pid, env = _server(w)
    folder, session_id = Path(env["SEALBOX_SECRETS_DIR"]), env["SEALBOX_SESSION_ID"]
    assert os.lstat(folder).st_uid == user.uid
    w.hub.stop(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    assert folder.exists()  # what the crash left, owned by the user
    w.hub.start()
    assert not folder.exists()
    assert not (w.hub.root / "leases" / f"{session_id}.json").exists()
    assert _session_status(w, session_id) == "ended"


def test_a_hub_user_without_a_system_account_gets_no_session(world: World) -> None:
    """LocalProcessSpawner needs a system account named like the hub user: without one, the spawn is a
    400 before sealbox is asked for anything (no session, no redeem, no folder)."""
    w = world
    name = f"sbxn{secrets.token_hex(4)}"
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    token = w.stack.add_user(name)
    with w.stack.client(token) as them:
        assert (
            them.post("/api/v1/secrets", json={"name": "db_password", "value": _value("n")}).status_code
            == 201
        )
    w.hub.add_user(name)
    response = w.hub.spawn(name, {"sealbox": {"secrets": ["db_password"]}}, wait=False)
    assert response.status_code == 400, response.text
    assert "no system account" in response.json()["message"]
    with w.hub.api() as api:
        assert api.get(f"/users/{name}").json()["servers"] == {}
    with w.stack.client(token) as them:
        listed = them.get("/api/v1/sessions").json()
    assert (listed["items"] if isinstance(listed, dict) else listed) == []
    with w.stack.client(token) as them:
        got = them.get("/api/v1/audit", params={"secret": "db_password"})
        assert got.status_code == 200, got.text
        audit = got.json()["items"]
    assert audit and not [r["action"] for r in audit if r["action"].startswith("session.")]
    if w.hub.root.exists():  # nothing written: no folder, no lease (the other tests' were removed)
        assert [p.name for p in w.hub.root.iterdir()] == ["leases"]
        assert list((w.hub.root / "leases").iterdir()) == []


NOT_ROOT_HUB = """
import sys
from types import SimpleNamespace
from tornado import web
from sealbox.integrations.jupyterhub.options import parse
from sealbox.integrations.jupyterhub.local_spawner import SealboxLocalProcessSpawner

spawner = SealboxLocalProcessSpawner(user=SimpleNamespace(name=sys.argv[1]))
spawner.sealbox_url, spawner.sealbox_token_file, spawner.sealbox_memory_base = sys.argv[2:5]
try:
    spawner._prepare(parse({"sealbox": {"secrets": ["db_password"]}}))
except web.HTTPError as refused:
    print(refused.status_code, refused.log_message)
"""


def test_a_hub_that_is_not_root_refuses_other_accounts_before_any_session(world: World) -> None:
    """The spawner's start, run by an unprivileged account (standing in for a hub not run as root) for
    another account: it cannot give that account a folder, so it says so and asks sealbox for nothing."""
    w = world
    with w.stack.client(w.token) as me:
        before = me.get("/api/v1/audit", params={"secret": "db_password"}).json()["items"]
    work = Path(tempfile.mkdtemp(prefix="sealbox-nonroot-", dir="/dev/shm"))
    try:
        os.chown(work, w.other.uid, w.other.gid)
        token_file = work / "token"
        shutil.copy(w.token_file, token_file)
        os.chown(token_file, w.other.uid, w.other.gid)
        run = _as(
            w.other, str(w.python), "-c", NOT_ROOT_HUB, w.user.name, w.stack.url, str(token_file), str(work)
        )
        assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
        code, message = run.stdout.decode().split(" ", 1)
        assert code == "503" and "does not run as root" in message, run.stdout
        (made,) = work.glob(f"sealbox-hub-{w.other.uid}-*")  # the hub's folder, made as that account
        assert [p.name for p in made.iterdir()] == ["leases"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with w.stack.client(w.token) as me:
        after = me.get("/api/v1/audit", params={"secret": "db_password"}).json()["items"]
    assert after == before  # no session created, nothing redeemed


def test_a_squatted_memory_filesystem_neither_gets_values_nor_stops_a_spawn(world: World) -> None:
    """Issue 12, security finding 1 (T27) for the local spawner: the memory folder is cleared (as by a
    reboot) and opened to everyone like /dev/shm; another account then takes the hub's old fixed name and
    names of the present form (a folder open to all, a symlink into its own folder, a FIFO). The spawn
    works, the values go to a folder the hub made and checked, and the squatter reads nothing."""
    w, user = world, world.user
    assert server_processes(user.name, w.hub) == []
    base = w.hub.memory_base
    if w.hub.root.exists():
        shutil.rmtree(w.hub.root)  # what a reboot does to /dev/shm
    lair = w.other.home / "lair"
    assert _as(w.other, "mkdir", "-m", "777", str(lair)).returncode == 0
    prefix = f"sealbox-hub-{os.getuid()}"
    squatted = {
        base / prefix: ["mkdir", "-m", "777"],
        base / f"{prefix}-{secrets.token_hex(4)}": ["ln", "-s", str(lair)],
        base / f"{prefix}-{secrets.token_hex(4)}": ["mkfifo", "-m", "666"],
    }
    base.chmod(0o1777)
    try:
        for path, argv in squatted.items():
            made = _as(w.other, *argv, str(path))
            assert made.returncode == 0, made.stderr
        response = w.hub.spawn(user.name, {"sealbox": {"secrets": ["db_password"]}})
        assert response.status_code in (201, 202), (response.text, w.hub.log.read_text()[-3000:])
        _, env = _server(w)
        folder = Path(env["SEALBOX_SECRETS_DIR"])
        root = folder.parent
        assert root == w.hub.root and root not in squatted and root.name.startswith(f"{prefix}-")
        st = os.lstat(root)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.getuid(), 0o711) and _filesystem_type(
            root
        ) == "tmpfs"
        assert _as(user, "cat", str(folder / "db_password")).stdout.decode() == VALUES["db_password"]
        peek = _as(w.other, "cat", str(folder / "db_password"))
        assert peek.returncode != 0 and find_in_bytes(peek.stdout, list(VALUES.values())) == []
        assert list(lair.iterdir()) == [] and list((base / prefix).iterdir()) == []
        w.hub.stop_server(user.name)
        assert not folder.exists()
    finally:
        base.chmod(0o711)
        for path in squatted:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
