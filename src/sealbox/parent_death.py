"""Tie a child process's life to its parent's (Linux `PR_SET_PDEATHSIG`).

`sealbox up` starts the keeper and the server this way, and each server worker asks for it too: if the
process above is killed, even by SIGKILL, nothing is left serving a port or holding a database.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, *, parent: int | None = None) -> None:
    """Ask the kernel to send `sig` to this process when the thread that started it ends.

    Safe only where the parent starts its children from its main thread (ours and granian's do).
    With `parent` (its pid), a parent that died before this call, which the kernel will never
    report, is caught too: the signal is sent at once. Elsewhere than Linux this does nothing: the
    children then outlive a killed parent.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
