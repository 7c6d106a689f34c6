"""A unit of work: one transaction on one connection, and the repositories that read and write in it.

`Database.reading()` and `Database.writing()` open one; a service passes it on to what it calls (the
access rule, the authenticator, the failure counter), so that a request's token check and its data are
read in the same transaction. Services see it through `services.ports.UnitOfWork`.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from sealbox.store.ratelimit import FailureCounter
from sealbox.store.secrets import SecretRepository
from sealbox.store.sessions import SessionRepository
from sealbox.store.sharing import SharingRepository
from sealbox.store.users import TokenRepository, UserRepository


class UnitOfWork:
    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn  # for what is not behind a repository yet (the audit record)

    @property
    def secrets(self) -> SecretRepository:
        return SecretRepository(self.conn)

    @property
    def sessions(self) -> SessionRepository:
        return SessionRepository(self.conn)

    @property
    def sharing(self) -> SharingRepository:
        return SharingRepository(self.conn)

    @property
    def users(self) -> UserRepository:
        return UserRepository(self.conn)

    @property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self.conn)

    @property
    def failures(self) -> FailureCounter:
        return FailureCounter(self.conn)
