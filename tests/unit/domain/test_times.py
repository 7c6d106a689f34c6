"""Times from outside (domain/times.py): RFC 3339 read strictly, as UTC, kept within the calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbox.domain.times import EARLIEST, LATEST, check_representable, parse_rfc3339, parse_typed, to_utc
from sealbox.errors import BadRequest, TimeFormatError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-31T12:00:00Z", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31t12:00:00z", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31T12:00:00.5+01:00", datetime(2030, 1, 31, 11, 0, 0, 500000, tzinfo=UTC)),
        ("2030-01-31T12:00:00.123456789-00:30", datetime(2030, 1, 31, 12, 30, 0, 123456, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),  # a leap second
        # The finding's two: valid text whose UTC time is before year 1 or after year 9999.
        ("0001-01-01T00:00:00+01:00", EARLIEST),
        ("9999-12-31T23:59:59-01:00", LATEST),
        ("9999-12-31T23:59:59.999999-23:59", LATEST),
        ("0000-02-29T00:00:00Z", EARLIEST),  # year 0 exists in RFC 3339 (and is a leap year)
        ("0001-01-01T00:00:00Z", EARLIEST),
        ("9999-12-31T23:59:59.999999Z", LATEST),
    ],
)
def test_rfc3339_is_read_as_utc_within_the_calendar(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected
    assert parse_rfc3339(text).tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0.0",
        "4102444800",
        "2030-01-31",  # a date alone
        "2030-01-31T12:00:00",  # no offset
        "2030-01-31 12:00:00Z",  # a space is not RFC 3339's T
        "2030-01-31T12:00Z",  # no seconds
        "2030-02-30T00:00:00Z",
        "2030-13-01T00:00:00Z",
        "2030-01-01T24:00:00Z",
        "2030-01-01T00:00:00+24:00",
        "2030-01-01T00:00:00+01:60",
        "2030-01-01T00:00:00.Z",
        "\uff12\uff10\uff13\uff10-01-01T00:00:00Z",  # digits, but not ASCII ones
        "2030-01-01T00:00:00Z\n",
        "0000-02-30T00:00:00Z",
    ],
)
def test_anything_else_is_refused_without_repeating_it(text: str) -> None:
    with pytest.raises(TimeFormatError) as info:
        parse_rfc3339(text)
    assert str(info.value) in {  # fixed messages: the text itself is never repeated
        "an RFC 3339 time with an offset, e.g. 2030-01-31T12:00:00Z",
        "the offset is not a valid time zone offset",
        "not a calendar date and time",
    }


def test_to_utc_moves_times_without_a_utc_equivalent_to_the_ends() -> None:
    plus = timezone(timedelta(hours=5))
    minus = timezone(timedelta(hours=-5))
    assert to_utc(datetime(1, 1, 1, tzinfo=plus)) == EARLIEST
    assert to_utc(datetime(9999, 12, 31, 23, tzinfo=minus)) == LATEST
    assert to_utc(datetime(2030, 1, 1)) == datetime(2030, 1, 1, tzinfo=UTC)  # naive: UTC
    assert to_utc(datetime(2030, 1, 1, 5, tzinfo=plus)) == datetime(2030, 1, 1, tzinfo=UTC)


def test_what_a_person_types_into_a_form() -> None:
    assert parse_typed("2030-01-31T12:00") == datetime(2030, 1, 31, 12, tzinfo=UTC)
    assert parse_typed("0001-01-01T00:00:00+01:00") == EARLIEST
    with pytest.raises(ValueError):
        parse_typed("soon")


@given(st.datetimes(timezones=st.timezones()))
def test_every_aware_time_survives_its_rfc3339_text(when: datetime) -> None:
    text = when.isoformat()
    offset = when.utcoffset()
    if offset is None or offset % timedelta(minutes=1):
        return  # RFC 3339 offsets are whole minutes
    assert parse_rfc3339(text) == to_utc(when)
    assert EARLIEST <= parse_rfc3339(text) <= LATEST


def test_a_time_without_a_utc_equivalent_is_refused() -> None:
    check_representable(datetime(2030, 1, 31, 12, tzinfo=UTC))
    beyond = datetime.max.replace(tzinfo=timezone(timedelta(hours=-23, minutes=-59)))
    with pytest.raises(BadRequest) as refused:
        check_representable(beyond)
    assert (refused.value.code, refused.value.field) == ("invalid_expiry", "expires_at")
