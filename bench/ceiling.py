"""The ceiling for reads on this stack: a bare ASGI app on granian (the same server settings as
``sealbox server``) that checks a bearer header and answers fixed JSON. No database, no framework: what
granian, the event loop and the HTTP exchange cost alone. bench/reads.py measures it beside sealbox
and OpenBao in the same rounds and reports each one's share of it.

``python -m bench.ceiling --port P --workers W`` (the token in ``BENCH_CEILING_TOKEN``).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

_TOKEN_VAR = "BENCH_CEILING_TOKEN"
_BODY = b'{"name":"s1","kind":"generic","description":"","fields":["value"],"current_version":1}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]
_EXPECTED = b"Bearer " + os.environ.get(_TOKEN_VAR, "").encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan and the rest: nothing to do
        return
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    ok = hmac.compare_digest(authorization, _EXPECTED)
    status, body = (200, _BODY) if ok else (401, b'{"error":"unauthenticated"}')
    headers = _HEADERS if ok else [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class CeilingServer:
    url: str
    pid: int
    token: str = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextlib.contextmanager
def ceiling_server(port: int, workers: int, token: str) -> Iterator[CeilingServer]:
    env = {**os.environ, _TOKEN_VAR: token}
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the ceiling app did not start")
            time.sleep(0.1)
        yield CeilingServer(url=url, pid=proc.pid, token=token)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    Granian(
        "bench.ceiling:app",
        address="127.0.0.1",
        port=args.port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(keep_alive=True),
        log_access=False,
        log_level="warning",  # type: ignore[arg-type]
    ).serve()


if __name__ == "__main__":
    main()
