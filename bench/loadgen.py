"""HTTP load generation for benchmarks, built on ``wrk`` (Debian package ``wrk``).

Every run writes a generated Lua script into a private temp dir (dir 0700,
file 0600, removed afterwards). Method, headers (auth tokens included), body
and per-request templating live only in that file, never in any argv.

Templating: the URL path/query and ``body_template`` may contain ``{n}`` (an
integer unique per request within one run: ``i * threads + thread_id``) and
``{rand}`` (uniform random integer in ``[0, rand_max)``). All other braces are
literal, so JSON bodies need no escaping.

Targets are restricted to loopback addresses (127.0.0.0/8, ``localhost``,
``::1``); anything else raises ``ValueError``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "LoadResult",
    "WrkNotFoundError",
    "concurrency_params",
    "find_wrk",
    "render_lua",
    "run_wrk",
]

_MARKER = "SEALBOX_WRK_RESULT "
_PLACEHOLDER_RE = re.compile(r"(\{n\}|\{rand\})")
_PREGEN_LIMIT = 100_000  # pre-build all requests when only {rand} varies


class WrkNotFoundError(RuntimeError):
    """Raised when the ``wrk`` binary is not installed."""


@dataclass(frozen=True)
class LoadResult:
    """Outcome of one wrk run; latencies in milliseconds."""

    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    """HTTP status >= 400 (wrk's ``errors.status``), or exact non-2xx count
    when ``run_wrk(..., exact_status=True)``."""
    errors: int
    """Socket-level errors: connect + read + write + timeout."""
    connections: int
    threads: int
    error_detail: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """Plain dict, handy for JSON reports."""
        return {
            "requests": self.requests,
            "duration_s": self.duration_s,
            "requests_per_s": self.requests_per_s,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "max_ms": self.max_ms,
            "non_2xx": self.non_2xx,
            "errors": self.errors,
            "connections": self.connections,
            "threads": self.threads,
            "error_detail": dict(self.error_detail),
        }


def find_wrk() -> str | None:
    """Path of the ``wrk`` binary (``$WRK_BIN`` overrides), or None."""
    override = os.environ.get("WRK_BIN")
    if override and os.access(override, os.X_OK):
        return override
    return shutil.which("wrk")


def concurrency_params(concurrency: int, cores: int | None = None) -> tuple[int, int]:
    """Map a concurrency level to ``(connections, threads)`` for wrk.

    One wrk thread per core at most: 1 -> (1, 1); 16 on 2 cores -> (16, 2).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    ncores = cores if cores is not None else (os.cpu_count() or 1)
    return concurrency, max(1, min(concurrency, ncores))


def _check_loopback(host: str) -> None:
    """Refuse any target that is not on this machine's loopback."""
    if host == "localhost":
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"load target must be a loopback IP, got {host!r}") from exc
    if not ip.is_loopback:
        raise ValueError(f"load target must be loopback, got {host!r}")


