"""Inside a session pod: the init container that redeems once, and the sidecar that refreshes.

`init_folder` (the command `sealbox kube init`) reads the session credential and the session id from files
(the short-lived Secret's volume: never argv, never an environment value), makes its 0700 folder inside the
emptyDir, redeems the credential once, and writes the files (0400) in Kubernetes' atomic-writer layout with
the manifest that `get_secret` follows.

`Refresher` (the command `sealbox kube refresh`) keeps that folder current. A session credential is spent
by its first use and a pod holds no user token, so each poll fetches the same secrets afresh as a service
account acting for the session's user (`POST /api/v1/service/sessions`, audited like any launch, with the
service as actor); when a version changed, it writes a complete new set and swaps it in one rename, as
`sealbox run --refresh` does. The polls cost one launch each: keep the interval at a minute or more.

`stage_keys` copies key files out of a Kubernetes Secret volume (root-owned symlinks into `..data`) into a
private folder of the running user, where the server's and keeper's key-file checks accept them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import stat
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec.structs

from sealbox.errors import BadRequest, ClientError, ConfigError
from sealbox.launcher.contents import folder_contents
from sealbox.launcher.formats.plan import Formatted, render_session
from sealbox.launcher.redeem import Delivered, Delivery, redeem
from sealbox.launcher.spool import DATA_LINK, MANIFEST, SecretFolder, _filesystem_type
from sealbox.private_files import write_private_file
from sealbox.sdk.client import Client
from sealbox.transport import HTTPClient

_PR_SET_DUMPABLE = 4
_MEMORY_FS = {"tmpfs", "ramfs"}
_MAX_SMALL_FILE = 4096


def harden() -> None:
    """This process holds plaintexts: no core dumps, no reads of its memory by same-user processes."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _stderr(line: str) -> None:
    print(f"sealbox: {line}", file=sys.stderr, flush=True)


def read_small_file(path: Path, what: str) -> str:
    """One line of text from a mounted Secret's file (kubelet's files are symlinks into `..data`)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_SMALL_FILE + 1)
    except OSError:
        raise ConfigError(f"cannot read the {what} file {path}") from None
    text = raw.decode("utf-8", errors="replace").strip()
    if not text or len(raw) > _MAX_SMALL_FILE or any(c in text for c in "\r\n\x00"):
        raise ConfigError(f"the {what} file {path} does not hold one line of text")
    return text


def on_memory_filesystem(path: Path) -> bool:
    return _filesystem_type(path) in _MEMORY_FS


@dataclass(frozen=True, kw_only=True, slots=True)
class InitResult:
    session_id: str
    files: tuple[str, ...]
    skipped_env: tuple[str, ...]  # env-only mappings: not delivered into pods


@dataclass(kw_only=True)
class InitOptions:
    server_url: str
    credential_file: Path
    target: Path
    session_id: str | None = None
    session_id_file: Path | None = None
    keeper_url: str | None = None
    require_memory: bool = False
    formats: Mapping[str, str] = field(default_factory=dict)  # file -> client format (`--as FILE=FORMAT`)
    log: Callable[[str], None] = _stderr


def _session_id(opts: InitOptions) -> str:
    if opts.session_id is not None:
        return opts.session_id
    path = opts.session_id_file or opts.credential_file.with_name("session-id")
    return read_small_file(path, "session id")


def init_folder(opts: InitOptions) -> InitResult:
    """Redeem the credential once into `opts.target` (created 0700; its parent is the emptyDir)."""
    credential = read_small_file(opts.credential_file, "session credential")
    session_id = _session_id(opts)
    parent = opts.target.parent
    if not parent.is_dir():
        raise BadRequest(f"{parent} does not exist (is the emptyDir mounted?)", code="invalid_mount_path")
    if not on_memory_filesystem(parent):
        if opts.require_memory:
            raise BadRequest(
                f"{parent} is not on a memory filesystem (emptyDir needs medium: Memory)", code="no_memory_fs"
            )
        opts.log(f"warning: {parent} is not on a memory filesystem; the files are on disk")
    # The folder first: a refusal here must not spend the one-time credential.
    folder = SecretFolder.create(opts.target)
    try:
        with HTTPClient(opts.server_url) as server:
            delivery = redeem(
                server, session_id=session_id, credential=credential, keeper_url=opts.keeper_url
            )
        files, manifest = folder_contents(
            delivery.items, _formatted(delivery.items, opts.formats, opts.target)
        )
        folder.write(files, {**manifest, "session": session_id})
    except BaseException:
        folder.remove()
        raise
    skipped = tuple(i.env for i in delivery.items if i.file is None and i.env is not None)
    if skipped:
        opts.log(
            f"{len(skipped)} variable mapping(s) not delivered: pods get files only (values never in env)"
        )
    return InitResult(session_id=session_id, files=tuple(sorted(files)), skipped_env=skipped)


def parse_formats(options: Sequence[str]) -> dict[str, str]:
    """`--as FILE=FORMAT` options as file -> format."""
    from sealbox.domain.sessions import check_file_name
    from sealbox.launcher.formats import parse_format

    found: dict[str, str] = {}
    for option in options:
        file, eq, fmt = option.partition("=")
        if not eq or file in found:
            raise BadRequest("--as takes FILE=FORMAT, once per file", code="invalid_format")
        found[check_file_name(file)] = parse_format(fmt)
    return found


def _formatted(items: Sequence[Delivered], formats: Mapping[str, str], target: Path) -> Formatted | None:
    """The files of the secrets asked in a client's format; their variables are in the pod's spec
    (kubernetes.pod_spec), which names the app's mount path, so no file here names a path of its own."""
    if not formats:
        return None
    return render_session(items, formats, root=str(target), python=sys.executable, base={})


