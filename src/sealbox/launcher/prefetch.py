"""The head start of `sealbox run`: what it needs after the server's first answer, loaded meanwhile."""

from __future__ import annotations

import contextlib
import importlib
import threading

# What a run needs only once the server has created its session, in two stages: the redemption
# (cryptography and the keeper client: about half of what `sealbox run` imports), then what only the child and
# the clean-up need (its environment, subprocess, shutil), loaded while the server and the keeper redeem.
_FOR_REDEEM = ("sealbox.launcher.redeem",)
_FOR_CHILD = ("sealbox.launcher.environ", "subprocess", "shutil")


class Prefetch:
    """Loads `_FOR_REDEEM`, then `_FOR_CHILD`, in a thread while this one waits for the server.

    Only a head start (each module is still imported where it is used). The run waits for the first stage
    before it redeems, and joins the thread before it forks or ends, never while it may hold an import lock.
    """

    def __init__(self) -> None:
        self._redeem_ready = threading.Event()
        self._thread = threading.Thread(target=self._load, name="sealbox-prefetch", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            with contextlib.suppress(Exception):  # a module that fails to load fails again where it is used
                for module in _FOR_REDEEM:
                    importlib.import_module(module)
                from sealbox.crypto.session_keys import SessionKeyPair

                SessionKeyPair.generate()  # the first key loads cryptography's OpenSSL backend; dropped
        finally:
            self._redeem_ready.set()
        with contextlib.suppress(Exception):
            for module in _FOR_CHILD:
                importlib.import_module(module)

    def wait_for_redeem(self) -> None:
        self._redeem_ready.wait()

    def join(self) -> None:
        self._thread.join()
