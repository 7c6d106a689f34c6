"""Audit records never carry a value: only who, what, which secret and version, and the outcome."""

from __future__ import annotations

from datetime import UTC, datetime

from sealbox.domain.audit import AuditEvent, Outcome


def test_outcomes() -> None:
    assert [o.value for o in Outcome] == ["success", "denied", "failed"]


def test_event_defaults_and_fields() -> None:
    event = AuditEvent(
        at=datetime(2025, 1, 1, tzinfo=UTC),
        actor_id="u1",
        actor_name="alice",
        token_id=None,
        action="secret.create",
        outcome=Outcome.SUCCESS,
    )
    assert (event.secret_id, event.version, event.detail) == (None, None, None)
    assert not set(AuditEvent.__struct_fields__) & {"value", "plaintext", "fields", "token"}
