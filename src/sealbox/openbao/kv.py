"""Reading an OpenBao/Vault KV mount: its version (1 or 2), the secrets under a prefix, their versions.

The KV version comes from `sys/internal/ui/mounts/<mount>` (what the `bao` and `vault` CLIs ask: any
token with a capability under the mount may read it), else from `sys/mounts` (which needs a broader
policy). A KV v2 secret is read from its metadata (current version, each version's state, the
`custom_metadata`) and then version by version; a KV v1 secret has one value and no metadata. The values
stay in `KVVersion.data`, never in a repr.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sealbox.errors import OpenBaoError
from sealbox.openbao.client import OpenBao

MAX_DEPTH = 32  # folders within folders; deeper is refused rather than followed


class KVVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a secret: its number (0 in KV v1), and its data unless deleted or destroyed."""

    number: int
    data: dict[str, Any] | None  # None: deleted or destroyed
    state: str = "live"  # live, deleted, destroyed

    def __repr__(self) -> str:
        return f"KVVersion(number={self.number}, state={self.state!r})"


class KVSecret(msgspec.Struct, frozen=True, kw_only=True):
    """A secret under the prefix: its path below the prefix, its versions (oldest first, the current one
    last), and its custom_metadata (KV v2)."""

    path: str
    current: int
    versions: tuple[KVVersion, ...]
    custom_metadata: dict[str, str] = msgspec.field(default_factory=dict)

    def __repr__(self) -> str:
        return f"KVSecret(path={self.path!r}, current={self.current}, versions={len(self.versions)})"


class _MountInfo(msgspec.Struct, kw_only=True):
    type: str = ""
    options: dict[str, str] | None = None


def kv_version(bao: OpenBao, mount: str) -> int:
    """1 or 2, as the mount says; `OpenBaoError` when it is not a KV mount or cannot be read."""
    info = _mount_info(bao, mount)
    if info.type not in {"kv", "generic"}:
        raise OpenBaoError(f"{mount}/ at {bao.addr} is a {info.type or 'unknown'} mount, not a KV one")
    version = (info.options or {}).get("version") or "1"
    if version not in {"1", "2"}:
        raise OpenBaoError(f"{mount}/ at {bao.addr} is KV version {version}, which sealbox cannot read")
    return int(version)


def _mount_info(bao: OpenBao, mount: str) -> _MountInfo:
    try:
        answer = bao.get(f"sys/internal/ui/mounts/{mount}")
        return msgspec.convert(answer.get("data") or {}, _MountInfo, strict=False)
    except (OpenBaoError, msgspec.ValidationError):
        pass
    answer = bao.get("sys/mounts")
    mounts = answer.get("data", answer)
    entry = mounts.get(f"{mount}/") if isinstance(mounts, dict) else None
    if not isinstance(entry, dict):
        raise OpenBaoError(f"no mount {mount}/ at {bao.addr} that this token may see")
    try:
        return msgspec.convert(entry, _MountInfo, strict=False)
    except msgspec.ValidationError:
        raise OpenBaoError(
            f"the mount {mount}/ at {bao.addr} is described in a way sealbox cannot read"
        ) from None


def folder(prefix: str) -> str:
    """A prefix as a folder: no leading '/', one trailing '/' (or '' for the whole mount)."""
    clean = prefix.strip().strip("/")
    return f"{clean}/" if clean else ""


def list_paths(bao: OpenBao, mount: str, prefix: str, *, version: int) -> list[str]:
    """Every secret's path under `prefix` (a folder), relative to it, sorted; folders are followed."""
    kv = bao.hvac.secrets.kv.v2 if version == 2 else bao.hvac.secrets.kv.v1
    found: list[str] = []

    def walk(below: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise OpenBaoError(f"{mount}/{prefix}{below} is more than {MAX_DEPTH} folders deep")
        path = prefix + below
        try:
            answer: Any = bao.call(
                f"list {mount}/{path}", lambda: kv.list_secrets(path=path, mount_point=mount)
            )
        except OpenBaoError as exc:
            if exc.status == 404:
                return
            raise
        keys = (answer or {}).get("data", {}).get("keys") or []
        for key in sorted(str(k) for k in keys):
            if key.endswith("/"):
                walk(below + key, depth + 1)
            else:
                found.append(below + key)

    walk("", 0)
    return sorted(found)


def read_secret(bao: OpenBao, mount: str, path: str, *, version: int, all_versions: bool) -> KVSecret:
    """The secret at `path` (from the mount's root): the current version, or every version kept."""
    if version == 1:
        answer: Any = bao.call(
            f"read {mount}/{path}", lambda: bao.hvac.secrets.kv.v1.read_secret(path=path, mount_point=mount)
        )
        data = (answer or {}).get("data")
        return KVSecret(
            path=path, current=0, versions=(KVVersion(number=0, data=dict(data) if data else None),)
        )
    kv2 = bao.hvac.secrets.kv.v2
    meta: Any = bao.call(
        f"read {mount}/metadata/{path}", lambda: kv2.read_secret_metadata(path=path, mount_point=mount)
    )
    body = (meta or {}).get("data") or {}
    current = int(body.get("current_version") or 0)
    states = {int(n): _state(v) for n, v in (body.get("versions") or {}).items()}
    custom = {str(k): str(v) for k, v in (body.get("custom_metadata") or {}).items()}
    numbers = sorted(states) if all_versions else [current]
    versions: list[KVVersion] = []
    for number in numbers:
        state = states.get(number, "destroyed")
        if state != "live":
            versions.append(KVVersion(number=number, data=None, state=state))
            continue
        answer = bao.call(
            f"read {mount}/data/{path} version {number}",
            lambda n=number: kv2.read_secret_version(  # type: ignore[misc]
                path=path, version=n, mount_point=mount, raise_on_deleted_version=True
            ),
        )
        data = ((answer or {}).get("data") or {}).get("data")
        versions.append(KVVersion(number=number, data=dict(data) if isinstance(data, dict) else None))
    return KVSecret(path=path, current=current, versions=tuple(versions), custom_metadata=custom)


def _state(version: Any) -> str:
    if not isinstance(version, dict):
        return "destroyed"
    if version.get("destroyed"):
        return "destroyed"
    return "deleted" if version.get("deletion_time") else "live"
