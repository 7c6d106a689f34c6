"""A unit of work: one transaction on one connection, and the repositories that read and write in it.

`Database.reading()` and `Database.writing()` open one; a service passes it on to what it calls (the
access rule, the authenticator, the failure counter), so that a request's token check and its data are
read in the same transaction, and a change and its audit record commit together. Services see it
through `services.ports.UnitOfWork` (repositories typed by the Protocols there), never this class.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from sealbox.store.audit import AuditRepository
from sealbox.store.ratelimit import DenialCounter, FailureCounter
from sealbox.store.secrets import SecretRepository
from sealbox.store.sessions import SessionRepository
from sealbox.store.sharing import SharingRepository
from sealbox.store.usage import UsageRepository
from sealbox.store.user_removal import UserRemovalRepository
from sealbox.store.users import TokenRepository, UserRepository
from sealbox.store.web_sessions import WebSessionRepository


class UnitOfWork:
    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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

    @property
    def denials(self) -> DenialCounter:
        return DenialCounter(self.conn)

    @property
    def web_sessions(self) -> WebSessionRepository:
        return WebSessionRepository(self.conn)

    @property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.conn)

    @property
    def removal(self) -> UserRemovalRepository:
        return UserRemovalRepository(self.conn)

    @property
    def usage(self) -> UsageRepository:
        return UsageRepository(self.conn)
