"""A second, unprivileged account squats the names on the memory filesystem (issue 12, security finding 1;
TEST-PLAN T27).

Before each of 20 launches, an attacker account pre-creates every name the session side used to create
on /dev/shm (`sealbox-<victim uid>`) and names of the form sealbox now uses (`sealbox-<uid>-<random>`,
guessed), as a folder open to all, a symlink into a folder of the attacker's, and a FIFO. The victim, a
second unprivileged account, then runs `sealbox run` with a file and a variable. The old code gave up on
the squatted name and wrote the values to `~/.cache/sealbox` on the disk; now every launch uses a folder
that only the victim owns, mode 0700, on tmpfs, which sealbox made under a random name and checked, or it
refuses with one line. The attacker can read nothing and its objects receive nothing; the victim's home,
the attacker's home and the temporary folders on the disk hold no value.

The same for the local hub spawner's folder is in test_jupyterhub_local.py (the module's functions, run
as root) and test_jupyterhub_system_user.py (a real hub whose memory folder is squatted).

What stands in for what: the victim needs a Python it may run (this venv's lives behind /root): the
helper from test_jupyterhub_system_user builds one on this run's packages. The keeper listens on a unix
socket only root may open (0600); a thread forwards a loopback TCP port to it, as a keeper on the
cluster network would be reached. The disk scan covers the places a fallback could have written (the
two homes, /tmp, /var/tmp, root's cache), not the whole disk (800k files, most of them other work).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sealbox.launcher.memory import filesystem_type
from tests.integration.test_jupyterhub_system_user import SystemUser, system_user, user_python
from tests.integration.test_run import HOLD
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="needs root: creates the victim's and the attacker's accounts"
    ),
]
Canary = Callable[[str], str]
LAUNCHES = 20
KINDS = ("folder", "symlink", "fifo")
SHM = Path("/dev/shm")


@contextlib.contextmanager
def keeper_bridge(socket_path: Path) -> Iterator[str]:
    """127.0.0.1:PORT forwarded to the keeper's unix socket; yields the keeper URL for the victim."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def relay(client: socket.socket) -> None:
        with client, socket.socket(socket.AF_UNIX) as upstream:
            upstream.connect(str(socket_path))
            pumps = [
                threading.Thread(target=pump, args=pair, daemon=True)
                for pair in ((client, upstream), (upstream, client))
            ]
            for t in pumps:
                t.start()
            for t in pumps:
                t.join()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=relay, args=(client,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


def as_user(
    user: SystemUser, *argv: str, env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """`argv` as `user`, with exactly the environment `env`."""
    return subprocess.run(
        as_user_argv(user, env, *argv), input=stdin, capture_output=True, timeout=120, check=False
    )


def as_user_argv(user: SystemUser, env: dict[str, str], *argv: str) -> list[str]:
    return ["runuser", "-u", user.name, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv]


def squat(attacker: SystemUser, victim_uid: int, kind: str, lair: Path) -> list[Path]:
    """The attacker takes the old fixed name and a few names of sealbox's present form."""
    names = [SHM / f"sealbox-{victim_uid}"] + [
        SHM / f"sealbox-{victim_uid}-{secrets.token_hex(4)}" for _ in range(5)
    ]
    make = {
        "folder": lambda p: ["mkdir", "-m", "777", str(p)],
        "symlink": lambda p: ["ln", "-s", str(lair), str(p)],
        "fifo": lambda p: ["mkfifo", "-m", "666", str(p)],
    }[kind]
    for path in names:
        made = as_user(attacker, *make(path), env={"PATH": "/usr/bin:/bin"})
        assert made.returncode == 0, made.stderr
        assert os.lstat(path).st_uid == attacker.uid
    return names


def clear(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def disk_hits(places: list[Path], values: list[str]) -> dict[str, list[str]]:
    """Regular files under `places` (links not followed) that hold a value in any encoding; files that other
    work removes meanwhile are passed over."""
    found: dict[str, list[str]] = {}
    for place in places:
        for dirpath, _, filenames in os.walk(place):
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    if not stat.S_ISREG(os.lstat(path).st_mode):
                        continue
                    hits = find_in_bytes(path.read_bytes(), values)
                except OSError:
                    continue
                if hits:
                    found[str(path)] = hits
    return found


def test_squatted_names_never_send_values_to_disk_or_to_the_squatter(stack: Stack, canary: Canary) -> None:
    with (
        system_user("sbxv") as victim,
        system_user("sbxa") as attacker,
        user_python(victim) as singleuser,
        keeper_bridge(Path(stack.keeper.url.removeprefix("unix://"))) as keeper_url,
    ):
        python = str(singleuser.parent / "python")
        token = stack.add_user(victim.name)
        file_value, env_value = canary("squat-file"), canary("squat-env")
        values = [file_value, env_value]
        with stack.client(token) as api:
            for name, value in (("db", file_value), ("api", env_value)):
                assert api.post("/api/v1/secrets", json={"name": name, "value": value}).status_code == 201
        env = {
            "PATH": f"{singleuser.parent}:/usr/bin:/bin",
            "HOME": str(victim.home),
            "SEALBOX_CONFIG": str(victim.home / "sealbox.toml"),
        }
        login = as_user(
            victim,
            python,
            "-m",
            "sealbox",
            "login",
            stack.url,
            "--token",
            "-",
            env=env,
            stdin=f"{token}\n".encode(),
        )
        assert login.returncode == 0, login.stderr
        # Where the held command reports where its files are (never a value): the victim's, outside pytest's
        # private folders.
        work = Path(tempfile.mkdtemp(prefix="sealbox-squat-", dir="/tmp"))
        os.chown(work, victim.uid, victim.gid)
        lair = attacker.home / "lair"
        assert (
            as_user(attacker, "mkdir", "-m", "777", str(lair), env={"PATH": "/usr/bin:/bin"}).returncode == 0
        )
        disk = [victim.home, attacker.home, Path("/tmp"), Path("/var/tmp"), Path("/root/.cache")]

        for launch in range(LAUNCHES):
            kind = KINDS[launch % len(KINDS)]
            # A fresh start each time (as after a reboot): no earlier folder of the victim's to reuse, and
            # nothing left by an earlier run of this test whose accounts had the same uids.
            clear([*SHM.glob(f"sealbox-{victim.uid}"), *SHM.glob(f"sealbox-{victim.uid}-*")])
            squatted = squat(attacker, victim.uid, kind, lair)
            marker = work / f"marker-{launch}"
            run = subprocess.Popen(
                as_user_argv(
                    victim, env,
                    python, "-m", "sealbox", "run", "--keeper-url", keeper_url,
                    "--secret", "db", "--env", "API_TOKEN=api", "--", python, "-c", HOLD, str(marker),
                ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 90
                while not marker.exists():
                    assert run.poll() is None, run.communicate()
                    assert time.monotonic() < deadline, "the command did not start"
                    time.sleep(0.05)
                info = json.loads(marker.read_text())
                folder = Path(info["dir"])
                root = folder.parent
                for path, mode in ((folder, 0o700), (root, 0o700)):
                    st = os.lstat(path)
                    assert stat.S_ISDIR(st.st_mode), (kind, path)
                    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (victim.uid, mode), (kind, path)
                    assert filesystem_type(path) == "tmpfs", (kind, path)
                assert root.parent == SHM and root not in squatted, (kind, root)
                assert (folder / "db").read_text() == file_value
                # The squatter reads nothing and its objects received nothing.
                for argv in (["cat", str(folder / "db")], ["ls", str(root)]):
                    peek = as_user(attacker, *argv, env={"PATH": "/usr/bin:/bin"})
                    assert peek.returncode != 0 and find_in_bytes(peek.stdout, values) == [], argv
                assert list(lair.iterdir()) == []
                assert [p for p in squatted if p.is_dir() and not p.is_symlink() and any(p.iterdir())] == []
                assert disk_hits([victim.home, attacker.home], values) == {}
                if launch == 0:
                    assert disk_hits(disk, values) == {}
            finally:
                marker.with_name(marker.name + ".go").write_text("0")
                out, err = run.communicate(timeout=60)
                clear(squatted)
            assert run.returncode == 0, (kind, err)
            assert err == b"" and find_in_bytes(out + err, values) == [], (kind, err)
            assert not folder.exists()

        assert disk_hits(disk, values) == {}
        assert not (victim.home / ".cache" / "sealbox").exists()  # the old fallback on the disk
        with stack.client(token) as api:
            sessions = api.get("/api/v1/sessions", params={"all": "true"}).json()
        assert len(sessions) == LAUNCHES and {s["status"] for s in sessions} == {"ended"}
        for old in SHM.glob(f"sealbox-{victim.uid}-*"):
            shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