def _lua_str(value: str | bytes) -> str:
    """Lua string literal for arbitrary bytes (non-alphanumerics as ``\\ddd``)."""
    raw = value.encode() if isinstance(value, str) else value
    out = []
    for b in raw:
        ch = chr(b)
        out.append(ch if ch.isascii() and (ch.isalnum() or ch in " _-./:") else f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def _lua_template(template: str) -> tuple[str, set[str]]:
    """Lua concatenation expression for a template, and the placeholders used."""
    parts: list[str] = []
    used: set[str] = set()
    for piece in _PLACEHOLDER_RE.split(template):
        if piece == "{n}":
            parts.append("ns")
            used.add("n")
        elif piece == "{rand}":
            parts.append("rs")
            used.add("rand")
        elif piece:
            parts.append(_lua_str(piece))
    return (" .. ".join(parts) if parts else '""'), used


def render_lua(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | None,
    body_template: str | None,
    body_factory_lua: str | None,
    rand_max: int | None,
    threads: int,
    exact_status: bool,
) -> str:
    """Generate the wrk Lua script (see ``run_wrk`` for the parameters)."""
    path_expr, used = _lua_template(path)
    body_expr = "nil"
    if body_factory_lua is not None:
        body_expr = "body_fn(n, r)"
        used.update({"n", "rand"} if rand_max else {"n"})
    elif body_template is not None:
        body_expr, body_used = _lua_template(body_template)
        used |= body_used
    elif body is not None:
        body_expr = _lua_str(body)
    if "rand" in used and not rand_max:
        raise ValueError("{rand} placeholder needs rand_max >= 1")

    hdr_lines = "\n".join(f"hdrs[{_lua_str(k)}] = {_lua_str(v)}" for k, v in headers.items())
    lines = [
        "-- generated by bench/loadgen.py; contains secrets, mode 0600, deleted after run",
        f"local NTHREADS = {threads}",
        f"local RAND_MAX = {int(rand_max or 0)}",
        "hdrs = {}",
        hdr_lines,
        "local counter = 0",
        "local threads = {}",
        "function setup(thread)",
        '  thread:set("tid", counter)',
        "  table.insert(threads, thread)",
        "  counter = counter + 1",
        "end",
    ]
    if body_factory_lua is not None:
        lines += ["local function body_fn(n, r)", body_factory_lua, "end"]

    dynamic = bool(used)
    if not dynamic:
        # Static request: wrk pre-formats it once per thread.
        lines += [
            f"wrk.method = {_lua_str(method)}",
            f"wrk.path = {path_expr}",
            "for k, v in pairs(hdrs) do wrk.headers[k] = v end",
            f"wrk.body = {body_expr}",
        ]
    lines += [
        "function init(args)",
        "  non2xx = 0",
        "  i = 0",
        "  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)",
    ]
    pregen = used == {"rand"} and rand_max is not None and rand_max <= _PREGEN_LIMIT
    if pregen:
        lines += [
            "  reqs = {}",
            "  local ns = nil",
            "  for r = 0, RAND_MAX - 1 do",
            '    local rs = string.format("%d", r)',
            f"    reqs[r + 1] = wrk.format({_lua_str(method)}, {path_expr}, hdrs, {body_expr})",
            "  end",
        ]
    lines.append("end")
    if pregen:
        lines += [
            "function request()",
            "  return reqs[math.random(RAND_MAX)]",
            "end",
        ]
    elif dynamic:
        lines += [
            "function request()",
            "  local n = i * NTHREADS + tid",
            "  i = i + 1",
            '  local ns = string.format("%d", n)',
            "  local r = nil",
            "  local rs = nil",
            "  if RAND_MAX > 0 then",
            "    r = math.random(RAND_MAX) - 1",
            '    rs = string.format("%d", r)',
            "  end",
            f"  return wrk.format({_lua_str(method)}, {path_expr}, hdrs, {body_expr})",
            "end",
        ]
    if exact_status:
        lines += [
            "function response(status, headers, body)",
            "  if status < 200 or status > 299 then non2xx = non2xx + 1 end",
            "end",
        ]
    lines += [
        "function done(summary, latency, requests)",
        "  local nb = -1",
    ]
    if exact_status:
        lines += [
            "  nb = 0",
            '  for _, t in ipairs(threads) do nb = nb + (t:get("non2xx") or 0) end',
        ]
    lines += [
        "  local e = summary.errors",
        "  io.write(string.format(",
        f'    "{_MARKER}{{\\"requests\\":%d,\\"duration_us\\":%d,'
        '\\"p50_us\\":%.1f,\\"p90_us\\":%.1f,\\"p99_us\\":%.1f,'
        '\\"mean_us\\":%.1f,\\"max_us\\":%.1f,'
        '\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,'
        '\\"timeout\\":%d,\\"non2xx\\":%d}\\n",',
        "    summary.requests, summary.duration,",
        "    latency:percentile(50), latency:percentile(90), latency:percentile(99),",
        "    latency.mean, latency.max,",
        "    e.connect, e.read, e.write, e.status, e.timeout, nb))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def _parse(stdout: str, connections: int, threads: int) -> LoadResult:
    """Extract the JSON line printed by the Lua ``done`` hook."""
    for line in stdout.splitlines():
        if line.startswith(_MARKER):
            d = json.loads(line[len(_MARKER) :])
            break
    else:
        raise RuntimeError("wrk output lacked the result line:\n" + stdout[-2000:])
    duration_s = d["duration_us"] / 1e6
    requests = int(d["requests"])

    def ms(key: str) -> float:
        v = float(d[key])
        return 0.0 if math.isnan(v) or math.isinf(v) else v / 1000.0

    detail = {k: int(d[k]) for k in ("connect", "read", "write", "status", "timeout")}
    non_2xx = int(d["non2xx"]) if int(d["non2xx"]) >= 0 else detail["status"]
    return LoadResult(
        requests=requests,
        duration_s=duration_s,
        requests_per_s=requests / duration_s if duration_s > 0 else 0.0,
        p50_ms=ms("p50_us"),
        p90_ms=ms("p90_us"),
        p99_ms=ms("p99_us"),
        mean_ms=ms("mean_us"),
        max_ms=ms("max_us"),
        non_2xx=non_2xx,
        errors=detail["connect"] + detail["read"] + detail["write"] + detail["timeout"],
        connections=connections,
        threads=threads,
        error_detail=detail,
    )


def run_wrk(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    body_template: str | None = None,
    body_factory_lua: str | None = None,
    rand_max: int | None = None,
    connections: int = 1,
    threads: int = 1,
    duration_s: float = 5.0,
    timeout_s: float = 5.0,
    exact_status: bool = False,
    wrk_bin: str | None = None,
) -> LoadResult:
    """Run wrk against a loopback ``url`` and return its measurements.

    - ``url`` path/query may hold ``{n}`` / ``{rand}`` placeholders.
    - ``body``: fixed body; ``body_template``: body with placeholders;
      ``body_factory_lua``: Lua source of ``function(n, r)`` returning the body
      string (``n`` unique int, ``r`` random int or nil). Use at most one.
    - ``rand_max``: range of ``{rand}`` / ``r``: ``[0, rand_max)``.
    - ``duration_s`` and ``timeout_s`` are rounded up to whole seconds (wrk).
    - ``exact_status``: count every non-2xx via a Lua ``response()`` hook
      (slower); by default ``non_2xx`` is wrk's count of statuses >= 400.
    """
    if sum(x is not None for x in (body, body_template, body_factory_lua)) > 1:
        raise ValueError("give at most one of body, body_template, body_factory_lua")
    if connections < threads or threads < 1:
        raise ValueError("need connections >= threads >= 1")
    exe = wrk_bin or find_wrk()
    if exe is None:
        raise WrkNotFoundError("wrk not found: apt-get update && apt-get install -y wrk")

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported url: {url!r}")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL would leak into argv; use headers")
    _check_loopback(parts.hostname)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    base_url = f"{parts.scheme}://{host}:{port}/"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    raw_body = body.encode() if isinstance(body, str) else body
    script = render_lua(
        method=method.upper(),
        path=path,
        headers=dict(headers or {}),
        body=raw_body,
        body_template=body_template,
        body_factory_lua=body_factory_lua,
        rand_max=rand_max,
        threads=threads,
        exact_status=exact_status,
    )
    dur = max(1, math.ceil(duration_s))
    tmo = max(1, math.ceil(timeout_s))
    tmpdir = tempfile.mkdtemp(prefix="sealbox-wrk-")  # mode 0700
    try:
        script_path = Path(tmpdir) / "load.lua"
        fd = os.open(script_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(script)
        argv = [
            exe,
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={dur}s",
            f"--timeout={tmo}s",
            f"--script={script_path}",
            base_url,
        ]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=dur + tmo + 60,
            check=False,
        )
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return _parse(proc.stdout, connections, threads)
