"""Times from outside: RFC 3339 text, read strictly, kept within what every store can hold.

`parse_rfc3339` takes exactly what the OpenAPI `date-time` format means (RFC 3339, section 5.6: a date,
`T`, a time, an offset or `Z`) and returns a UTC time. A time that is valid text but has no UTC
equivalent that Python can hold (`0001-01-01T00:00:00+01:00` is in year 0; `9999-12-31T23:59:59-01:00`
in year 10000) is moved to the nearest one (`EARLIEST`, `LATEST`): as a bound of a search or as an expiry
it means the same, and it never reaches a database as an overflow.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sealbox.errors import BadRequest, TimeFormatError

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def to_utc(when: datetime) -> datetime:
    """An aware time in UTC (a naive one is taken as UTC), moved to EARLIEST or LATEST when it has none."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    offset = when.utcoffset() or timedelta(0)
    naive = when.replace(tzinfo=None)
    try:
        return (naive - offset).replace(tzinfo=UTC)
    except OverflowError:
        return EARLIEST if offset > timedelta(0) else LATEST


def parse_typed(text: str) -> datetime:
    """What a person types into a form: ISO 8601 (a date alone, no seconds, no offset: UTC), as UTC.
    Raises ValueError."""
    return to_utc(datetime.fromisoformat(text))


def parse_rfc3339(text: str) -> datetime:
    """RFC 3339 text -> an aware UTC time; raises TimeFormatError for anything else."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise TimeFormatError("an RFC 3339 time with an offset, e.g. 2030-01-31T12:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    if match.group(8):
        offset = timedelta(0)
    else:
        off_h, off_m = int(match.group(10)), int(match.group(11))
        if off_h > 23 or off_m > 59:
            raise TimeFormatError("the offset is not a valid time zone offset")
        offset = timedelta(hours=off_h, minutes=off_m) * (-1 if match.group(9) == "-" else 1)
    leap = second == 60  # a leap second: the last instant of its minute
    try:
        if year == 0:  # valid in RFC 3339, before what Python holds: check the date in year 2000 (leap too)
            datetime(2000, month, day, hour, minute, 59 if leap else second)
            return EARLIEST
        naive = datetime(year, month, day, hour, minute, 59 if leap else second, 999999 if leap else micro)
    except ValueError:
        raise TimeFormatError("not a calendar date and time") from None
    try:
        return (naive - offset).replace(tzinfo=UTC)
    except OverflowError:
        return EARLIEST if offset > timedelta(0) else LATEST


def check_representable(when: datetime) -> None:
    """A time that has a UTC equivalent (9999-12-31T23:59-23:59 has none)."""
    try:
        when.astimezone(UTC)
    except (OverflowError, ValueError):
        raise BadRequest("that time is out of range", code="invalid_expiry", field="expires_at") from None
