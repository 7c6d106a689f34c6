"""`sealbox run`: create a session, redeem it, write the folder and env, run the command, clean up."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import msgspec

from sealbox.domain.sessions import (
    HEARTBEAT_MISSES,
    MAX_HEARTBEAT_SECONDS,
    MAX_TTL_SECONDS,
    MIN_HEARTBEAT_SECONDS,
    check_mappings,
)
from sealbox.errors import BadRequest
from sealbox.launcher.contents import folder_contents, format_session
from sealbox.launcher.memory import private_root, private_roots
from sealbox.launcher.prefetch import Prefetch
from sealbox.launcher.spec import RunSpec
from sealbox.launcher.spool import (
    SecretFolder,
    check_mount_path,
    clean_leftovers,
    keep_session_lease,
    write_lease,
)
from sealbox.launcher.watch import Reporter, Watch, end_session
from sealbox.sdk.client import Client

if TYPE_CHECKING:
    import subprocess

    from sealbox.launcher.formats.plan import Formatted
    from sealbox.launcher.redeem import Delivered, Delivery
    from sealbox.protocol.session_answers import SessionPublic

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
REFRESH_INTERVAL_S = 2.0
DEFAULT_HEARTBEAT_SECONDS = 30
HEARTBEAT_VARIABLE = "SEALBOX_HEARTBEAT_SECONDS"
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def heartbeat_from_env() -> int:
    """How often a run calls in: $SEALBOX_HEARTBEAT_SECONDS, else 30 s."""
    raw = os.environ.get(HEARTBEAT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT_SECONDS
    if (
        not raw.isascii()
        or not raw.isdigit()
        or not MIN_HEARTBEAT_SECONDS <= int(raw) <= MAX_HEARTBEAT_SECONDS
    ):
        raise BadRequest(
            f"{HEARTBEAT_VARIABLE} is a number of seconds, {MIN_HEARTBEAT_SECONDS}-{MAX_HEARTBEAT_SECONDS}",
            code="invalid_heartbeat",
        )
    return int(raw)


class RunOptions(msgspec.Struct, kw_only=True):
    spec: RunSpec
    command: Sequence[str]
    url: str
    token: str
    keeper_url: str | None = None
    allow_expired: bool = False  # --allow-expired: the server lets expired secrets through, on the record
    refresh_interval: float = REFRESH_INTERVAL_S
    heartbeat_seconds: int = msgspec.field(default_factory=heartbeat_from_env)
    log: Callable[[str], None] = lambda line: print(f"sealbox: {line}", file=sys.stderr)

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"RunOptions(url={self.url!r}, command={list(self.command)!r})"


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, or None where there is none."""
    with contextlib.suppress(OSError, AttributeError):
        prctl: Callable[..., int] = ctypes.CDLL(None).prctl
        return prctl
    return None


def _harden() -> None:
    """The launcher holds plaintexts: no core dumps, no reads of its memory by same-user processes."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _child_setup() -> Callable[[], None]:
    """What the child does between fork and exec: die with sealbox (even on its SIGKILL), and be dumpable as
    the user expects. prctl is looked up here, in the parent: the child only calls it (the time between
    fork and exec is part of every run's start-up)."""
    prctl = _prctl()

    def setup() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)

    return setup


def _lease_root() -> Path | None:
    """Where this run's lease goes when it needs no folder of its own: the private root if there is one.
    Without one, a crash leaves a session that the server ends after its heartbeat window."""
    try:
        return private_root()
    except BadRequest:
        return None


def _old_disk_roots() -> list[Path]:
    """`~/.cache/sealbox`, where older versions fell back to when /dev/shm could not be used (values
    included): the leases there are cleaned up, so a crashed run's folder leaves the disk; never used."""
    try:
        root = Path.home() / ".cache" / "sealbox"
        st = os.lstat(root)
    except (OSError, RuntimeError, KeyError):
        return []
    return [root] if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() else []


