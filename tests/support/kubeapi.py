"""A small in-process stand-in for a Kubernetes API server (core/v1 Pods and Secrets), over real HTTP.

No kube-apiserver can run on these machines. This server answers the few calls sealbox's apply mode makes
through the official `kubernetes` client, the way the API server documents them: create (201, or 409
AlreadyExists), read (404 NotFound), replace (with `resourceVersion`; an immutable Secret's data cannot
change: 422), delete, and list with a `labelSelector` of `key=value` and `key` (exists) terms. It keeps
the objects in memory, gives each a uid and resourceVersion, and records every request (method, path,
query, headers, JSON body) so a test can assert what reached the "cluster". It does not schedule pods,
collect garbage or validate schemas (the tests validate objects with the kubernetes models and
kubernetes-validate instead).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESOURCES = {"pods": "Pod", "secrets": "Secret"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class KubeAPI:
    """The objects (by resource, namespace, name) and every request received."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _version: int = 0

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get((resource, namespace, name))

    def of(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [o for (r, ns, _), o in self.objects.items() if r == resource and namespace in (None, ns)]

    def raw_bytes(self) -> bytes:
        """Every request body ever received, for a scan for values."""
        with self.lock:
            return b"\n".join(r.raw for r in self.requests)

    def write_kubeconfig(self, path: Path, *, token: str, namespace: str = "default") -> Path:
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "stand-in",
                    "context": {"cluster": "stand-in", "user": "tester", "namespace": namespace},
                }
            ],
            "current-context": "stand-in",
        }
        path.write_text(json.dumps(doc))
        path.chmod(0o600)
        return path

    # --- the server's side ------------------------------------------------------------------------------

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def handle(self, req: Request) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(req)
            parts = [p for p in req.path.split("/") if p]
            # /api/v1/namespaces/{ns}/{resource}[/{name}]
            if (
                len(parts) not in (5, 6)
                or parts[:3] != ["api", "v1", "namespaces"]
                or parts[4] not in RESOURCES
            ):
                return _status(404, "NotFound", "the server could not find the requested resource")
            namespace, resource = parts[3], parts[4]
            name = parts[5] if len(parts) == 6 else None
            key = (resource, namespace, name or "")
            if name is None and req.method == "GET":
                return 200, self._list(resource, namespace, req.query.get("labelSelector", [""])[0])
            if name is None and req.method == "POST":
                return self._create(resource, namespace, req.body)
            if name is None:
                return _status(405, "MethodNotAllowed", "method not allowed")
            existing = self.objects.get(key)
            if existing is None:
                return _status(404, "NotFound", f'{resource} "{name}" not found')
            if req.method == "GET":
                return 200, existing
            if req.method == "DELETE":
                # As the API server answers: a Pod (deleted gracefully) comes back with its deletion
                # timestamp; a Secret, gone at once, as a Status.
                del self.objects[key]
                if resource == "pods":
                    gone = json.loads(json.dumps(existing))
                    gone["metadata"]["deletionTimestamp"] = _timestamp()
                    return 200, gone
                details = {"name": name, "kind": resource, "uid": existing["metadata"]["uid"]}
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": details}
            if req.method == "PUT":
                return self._replace(key, existing, req.body)
            return _status(405, "MethodNotAllowed", "method not allowed")

    def _list(self, resource: str, namespace: str, selector: str) -> dict[str, Any]:
        # `key=value` terms, and bare `key` terms (the label exists).
        terms = [(*t.split("=", 1), None)[:2] for t in selector.split(",") if t]

        def matches(labels: dict[str, str]) -> bool:
            return all(k in labels if v is None else labels.get(k) == v for k, v in terms)

        items = [
            o
            for (r, ns, _), o in self.objects.items()
            if r == resource and ns == namespace and matches(o["metadata"].get("labels") or {})
        ]
        kind = RESOURCES[resource]
        return {
            "apiVersion": "v1",
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": str(self._version)},
            "items": [{**o, "apiVersion": "v1", "kind": kind} for o in items],
        }

    def _create(self, resource: str, namespace: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or not (body.get("metadata") or {}).get("name"):
            return _status(422, "Invalid", "metadata.name: Required value")
        meta = body["metadata"]
        if meta.get("namespace", namespace) != namespace:
            return _status(400, "BadRequest", "the namespace of the object does not match the request")
        key = (resource, namespace, meta["name"])
        if key in self.objects:
            return _status(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists')
        obj = json.loads(json.dumps(body))
        obj["metadata"].update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_version(),
            creationTimestamp=_timestamp(),
        )
        self.objects[key] = obj
        return 201, obj

    def _replace(
        self, key: tuple[str, str, str], existing: dict[str, Any], body: Any
    ) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return _status(422, "Invalid", "the body is not an object")
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version is not None and version != existing["metadata"]["resourceVersion"]:
            return _status(409, "Conflict", "the object has been modified")
        if existing.get("immutable") and body.get("data") != existing.get("data"):
            return _status(422, "Invalid", "data: Forbidden: field is immutable when `immutable` is set")
        obj = json.loads(json.dumps(body))
        obj["metadata"].update(
            namespace=key[1],
            uid=existing["metadata"]["uid"],
            resourceVersion=self._next_version(),
            creationTimestamp=existing["metadata"]["creationTimestamp"],
        )
        self.objects[key] = obj
        return 200, obj


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class _Handler(BaseHTTPRequestHandler):
    api: KubeAPI

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        code, payload = self.api.handle(
            Request(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw=raw,
            )
        )
        out = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815 -- http.server's names

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running_kube_api() -> Iterator[KubeAPI]:
    """The stand-in API server on a loopback port, in a thread of this process."""
    api = KubeAPI()
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
