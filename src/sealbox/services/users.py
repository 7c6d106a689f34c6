"""Users: created by an admin (or by `sealbox up`), each with their own wrapped user key."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from sealbox.crypto.keyring import Keyring
from sealbox.crypto.wrapping import new_user_key, wrap_user_key
from sealbox.domain.names import check_user_name
from sealbox.domain.principals import Principal, Purposes, User, UserID
from sealbox.errors import Conflict
from sealbox.services.audit import record
from sealbox.store.database import Database
from sealbox.store.users import UserRepository


def create_user(
    db: Database,
    master: Keyring,
    *,
    name: str,
    is_admin: bool,
    now: datetime,
    requested_by: Principal | None,
    kind: str = "person",
    purposes: Purposes | None = None,
    external_id: str | None = None,
) -> User:
    check_user_name(name)
    if purposes is not None:
        purposes.checked()
    user = User(
        id=UserID(secrets.token_hex(16)),
        name=name,
        is_admin=is_admin,
        created_at=now,
        kind=kind,
        purposes=purposes,
        external_id=external_id,
    )
    wrapped = wrap_user_key(master, new_user_key(), user_id=user.id)
    try:
        with db.write() as conn:
            repo = UserRepository(conn)
            if repo.by_name(name) is not None:
                raise Conflict("a user with that name exists", code="already_exists", field="name")
            repo.add(user=user, wrapped_user_key=wrapped, master_key_id=master.current_id.hex())
            record(
                conn, requested_by, "user.create", now=now, detail=f"user={name} admin={is_admin} kind={kind}"
            )
    except SQLIntegrityError:
        raise Conflict("a user with that name exists", code="already_exists", field="name") from None
    return user


def get_user(db: Database, name: str) -> User | None:
    with db.read() as conn:
        return UserRepository(conn).by_name(name)


def list_users(db: Database) -> list[User]:
    with db.read() as conn:
        return UserRepository(conn).list()
