"""Starting sealbox's own processes: the keeper and the server, as children that die with their parent."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sealbox.crypto.sealing import PublicKeySet
from sealbox.errors import ClientError, ConfigError, Unavailable
from sealbox.keeper.client import KeeperClient
from sealbox.parent_death import die_with_parent
from sealbox.private_files import write_public_file
from sealbox.transport import HTTPClient


def spawn(args: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # our own interpreter and module, an argv list, no shell  # nosec B603
        [sys.executable, "-m", "sealbox", *args],
        start_new_session=True,  # Ctrl-C reaches `up`, which stops the children in order
        preexec_fn=die_with_parent,  # between fork and exec: if `up` dies, so do they
    )


def keeper_ready(url: str) -> bool:
    client = KeeperClient(url)
    try:
        client.health()
        return True
    except Unavailable:
        return False
    finally:
        client.close()


def server_ready(url: str) -> bool:
    try:
        with HTTPClient(url, timeout=1.0, connect_timeout=1.0) as probe:
            return probe.request("GET", "/healthz").status in (200, 503)
    except ClientError:
        return False


def install_keeper_public_key(*, keeper_url: str, keeper_dir: Path | None, target: Path) -> None:
    """Put the keeper's public key into the server's data dir (trust on first use; refuse a silent change)."""
    text: str | None = None
    if keeper_dir is not None and (keeper_dir / "keeper.pub").exists():
        text = (keeper_dir / "keeper.pub").read_text()
    else:
        client = KeeperClient(keeper_url)
        try:
            text = client.public_key_text()
        except Unavailable:
            text = None
        finally:
            client.close()
    if text is None:
        if target.exists():
            return
        raise ConfigError(
            f"no keeper public key at {target} and the keeper at {keeper_url} cannot be reached"
        )
    fresh = PublicKeySet.from_text(text, source="keeper")
    if target.exists():
        known = PublicKeySet.from_text(target.read_text(), source=str(target))
        known_ids = {kid for kid, _ in known.keys}
        if fresh.current_id not in known_ids and not any(kid in known_ids for kid, _ in fresh.keys):
            raise ConfigError(
                f"the keeper's key differs from the one in {target}: "
                "values stored so far could never be opened "
                "by this keeper. Point the server at the keeper that holds the old key."
            )
        if target.read_text() == text:
            return
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_public_file(target, text, overwrite=True)


def install_server_verify_key(*, source: Path, keeper_dir: Path) -> None:
    """Give the keeper the server's ticket-verification key (public), in its own directory."""
    text = source.read_text()
    target = keeper_dir / "server.pub"
    if target.exists() and target.read_text() == text:
        return
    write_public_file(target, text, overwrite=True)


def stop(procs: Sequence[subprocess.Popen[bytes]], *, timeout: float = 10.0) -> None:
    """SIGTERM each child (server first, keeper last), then SIGKILL what is still running."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for proc in procs:  # each leads its own process group (start_new_session): end what is left of it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
