"""A loopback TCP load balancer for the replica tests: what a Kubernetes Service (or any L4 balancer) does
in front of several servers or keepers.

Each new client connection goes to the next backend in turn (round-robin); when connecting to that
backend fails (refused: the process is gone), the next one is tried, so a dead backend costs no new
connection. Bytes are copied both ways until either side closes; a backend killed mid-request closes
its client's connection, which is what a client of a real balancer sees too. It runs its own asyncio
loop in a daemon thread, so tests drive it from plain threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field

CONNECT_TIMEOUT_S = 1.0
_CHUNK = 65536


@dataclass
class Balancer:
    """Round-robin over `backends` (loopback ports), with failover to the next when a connect fails."""

    backends: list[int]
    port: int = 0
    failovers: int = 0  # connects that failed and went on to the next backend
    _next: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="test-balancer", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("balancer did not start")

    def stop(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._shut(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _shut(self) -> None:
        """Stop listening and end every connection still copied, so the loop closes with nothing open."""
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        first = self._next
        self._next = (self._next + 1) % len(self.backends)
        for i in range(len(self.backends)):
            port = self.backends[(first + i) % len(self.backends)]
            try:
                return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError):
                self.failovers += 1
        return None

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        backend = await self._connect()
        if backend is None:  # every backend is down: the client sees its connection closed
            client_w.close()
            return
        backend_r, backend_w = backend
        try:
            await asyncio.gather(_pipe(client_r, backend_w), _pipe(backend_r, client_w))
        finally:
            for writer in (client_w, backend_w):
                writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until `source` ends (or either side fails), then close `sink`: one side's end ends both."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            sink.close()