class _Runner:
    def __init__(self, opts: RunOptions) -> None:
        self.opts = opts
        self.client = Client(opts.url, opts.token)  # one keep-alive connection for the whole run
        self.child: subprocess.Popen[bytes] | None = None
        self.delivery: Delivery | None = None
        self.folder: SecretFolder | None = None
        self.folder_lock = threading.Lock()  # the watch thread may remove the folder when the session ends
        self.reporter = Reporter(opts.log, opts.url)

    def _session_request(self, mount_path: str) -> dict[str, Any]:
        """SessionCreate's fields, plain: the run never loads the request types (several ms of a 100 ms
        start); the server decodes the body as SessionCreate all the same."""
        return {
            "secrets": [
                {"name": m.secret, "field": m.field, "file": m.file, "env": m.env}
                for m in self.opts.spec.mappings
            ],
            "mount_path": mount_path,
            "project": self.opts.spec.project,
            "heartbeat_seconds": self.opts.heartbeat_seconds,
            # The heartbeat ends an abandoned run's session within minutes, so the lifetime need not: a
            # long job keeps its files for up to the longest lifetime, not the default 12 hours.
            "ttl_seconds": MAX_TTL_SECONDS,
            "allow_expired": self.opts.allow_expired,
        }

    def run(self) -> int:
        spec = self.opts.spec
        check_mappings(list(spec.mappings))
        wants_files = any(m.file is not None for m in spec.mappings)
        self._end_leftovers()
        existed = False
        lease_root: Path | None
        mount: Path | None
        if spec.mount_path is not None:
            mount = Path(spec.mount_path)
            existed = check_mount_path(mount)  # refuse before anything is written anywhere
            lease_root = _lease_root()
        elif wants_files:
            lease_root = private_root()  # a memory filesystem, or one line saying there is none
            mount = lease_root / f"run-{os.getpid()}-{os.urandom(4).hex()}"
        else:
            mount, lease_root = None, _lease_root()
        prefetch = Prefetch()
        try:
            launch = self.client.create_session(self._session_request(str(mount or "/secrets")))
        except BaseException:
            prefetch.join()  # never exit while the thread may hold an import lock
            raise
        prefetch.wait_for_redeem()
        session_id = launch.session.id
        lease = None
        if lease_root is not None:
            lease = write_lease(
                lease_root, path=mount, keep_folder=existed, session_id=session_id, server=self.opts.url
            )
        try:
            from sealbox.launcher.environ import child_environment
            from sealbox.launcher.redeem import redeem

            self.delivery = redeem(
                self.client.http,
                session_id=session_id,
                credential=launch.session_credential,
                keeper_url=self.opts.keeper_url,
            )
            prefetch.join()  # loaded while the server and the keeper answered; never fork while it runs
            env = child_environment(
                self.delivery.items, secrets_dir=str(mount) if mount else None, session_id=session_id
            )
            if mount is not None and wants_files:
                formatted = self._formats(self.delivery.items, mount, env)  # refusals before any write
                files, manifest = folder_contents(self.delivery.items, formatted)  # so is a missing field
                self.folder = SecretFolder.create(mount)
                self.folder.write(files, {**manifest, "session": session_id})
            return self._run_child(env, session_id)
        finally:
            prefetch.join()
            self._remove_folder()
            ended = end_session(self.client, session_id, self.reporter)
            if lease is not None:
                if ended:
                    lease.unlink(missing_ok=True)
                else:
                    keep_session_lease(lease)
            if not ended:
                window = HEARTBEAT_MISSES * self.opts.heartbeat_seconds
                later = "the next sealbox run ends it, and " if lease is not None else ""
                self.opts.log(
                    f"could not end session {session_id}: the server at {self.opts.url} cannot be reached; "
                    f"{later}the server counts it as over after {window} s without a heartbeat"
                )
            self.client.close()

    def _formats(self, items: Sequence[Delivered], mount: Path, env: dict[str, str]) -> Formatted | None:
        """Render the secrets asked `--as` a format, add their variables to `env`, and say which variables
        the session already had that change or outrank them."""
        if not self.opts.spec.formats:
            return None
        formatted = format_session(items, self.opts.spec.formats, folder=mount, base=env)
        for warning in formatted.warnings:
            self.opts.log(f"warning: {warning}")
        env.update(formatted.env)
        return formatted

    def _end_leftovers(self) -> None:
        """Remove what crashed runs left (folders), and end their sessions (also those of runs that ended
        while the server was down). A session on another server is left to a run against that server: this
        server does not know it, and its 404 would say nothing about whether it was ended."""
        for root in [*private_roots(), *_old_disk_roots()]:
            for leftover in clean_leftovers(root):
                if leftover.server is not None and leftover.server != self.opts.url:
                    continue
                if not end_session(self.client, leftover.session_id, self.reporter):
                    return  # the server is unreachable: keep the leases for the next run
                leftover.lease.unlink(missing_ok=True)

    def _remove_folder(self) -> bool:
        with self.folder_lock:
            folder, self.folder = self.folder, None
        if folder is None:
            return False
        folder.remove()
        return True

    def _session_over(self, session_id: str, state: str) -> None:
        """The server says the session is over while the command runs: the files go at once, the command
        is left running, and the person is told."""
        removed = self._remove_folder()
        window = HEARTBEAT_MISSES * self.opts.heartbeat_seconds
        why = {
            "ended": "was ended (sealbox session end, or the web page)",
            "expired": "is over on the server (expired, or not heard from in time)",
            "refused": f"is over: the server has refused this run's calls for {window} s (token revoked?)",
        }.get(state, "is not live on the server any more")
        files = "its files are removed; " if removed else ""
        variables = any(m.env is not None for m in self.opts.spec.mappings)
        kept = " (the variables it was given stay in its environment)" if variables else ""
        self.opts.log(f"session {session_id} {why}: {files}the command keeps running{kept}")

    def _run_child(self, env: dict[str, str], session_id: str) -> int:
        previous: dict[int, Any] = {}
        foreground = _owns_terminal()

        def forward(signum: int, _frame: FrameType | None) -> None:
            child = self.child
            if child is None or child.poll() is not None:
                return
            # From a terminal, Ctrl-C already reached the child (same process group): do not send it twice.
            if signum == signal.SIGINT and foreground:
                return
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

        import subprocess

        setup = _child_setup()
        for sig in _FORWARDED:
            previous[sig] = signal.signal(sig, forward)
        try:
            try:
                # The command the person asked to run: an argv list, no shell.
                self.child = subprocess.Popen(list(self.opts.command), env=env, preexec_fn=setup)  # nosec B603
            except OSError as exc:
                raise BadRequest(
                    f"cannot start {self.opts.command[0]}: {exc.strerror}", code="command_failed"
                ) from None
            watch = Watch(
                server=self.client,
                session_id=session_id,
                heartbeat_seconds=self.opts.heartbeat_seconds,
                refresh=(lambda s: self._refresh_once(session_id, s))
                if self.opts.spec.refresh and self.folder is not None
                else None,
                refresh_interval=self.opts.refresh_interval,
                on_over=lambda state: self._session_over(session_id, state),
                reporter=self.reporter,
            )
            watch.start()
            try:
                code = self.child.wait()
            finally:
                watch.stop()
            return 128 - code if code < 0 else code
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _refresh_once(self, session_id: str, session: SessionPublic) -> None:
        # Compare with the versions this side holds, not the server's "version" (what it last handed out):
        # a redemption whose keeper half failed counts as delivered on the server but never arrived here.
        held = {(i.owner, i.name): i.version for i in self.delivery.items} if self.delivery else {}
        stale = any(
            s.current_version is not None and s.current_version != held.get((s.owner, s.name))
            for s in session.secrets
        )
        if self.delivery is not None and not stale:
            from sealbox.launcher.cloud_roles import renewal_due

            stale = renewal_due(self.delivery.items, time.time())  # a minted credential past half its life
        if not stale or self.folder is None:
            return
        from sealbox.launcher.redeem import redeem

        launch = self.client.new_session_credential(session_id)
        delivery = redeem(
            self.client.http,
            session_id=session_id,
            credential=launch.session_credential,
            keeper_url=self.opts.keeper_url,
        )
        formatted = None
        if self.opts.spec.formats:  # the same paths and variables: only the files change
            formatted = format_session(
                delivery.items, self.opts.spec.formats, folder=self.folder.path, base={}
            )
        files, manifest = folder_contents(delivery.items, formatted)
        with self.folder_lock:
            if self.folder is None:
                return  # ended meanwhile
            self.folder.write(files, {**manifest, "session": session_id})
        self.delivery = delivery


def _owns_terminal() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:
        return False


def run(opts: RunOptions) -> int:
    """Run the command with its secrets; returns the command's exit code (128+N if killed by signal N)."""
    _harden()
    return _Runner(opts).run()