# --- the refresh sidecar ------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the set currently in `folder` (through `..data`)."""
    try:
        data = json.loads((folder / DATA_LINK / MANIFEST).read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{folder} holds no sealbox manifest (did sealbox kube init run?)") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ConfigError(f"{folder} holds no sealbox manifest")
    return data


@dataclass(kw_only=True)
class RefreshOptions:
    server_url: str
    token_file: Path
    on_behalf_of: str
    target: Path
    keeper_url: str | None = None
    project: str | None = None
    interval: float = 60.0
    log: Callable[[str], None] = _stderr


@dataclass
class Refresher:
    opts: RefreshOptions
    stop: threading.Event = field(default_factory=threading.Event)
    swaps: int = 0

    def _fetch(self, entries: list[dict[str, Any]]) -> Delivery:
        token = read_small_file(self.opts.token_file, "service token")  # re-read: the Secret may rotate
        with Client(self.opts.server_url, token) as client:
            launch = client.service_fetch(
                on_behalf_of=self.opts.on_behalf_of,
                secrets=[{"name": f"{e['owner']}/{e['secret']}", "field": e.get("field")} for e in entries],
                project=self.opts.project,
            )
            return redeem(
                client.http,
                session_id=launch.session.id,
                credential=launch.session_credential,
                keeper_url=self.opts.keeper_url,
            )

    def poll_once(self) -> bool:
        """Fetch the folder's secrets again; swap them in if any version changed. True when swapped."""
        current = read_manifest(self.opts.target)
        entries: list[dict[str, Any]] = current["files"]
        if not entries:
            return False
        delivery = self._fetch(entries)
        # The service endpoint names its files f0, f1, ... in the order asked: map them back.
        by_position = {item.file: item for item in delivery.items}
        fresh: list[Delivered] = []
        for index, entry in enumerate(entries):
            item = by_position.get(f"f{index}")
            if item is None or item.name != entry["secret"] or item.owner != entry["owner"]:
                raise ConfigError("the server answered for other secrets than asked")
            fresh.append(msgspec.structs.replace(item, file=str(entry["file"]), env=None))
        held = [(e["owner"], e["secret"], e["version"]) for e in entries]
        if held == [(i.owner, i.name, i.version) for i in fresh]:
            return False
        formats = {str(e["file"]): str(e["format"]) for e in entries if e.get("format")}  # as the init wrote
        files, manifest = folder_contents(fresh, _formatted(fresh, formats, self.opts.target))
        folder = SecretFolder(path=self.opts.target, existed=True)
        folder.write(files, {**manifest, "session": current.get("session")})
        self.swaps += 1
        changed = sum(1 for (_, _, v), i in zip(held, fresh, strict=True) if v != i.version)
        self.opts.log(f"swapped in {changed} replaced secret(s)")
        return True

    def run(self) -> None:
        """Poll every `interval` seconds until `stop` is set; a failed poll keeps the current values."""
        read_manifest(self.opts.target)  # fail fast: nothing to refresh without the init container's folder
        while not self.stop.wait(self.opts.interval):
            try:
                self.poll_once()
            except (ClientError, ConfigError, BadRequest, OSError) as exc:
                detail = f"{exc.code}" if isinstance(exc, ClientError) else type(exc).__name__
                self.opts.log(f"refresh failed ({detail}); keeping the current values")
            except Exception as exc:  # a sidecar that dies takes nothing with it; keep the values and go on
                self.opts.log(f"refresh failed ({type(exc).__name__}); keeping the current values")


# --- key files for the server's and keeper's own pods ---------------------------------------------------


def stage_keys(source: Path, target: Path) -> list[str]:
    """Copy every key file of a mounted Secret (`source`) into `target` (0700), each 0600 and ours.

    Kubernetes Secret volumes hold root-owned symlinks into `..data`; sealbox reads key files only when they
    are regular files owned by its user and private to it. Returns the names copied. An existing file with
    other content is replaced (the Secret is the source of truth); nothing else in `target` is touched.
    """
    if not source.is_dir():
        raise ConfigError(f"{source} is not a folder")
    with contextlib.suppress(FileExistsError):
        os.mkdir(target, 0o700)
    st = os.lstat(target)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise ConfigError(f"{target} is not a folder of this user")
    os.chmod(target, 0o700)
    copied: list[str] = []
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_file(follow_symlinks=True):
            continue  # kubelet's ..data and timestamped folders
        write_private_file(target / entry.name, Path(entry.path).read_bytes(), overwrite=True)
        copied.append(entry.name)
    if not copied:
        raise ConfigError(f"{source} holds no files")
    return copied
