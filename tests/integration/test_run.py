"""`sealbox run` as a person uses it: a real CLI process against real server and keeper processes (issue 4).

Files land in a private memory folder (or an empty folder the person names) in Kubernetes' atomic-writer
layout, with modes 0700/0400; variables only for `--env`; unsafe requests are refused before anything is
written; the command's exit code and signals pass through; the folder is removed and the session ended.
The helpers here (`Person`, `held`, the child scripts) are also used by test_run_refresh and
test_run_cleanup.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealbox.launcher.memory import filesystem_type, private_roots
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack, base_env, sealbox_cmd

API = "/api/v1"
Canary = Callable[[str], str]
AWS_KEY_ID = "AKIA" + "FEDCBA9876543210"
UID = os.getuid()

# Every value this module stores: none may show up in sealbox's own environ or cmdline, or its output.
VALUES: list[str] = []


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- a logged-in person, and their sealbox runs -----------------------------------------------------------


@dataclass
class Person:
    stack: Stack
    name: str
    token: str = field(repr=False)
    config: Path
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(SEALBOX_CONFIG=str(self.config), **extra)

    def api(self) -> httpx.Client:
        return self.stack.client(self.token)

    def add(self, name: str, **body: Any) -> None:
        with self.api() as api:
            resp = api.post(f"{API}/secrets", json={"name": name, **body})
        assert resp.status_code == 201, resp.text

    def replace(self, name: str, **body: Any) -> None:
        with self.api() as api:
            resp = api.put(f"{API}/secrets/{name}/value", json=body)
        assert resp.status_code == 200, resp.text

    def session(self, session_id: str) -> dict[str, Any]:
        with self.api() as api:
            resp = api.get(f"{API}/sessions/{session_id}")
        assert resp.status_code == 200, resp.text
        result: dict[str, Any] = resp.json()
        return result

    def session_count(self) -> int:
        with self.api() as api:
            return len(api.get(f"{API}/sessions", params={"all": "true"}).json())

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`sealbox run ARGS`, to completion."""
        proc = subprocess.run(
            sealbox_cmd("run", *args),
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )

    def start(self, *args: str, out: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """`sealbox run ARGS` in the background, in its own session (no stray terminal signals)."""
        with out.open("wb") as sink:
            return subprocess.Popen(
                sealbox_cmd("run", *args),
                env=self.env(**(env or {})),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def make_person(stack: Stack, root: Path, prefix: str = "runner") -> Person:
    name = unique(prefix).lower()
    token = stack.add_user(name)
    config = root / "config" / "config.toml"
    login = subprocess.run(
        sealbox_cmd("login", stack.url, "--token", "-"),
        input=(token + "\n").encode(),
        env=base_env(SEALBOX_CONFIG=str(config)),
        capture_output=True,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    return Person(stack=stack, name=name, token=token, config=config, workdir=root)


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("run"))


@pytest.fixture
def value(canary: Canary) -> Callable[[str], str]:
    def make(label: str) -> str:
        v = canary(label)
        VALUES.append(v)
        return v

    return make


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, (result.args, result.stdout)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


# --- child commands: they report what they see to a marker file, never a value ----------------------------

# Writes {pid, dir, session} to argv[1] once started, then waits for argv[1].go (its content: the exit code).
HOLD = """
import json, os, sys, time
from pathlib import Path
marker = Path(sys.argv[1])
info = {"pid": os.getpid(), "ppid": os.getppid(), "dir": os.environ.get("SEALBOX_SECRETS_DIR"),
        "session": os.environ.get("SEALBOX_SESSION_ID")}
tmp = marker.with_name(marker.name + ".tmp")
tmp.write_text(json.dumps(info))
tmp.rename(marker)
go = marker.with_name(marker.name + ".go")
while not go.exists():
    time.sleep(0.02)
sys.exit(int(go.read_text() or 0))
"""

# Like HOLD, but traps SIGTERM and SIGINT: writes the signal number to argv[1].sig and exits 3.
TRAP = """
import json, os, signal, sys, time
from pathlib import Path
marker = Path(sys.argv[1])
def trapped(signum, frame):
    marker.with_name(marker.name + ".sig").write_text(str(signum))
    sys.exit(3)
signal.signal(signal.SIGTERM, trapped)
signal.signal(signal.SIGINT, trapped)
info = {"pid": os.getpid(), "ppid": os.getppid(), "dir": os.environ.get("SEALBOX_SECRETS_DIR"),
        "session": os.environ.get("SEALBOX_SESSION_ID")}
tmp = marker.with_name(marker.name + ".tmp")
tmp.write_text(json.dumps(info))
tmp.rename(marker)
while True:
    time.sleep(0.05)
"""

# get_secret() for each NAME[.FIELD] in argv[2:]; writes {ref: sha256 or "missing: <message>"} to argv[1].
GET_SECRETS = """
import hashlib, json, sys
from sealbox import SecretNotFound, get_secret
out = {}
for ref in sys.argv[2:]:
    name, _, fld = ref.partition("+")
    try:
        out[ref] = hashlib.sha256(get_secret(name, field=fld or None).encode()).hexdigest()
    except SecretNotFound as exc:
        out[ref] = "missing: " + str(exc)
open(sys.argv[1], "w").write(json.dumps(out))
"""


@dataclass
class Held:
    """A running `sealbox run` whose child holds still until released."""

    proc: subprocess.Popen[bytes]
    marker: Path
    out: Path
    info: dict[str, Any] = field(default_factory=dict)
    code: int | None = None

    @property
    def folder(self) -> Path:
        assert self.info["dir"], "no SEALBOX_SECRETS_DIR in the child"
        return Path(self.info["dir"])

    @property
    def child_pid(self) -> int:
        return int(self.info["pid"])

    @property
    def session_id(self) -> str:
        return str(self.info["session"])

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def release(self, code: int = 0) -> None:
        go = self.marker.with_name(self.marker.name + ".go")
        if not go.exists():
            go.write_text(str(code))


def wait_for_marker(
    marker: Path, proc: subprocess.Popen[bytes], out: Path, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(
                f"sealbox run exited {proc.returncode} before its command started: {out.read_text()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError("the command did not start in time")
        time.sleep(0.02)
    info: dict[str, Any] = json.loads(marker.read_text())
    return info


def finish(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


@contextmanager
def held(
    person: Person, *args: str, script: str = HOLD, exit_code: int = 0, env: dict[str, str] | None = None
) -> Iterator[Held]:
    """Start `sealbox run ARGS -- python -c SCRIPT MARKER`, yield once the child runs, then let it exit."""
    marker = person.workdir / f"marker-{uuid.uuid4().hex[:8]}"
    out = marker.with_name(marker.name + ".out")
    proc = person.start(*args, "--", sys.executable, "-c", script, str(marker), out=out, env=env)
    run = Held(proc=proc, marker=marker, out=out)
    try:
        run.info = wait_for_marker(marker, proc, out)
        yield run
    finally:
        run.release(exit_code)
        run.code = finish(proc)


# --- looking at files, processes and /dev/shm -------------------------------------------------------------


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under `root` (not following links): relative path -> (mode, uid)."""
    found: dict[str, tuple[int, int]] = {}
    if not root.exists():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            found[str(path.relative_to(root))] = (st.st_mode, st.st_uid)
    return found


def shm_roots() -> list[Path]:
    """The private memory roots of this user (`sealbox run`s of the people here run as the same uid, in the
    same environment): random `/dev/shm/sealbox-<uid>-*` folders that sealbox made and checked."""
    return private_roots()


def shm_entries_of(pid: int) -> list[str]:
    """Folders and leases a sealbox process with this pid left in the private memory roots."""
    return sorted(e.name for root in shm_roots() for e in os.scandir(root) if f"-{pid}-" in e.name)


def shm_paths_of(pid: int) -> list[Path]:
    return sorted(Path(e.path) for root in shm_roots() for e in os.scandir(root) if f"-{pid}-" in e.name)


def shm_listing() -> set[Path]:
    return {Path(e.path) for root in shm_roots() for e in os.scandir(root)}


def read_proc(pid: int, what: str) -> bytes:
    return Path(f"/proc/{pid}/{what}").read_bytes()


def environ_of(pid: int) -> dict[str, str]:
    pairs = [p.split(b"=", 1) for p in read_proc(pid, "environ").split(b"\x00") if p]
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def all_proc(what: str, *, skip: set[int]) -> dict[int, bytes]:
    """`what` (cmdline, environ) of every process we can read, except `skip`."""
    found: dict[int, bytes] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) not in skip:
            try:
                found[int(entry.name)] = read_proc(int(entry.name), what)
            except OSError:
                continue  # gone meanwhile, or a kernel thread
    return found


def gone(pid: int, timeout: float = 10) -> bool:
    """True once process `pid` has exited (a zombie of ours counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        if "\nState:\tZ" in status:
            return True
        time.sleep(0.05)
    return False


@contextmanager
def keeper_restart() -> Iterator[None]:
    """Around stopping and starting the keeper: httpcore does not close the socket of a unix-socket connect
    that fails (`connect_unix_socket`), so collect those here rather than let a later test trip on their
    ResourceWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def assert_modes(folder: Path) -> None:
    """The atomic-writer layout: `..data` -> a version folder, names -> `..data/NAME`; modes 0700/0400."""
    st = os.lstat(folder)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == UID
    data = folder / "..data"
    assert data.is_symlink()
    target = os.readlink(data)
    assert target.startswith("..") and "/" not in target
    for entry in os.scandir(folder):
        if entry.name.startswith(".."):
            continue
        assert entry.is_symlink(), entry.name
        assert os.readlink(entry.path) == f"..data/{entry.name}"
    for path, (mode, uid) in tree(folder / target).items():
        assert uid == UID, path
        if stat.S_ISDIR(mode):
            assert stat.S_IMODE(mode) == 0o700, (path, oct(mode))
        else:
            assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o400, (path, oct(mode))


def manifest(folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((folder / "..data" / "@sealbox.json").read_text())
    return result


# --- files ------------------------------------------------------------------------------------------------


def test_files_land_in_a_private_memory_folder_in_the_atomic_writer_layout(
    person: Person, value: Callable[[str], str]
) -> None:
    g, r, aws = unique("plain"), unique("renamed"), unique("aws")
    vg, vr = value("plain"), value("renamed")
    aws_fields = {"access_key_id": AWS_KEY_ID, "secret_access_key": value("aws"), "region": "eu-west-1"}
    person.add(g, value=vg)
    person.add(r, value=vr)
    person.add(aws, kind="aws", fields=aws_fields)

    with held(person, "--secret", g, "--secret", f"{r}:renamed.txt", "--secret", aws) as run:
        folder = run.folder
        sealbox_pid = run.proc.pid
        assert run.info["ppid"] == sealbox_pid
        root = folder.parent
        assert root in shm_roots() and folder.name.startswith(f"run-{sealbox_pid}-")
        assert root.parent == Path("/dev/shm") and root.name.startswith(f"sealbox-{UID}-")
        st = os.lstat(root)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == UID
        assert filesystem_type(folder) == "tmpfs"
        assert_modes(folder)
        assert sorted(e.name for e in os.scandir(folder) if not e.name.startswith("..")) == sorted(
            [g, "renamed.txt", aws]
        )
        assert (folder / g).read_text() == vg
        assert (folder / "renamed.txt").read_text() == vr
        assert not (folder / r).exists()
        assert (folder / aws).is_dir()
        assert {p.name: p.read_text() for p in (folder / aws).iterdir()} == aws_fields
        # The manifest holds names and versions, never a value.
        listed = manifest(folder)
        assert {(f["secret"], f["file"], f["version"]) for f in listed["files"]} == {
            (g, g, 1),
            (r, "renamed.txt", 1),
            (aws, aws, 1),
        }
        assert listed["session"] == run.session_id
        assert find_in_bytes((folder / "..data" / "@sealbox.json").read_bytes(), VALUES) == []
        # A lease records the folder (no value) so that a later run can clean up after a crash.
        leases = [p for p in shm_paths_of(sealbox_pid) if p.name.startswith("lease-")]
        assert len(leases) == 1
        assert stat.S_IMODE(leases[0].stat().st_mode) == 0o600
        assert json.loads(leases[0].read_text())["path"] == str(folder)
        assert find_in_bytes(leases[0].read_bytes(), VALUES) == []
        # The launcher holds plaintexts: no core dumps (T9).
        limits = read_proc(sealbox_pid, "limits").decode()
        core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"], core
        assert person.session(run.session_id)["status"] == "active"
    assert run.code == 0, run.output()
    assert not folder.exists()
    assert shm_entries_of(sealbox_pid) == []
    assert person.session(run.session_id)["status"] == "ended"
    assert find_in_bytes(run.out.read_bytes(), VALUES) == []


def test_a_mount_path_that_does_not_exist_yet_is_created_and_removed(
    person: Person, value: Callable[[str], str], tmp_path: Path
) -> None:
    name = unique("mounted")
    v = value("mounted")
    person.add(name, value=v)
    mount = tmp_path / "mnt"
    with held(person, "--secret", name, "--mount-path", str(mount)) as run:
        assert run.folder == mount
        assert_modes(mount)
        assert (mount / name).read_text() == v
        assert shm_entries_of(run.proc.pid) == [
            n for n in shm_entries_of(run.proc.pid) if n.startswith("lease-")
        ]
    assert run.code == 0, run.output()
    assert not mount.exists()
    assert shm_entries_of(run.proc.pid) == []


def test_an_empty_mount_folder_of_mine_is_used_and_left_empty(
    person: Person, value: Callable[[str], str], tmp_path: Path
) -> None:
    name = unique("inplace")
    v = value("inplace")
    person.add(name, value=v)
    mount = tmp_path / "empty"
    mount.mkdir(mode=0o755)
    with held(person, "--secret", f"{name}:token", "--mount-path", str(mount)) as run:
        assert_modes(mount)
        assert (mount / "token").read_text() == v
    assert run.code == 0, run.output()
    assert mount.is_dir() and list(mount.iterdir()) == []


# --- refused before anything is written -------------------------------------------------------------------


def _nonempty(tmp: Path) -> list[str]:
    (tmp / "mnt").mkdir(mode=0o700)
    (tmp / "mnt" / "keep.txt").write_text("mine")
    return ["--mount-path", str(tmp / "mnt")]


def _symlink_component(tmp: Path) -> list[str]:
    (tmp / "real").mkdir(mode=0o700)
    (tmp / "link").symlink_to(tmp / "real")
    return ["--mount-path", str(tmp / "link" / "mnt")]


def _symlink_leaf(tmp: Path) -> list[str]:
    (tmp / "real").mkdir(mode=0o700)
    (tmp / "link").symlink_to(tmp / "real")
    return ["--mount-path", str(tmp / "link")]


def _mode(mode: int) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        (tmp / "mnt").mkdir()
        os.chmod(tmp / "mnt", mode)
        return ["--mount-path", str(tmp / "mnt")]

    return setup


def _not_mine(tmp: Path) -> list[str]:
    (tmp / "mnt").mkdir(mode=0o700)
    os.chown(tmp / "mnt", 65534, 65534)
    return ["--mount-path", str(tmp / "mnt")]


# Hostile values in more variants (relative and '..' mount paths, absolute and traversing file names,
# reserved variables) are refused by the same checks, covered in tests/unit/launcher/test_spool.py and by
# the API in test_launch_protocol.py; here each kind of refusal runs once, end to end.
REFUSALS: dict[str, tuple[Callable[[Path], list[str]], Callable[[str, str], list[str]], bool]] = {
    # name: (prepare the workdir -> extra args; the mappings, given two secret names; refused by the server?)
    "mount-not-empty": (_nonempty, lambda a, b: ["--secret", a], False),
    "mount-symlink-component": (_symlink_component, lambda a, b: ["--secret", a], False),
    "mount-is-a-symlink": (_symlink_leaf, lambda a, b: ["--secret", a], False),
    "mount-group-writable": (_mode(0o770), lambda a, b: ["--secret", a], False),
    "mount-world-writable": (_mode(0o777), lambda a, b: ["--secret", a], False),
    "mount-owned-by-someone-else": (_not_mine, lambda a, b: ["--secret", a], False),
    "file-with-slash": (lambda t: [], lambda a, b: ["--secret", f"{a}:sub/file"], False),
    "file-dotdot": (lambda t: [], lambda a, b: ["--secret", f"{a}:.."], False),
    "same-file": (lambda t: [], lambda a, b: ["--secret", f"{a}:same", "--secret", f"{b}:same"], False),
    "same-variable": (lambda t: [], lambda a, b: ["--env", f"SAME={a}", "--env", f"SAME={b}"], False),
    "unknown-secret": (lambda t: [], lambda a, b: ["--secret", unique("missing")], True),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_an_unsafe_run_is_refused_before_anything_is_written(
    person: Person, value: Callable[[str], str], tmp_path: Path, case: str
) -> None:
    prepare, mappings, by_server = REFUSALS[case]
    a, b = unique("ra"), unique("rb")
    person.add(a, value=value("refused-a"))
    person.add(b, value=value("refused-b"))
    work = tmp_path / "work"
    work.mkdir()
    extra = prepare(work)
    ran = tmp_path / "ran"
    before_tree, before_sessions = tree(work), person.session_count()
    before_shm = shm_listing()
    with subprocess.Popen(
        sealbox_cmd("run", *mappings(a, b), *extra, "--", "touch", str(ran)),
        env=person.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        out, err = proc.communicate(timeout=60)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())
    one_error_line(result)
    assert not ran.exists(), "the command ran"
    assert tree(work) == before_tree
    assert shm_entries_of(proc.pid) == []
    after_shm = shm_listing()
    assert not any(f"-{proc.pid}-" in p.name for p in after_shm - before_shm)
    # Refused on this machine: the server never heard of it; refused by the server: no session either.
    assert person.session_count() == before_sessions
    assert find_in_bytes((result.stdout + result.stderr).encode(), VALUES) == []
    if not by_server:
        assert "HTTP" not in result.stderr


# --- environment variables --------------------------------------------------------------------------------


def test_only_the_env_mappings_reach_the_child_and_no_value_is_in_sealbox_itself(
    person: Person, value: Callable[[str], str]
) -> None:
    tok, aws, filed = unique("tok"), unique("awsenv"), unique("fileonly")
    vtok, vaws, vfile = value("tok"), value("awsenv"), value("fileonly")
    person.add(tok, value=vtok)
    person.add(aws, kind="aws", fields={"access_key_id": AWS_KEY_ID, "secret_access_key": vaws})
    person.add(filed, value=vfile)
    args = ["--env", f"MY_TOKEN={tok}", "--env", f"AWS_SECRET={aws}.secret_access_key", "--secret", filed]
    parent_env = person.env()
    with held(person, *args) as run:
        sealbox_pid = run.proc.pid
        child = environ_of(run.child_pid)
        added = {k: v for k, v in child.items() if k not in parent_env}
        assert sorted(added) == [
            "AWS_SECRET",
            "MY_TOKEN",
            "SEALBOX_ENV_MAP",
            "SEALBOX_SECRETS_DIR",
            "SEALBOX_SESSION_ID",
        ]
        assert added["MY_TOKEN"] == vtok and added["AWS_SECRET"] == vaws
        assert json.loads(added["SEALBOX_ENV_MAP"]) == {
            tok: "MY_TOKEN",
            f"{aws}.secret_access_key": "AWS_SECRET",
        }
        assert {k: v for k, v in child.items() if k in parent_env} == parent_env
        assert find_in_bytes(read_proc(run.child_pid, "environ"), [vfile]) == []
        # sealbox's own environ and argv, and every other process's, hold no value (T9).
        assert find_in_bytes(read_proc(sealbox_pid, "environ"), VALUES) == []
        assert find_in_bytes(read_proc(sealbox_pid, "cmdline"), VALUES) == []
        for pid, data in all_proc("environ", skip={run.child_pid}).items():
            assert find_in_bytes(data, VALUES) == [], f"value in /proc/{pid}/environ"
        for pid, data in all_proc("cmdline", skip=set()).items():
            assert find_in_bytes(data, VALUES) == [], f"value in /proc/{pid}/cmdline"
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, check=False).stdout
        assert find_in_bytes(ps, VALUES) == []
    assert run.code == 0, run.output()
    assert find_in_bytes(run.out.read_bytes(), VALUES) == []


def test_env_only_writes_no_files(person: Person, value: Callable[[str], str]) -> None:
    name = unique("envonly")
    v = value("envonly")
    person.add(name, value=v)
    before = shm_listing()
    with held(person, "--env", f"ONLY_ENV={name}") as run:
        assert run.info["dir"] is None
        assert environ_of(run.child_pid)["ONLY_ENV"] == v
        # A lease may exist while running; a secret folder may not.
        assert [n for n in shm_entries_of(run.proc.pid) if n.startswith("run-")] == []
    assert run.code == 0, run.output()
    after = shm_listing()
    assert not any(f"-{run.proc.pid}-" in p.name for p in after - before)


def test_a_binary_value_cannot_become_a_variable(person: Person, value: Callable[[str], str]) -> None:
    name = unique("binary")
    person.add(name, value_base64="AP8A/w==")
    result = person.run("--env", f"BIN={name}", "--", "true")
    assert "invalid_env_value" in one_error_line(result)


# --- exit codes and signals -------------------------------------------------------------------------------


def test_the_exit_code_of_the_command_is_sealbox_exit_code(
    person: Person, value: Callable[[str], str]
) -> None:
    name = unique("exit")
    person.add(name, value=value("exit"))
    result = person.run(
        "--secret", name, "--", "sh", "-c", 'test -r "$SEALBOX_SECRETS_DIR/$0" && exit 7', name
    )
    assert result.returncode == 7, result.stderr
    assert person.run("--secret", name, "--", "true").returncode == 0
    missing = person.run("--secret", name, "--", "/nonexistent/command")
    assert "command_failed" in one_error_line(missing)


def test_the_console_script_ends_as_python_m_sealbox_does(
    person: Person, value: Callable[[str], str]
) -> None:
    """The `sealbox` console script ends a run with os._exit (no interpreter teardown), `python -m sealbox`
    through SystemExit: both give the command's exit code and output, end the session, remove the folder."""
    name = unique("console")
    person.add(name, value=value("console"))
    script = (
        'printf "%s %s" "$SEALBOX_SECRETS_DIR" "$SEALBOX_SESSION_ID" > "$1"; echo out; echo err >&2; exit 5'
    )
    console = str(Path(sys.executable).parent / "sealbox")
    for how in ("console", "module"):
        marker = person.workdir / f"{how}.seen"
        args = ["run", "--secret", name, "--", "sh", "-c", script, "sh", str(marker)]
        done = subprocess.run(
            [console, *args] if how == "console" else sealbox_cmd(*args),
            env=person.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout, done.stderr) == (5, "out\n", "err\n"), how
        folder, session_id = marker.read_text().split()
        assert not Path(folder).exists(), how
        assert person.session(session_id)["status"] == "ended", how


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signals_reach_the_command_and_the_folder_is_removed(
    person: Person, value: Callable[[str], str], sig: signal.Signals
) -> None:
    name = unique("signal")
    person.add(name, value=value("signal"))
    with held(person, "--secret", name, script=TRAP) as run:
        folder = run.folder
        assert (folder / name).exists()
        os.kill(run.proc.pid, sig)
        assert finish(run.proc) == 3, run.output()
    trapped = run.marker.with_name(run.marker.name + ".sig")
    assert trapped.read_text() == str(int(sig))
    assert run.code == 3
    assert not folder.exists()
    assert shm_entries_of(run.proc.pid) == []
    assert person.session(run.session_id)["status"] == "ended"


# --- job specs --------------------------------------------------------------------------------------------

SPEC_TOML = """
secrets = ["{g}", "{r}:renamed", {{ name = "{aws}", field = "region", file = "region" }}]
refresh = false

[env]
JOB_TOKEN = "{g}"
JOB_AWS_KEY = "{aws}.secret_access_key"
"""

SPEC_YAML = """
secrets:
  - {g}
  - {r}:renamed
  - name: {aws}
    field: region
    file: region
env:
  JOB_TOKEN: {g}
  JOB_AWS_KEY: {aws}.secret_access_key
"""


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_a_job_spec_names_the_secrets(
    person: Person, value: Callable[[str], str], tmp_path: Path, suffix: str
) -> None:
    g, r, aws = unique("job"), unique("jobr"), unique("jobaws")
    vg, vr, vaws = value("job"), value("jobr"), value("jobaws")
    person.add(g, value=vg)
    person.add(r, value=vr)
    person.add(
        aws,
        kind="aws",
        fields={"access_key_id": AWS_KEY_ID, "secret_access_key": vaws, "region": "us-east-2"},
    )
    spec = tmp_path / f"job{suffix}"
    spec.write_text((SPEC_TOML if suffix == ".toml" else SPEC_YAML).format(g=g, r=r, aws=aws))
    with held(person, "--secrets-from", str(spec)) as run:
        folder = run.folder
        assert_modes(folder)
        assert (folder / g).read_text() == vg
        assert (folder / "renamed").read_text() == vr
        assert (folder / "region").read_text() == "us-east-2"
        env = environ_of(run.child_pid)
        assert env["JOB_TOKEN"] == vg and env["JOB_AWS_KEY"] == vaws
    assert run.code == 0, run.output()
    assert not folder.exists()


def test_a_bad_job_spec_is_refused(person: Person, tmp_path: Path) -> None:
    spec = tmp_path / "job.toml"
    spec.write_text('secrets = ["a"]\nsurprise = 1\n')
    assert "invalid_spec" in one_error_line(person.run("--secrets-from", str(spec), "--", "true"))
    spec.write_text("secrets = [")
    assert "invalid_spec" in one_error_line(person.run("--secrets-from", str(spec), "--", "true"))


# --- get_secret() inside the command ----------------------------------------------------------------------


def test_get_secret_in_the_command_finds_files_fields_renames_and_variables(
    person: Person, value: Callable[[str], str], tmp_path: Path
) -> None:
    plain, renamed, aws, db, envonly, envfield = (
        unique("gplain"),
        unique("grenamed"),
        unique("gaws"),
        unique("gdb"),
        unique("genv"),
        unique("genvf"),
    )
    v = {k: value(k) for k in ("plain", "renamed", "aws", "db", "env", "envf")}
    person.add(plain, value=v["plain"])
    person.add(renamed, value=v["renamed"])
    person.add(aws, kind="aws", fields={"access_key_id": AWS_KEY_ID, "secret_access_key": v["aws"]})
    person.add(db, kind="database", fields={"host": "db.internal", "password": v["db"]})
    person.add(envonly, value=v["env"])
    person.add(envfield, kind="aws", fields={"access_key_id": AWS_KEY_ID, "secret_access_key": v["envf"]})
    out = tmp_path / "got.json"
    missing = unique("absent")
    refs = [
        plain,
        renamed,
        f"{aws}+secret_access_key",
        f"{aws}+access_key_id",
        f"{db}+password",
        envonly,
        f"{envfield}+secret_access_key",
        missing,
    ]
    result = person.run(
        "--secret",
        plain,
        "--secret",
        f"{renamed}:other-name.txt",
        "--secret",
        aws,
        "--secret",
        f"{db}:database",
        "--env",
        f"SOME_VAR={envonly}",
        "--env",
        f"AWS_KEY={envfield}.secret_access_key",
        "--",
        sys.executable,
        "-c",
        GET_SECRETS,
        str(out),
        *refs,
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(out.read_text())
    assert got[plain] == sha(v["plain"])
    assert got[renamed] == sha(v["renamed"])
    assert got[f"{aws}+secret_access_key"] == sha(v["aws"])
    assert got[f"{aws}+access_key_id"] == sha(AWS_KEY_ID)
    assert got[f"{db}+password"] == sha(v["db"])
    assert got[envonly] == sha(v["env"])
    assert got[f"{envfield}+secret_access_key"] == sha(v["envf"])
    assert got[missing].startswith("missing: ")
    assert (
        missing in got[missing]
        and f"/dev/shm/sealbox-{UID}-" in got[missing]
        and "environment" in got[missing]
    )
    assert "sealbox run" not in got[missing]  # in a session: no hint about starting one


# --- a field the secret does not have (issue 12, new user 8) ------------------------------------------------


def test_a_missing_field_is_an_error_naming_it_and_nothing_is_written(
    person: Person, value: Callable[[str], str], tmp_path: Path
) -> None:
    aws = unique("noregion")
    person.add(aws, kind="aws", fields={"access_key_id": AWS_KEY_ID, "secret_access_key": value("noregion")})
    ran = tmp_path / "ran"
    before_sessions, before_shm = person.session_count(), shm_listing()
    for mapping in (["--secret", f"{aws}.region:region"], ["--env", f"REGION={aws}.region"]):
        result = person.run(*mapping, "--", "touch", str(ran))
        line = one_error_line(result)
        assert "missing_field" in line and aws in line and "region" in line, line
        assert not ran.exists(), "the command ran"
    assert person.session_count() == before_sessions  # refused before any session began
    assert {p for p in shm_listing() - before_shm if p.name.startswith("run-")} == set()


# --- no memory filesystem (issue 12, security finding 1) ---------------------------------------------------


def _without_memory(person: Person, disk: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`sealbox run ARGS` in a mount namespace where /dev/shm is a folder on the disk."""
    script = 'mount --bind "$0" /dev/shm && exec "$@"'
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(disk), *sealbox_cmd("run", *args)],
        env=person.env(HOME=str(home)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a mount namespace",
)
def test_without_a_memory_filesystem_files_are_refused_with_one_line_and_nothing_goes_to_disk(
    person: Person, value: Callable[[str], str], tmp_path: Path
) -> None:
    name = unique("nomem")
    person.add(name, value=value("nomem"))
    disk, home, ran = tmp_path / "disk-shm", tmp_path / "home", tmp_path / "ran"
    disk.mkdir(mode=0o1777)
    home.mkdir()
    before = person.session_count()
    result = _without_memory(person, disk, "--secret", name, "--", "touch", str(ran), home=home)
    line = one_error_line(result)
    assert "no_memory_fs" in line and "--mount-path" in line
    assert not ran.exists()
    assert person.session_count() == before  # refused before any session
    assert list(disk.iterdir()) == [] and list(home.iterdir()) == []
    # Variables need no folder: such a run works, and writes nothing either.
    env_only = _without_memory(person, disk, "--env", f"NOMEM={name}", "--", "touch", str(ran), home=home)
    assert env_only.returncode == 0 and env_only.stderr == "", env_only.stderr
    assert ran.exists()
    assert list(disk.iterdir()) == [] and list(home.iterdir()) == []
