"""The base of every wire message, and one decoder that refuses unknown fields and wrong types alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec


class Message(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A message on the wire: frozen, and a field the receiver does not know is refused, not ignored."""


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """What the API answers: frozen; a client that decodes it ignores a field it does not know (a newer
    server may answer with more), so the document does not forbid other properties."""


# A time in an answer: RFC 3339, as msgspec writes it ("...Z" in UTC). The document says so.
Time = Annotated[datetime, msgspec.Meta(extra_json_schema={"format": "date-time"})]

M = TypeVar("M", bound=Message)
T = TypeVar("T")


class ProtocolError(ValueError):
    """A body that is not the expected message: not JSON, an unknown field, a wrong type or a bound broken.

    `where` is the path msgspec names (`$.items[0].outer`), from the schema, never from the body's values.
    """

    def __init__(self, where: str | None) -> None:
        super().__init__("the body is not a valid message" + (f" (at {where})" if where else ""))
        self.where = where


class NotJSON(ProtocolError):
    """The body is not JSON at all."""

    def __init__(self) -> None:
        super().__init__(None)


def decode(body: bytes, kind: type[M]) -> M:
    """`body` as a `kind`; raises ProtocolError (NotJSON when it is not JSON at all)."""
    return _decode(body, kind)


def decode_answer(body: bytes, kind: type[T]) -> T:
    """An answer as a client reads it: an `Answer`, or a list of them (`list[TokenPublic]`). A field it
    does not know is skipped (a newer server may answer with more); a wrong type or a missing field is a
    ProtocolError, as in `decode`."""
    return _decode(body, kind)


def _decode(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        # msgspec's message is "<problem> - at `$.path`": keep only the path (the problem may quote input,
        # such as the name of an unknown field).
        _, found, where = str(exc).rpartition(" - at `")
        raise ProtocolError(where.rstrip("`") if found else None) from None
    except msgspec.DecodeError:
        raise NotJSON() from None


def encode(message: Message | Mapping[str, Any]) -> bytes:
    return msgspec.json.encode(message)
