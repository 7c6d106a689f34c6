"""Fixtures for the crypto unit tests: a master keyring, the keeper's key pair and its wrap ring."""

from __future__ import annotations

import pytest

from sealbox.crypto.keyring import Keyring
from sealbox.crypto.sealing import PrivateKeySet, PublicKeySet


@pytest.fixture
def ring() -> Keyring:
    return Keyring.generate()


@pytest.fixture
def keeper_private() -> PrivateKeySet:
    return PrivateKeySet.generate()


@pytest.fixture
def keeper_public(keeper_private: PrivateKeySet) -> PublicKeySet:
    return keeper_private.public()


@pytest.fixture
def wrap_ring() -> Keyring:
    """The keeper's own symmetric ring (never the server's master ring)."""
    return Keyring.generate()
