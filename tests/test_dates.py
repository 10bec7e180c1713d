"""Dates: PartialDate and parse_date (precision, UTC conversion, period ends, loud failures),
and the periods a query names (parse_when, to_span)."""

from __future__ import annotations

import email.utils
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from searchkit.dates import DateSpan, PartialDate, parse_date, parse_when, to_span
from searchkit.errors import DateError


@pytest.mark.parametrize(
    ("text", "start", "precision", "iso"),
    [
        ("2020", datetime(2020, 1, 1), "year", "2020"),
        ("2020-03", datetime(2020, 3, 1), "month", "2020-03"),
        ("2020-3", datetime(2020, 3, 1), "month", "2020-03"),
        ("2020-03-14", datetime(2020, 3, 14), "day", "2020-03-14"),
        ("20200314", datetime(2020, 3, 14), "day", "2020-03-14"),
        (" 2020-03-14 ", datetime(2020, 3, 14), "day", "2020-03-14"),
        ("march 2020", datetime(2020, 3, 1), "month", "2020-03"),
        ("March 14, 2020", datetime(2020, 3, 14), "day", "2020-03-14"),
        ("14 March 2020", datetime(2020, 3, 14), "day", "2020-03-14"),
        ("1987-02-26T15:01:01", datetime(1987, 2, 26, 15, 1, 1), "second", "1987-02-26T15:01:01Z"),
    ],
)
def test_parse_keeps_precision(text, start, precision, iso):
    parsed = PartialDate.parse(text)
    assert (parsed.start, parsed.precision) == (start, precision)
    assert parsed.isoformat() == iso == str(parsed)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("Mon, 29 Mar 1993 11:57:19 GMT", datetime(1993, 3, 29, 11, 57, 19)),
        ("26 Apr 1993 11:08:49 -0400", datetime(1993, 4, 26, 15, 8, 49)),
        ("Sat, 24 Apr 1993 14:28:35 CDT", datetime(1993, 4, 24, 19, 28, 35)),
        ("5 Apr 93 18:58:33 PST", datetime(1993, 4, 6, 2, 58, 33)),
        ("Thu, 15 Apr 1993 10:00:00 +0100", datetime(1993, 4, 15, 9, 0, 0)),
        # An RFC 822 comment after the zone.
        ("Tue, 20 Apr 1993 18:15 EDT(-0400)", datetime(1993, 4, 20, 22, 15)),
        # Usenet's GMT+12 is New Zealand, twelve hours east (not POSIX's reversed sign).
        ("2 May 93 12:14:17 GMT+12", datetime(1993, 5, 2, 0, 14, 17)),
        ("2020-03-14T09:30:00+02:00", datetime(2020, 3, 14, 7, 30)),
        ("2020-03-14T09:30Z", datetime(2020, 3, 14, 9, 30)),
        # dateutil's path (not RFC 822, not ISO): the zone table must reach it too.
        ("March 14, 2020 5pm EST", datetime(2020, 3, 14, 22, 0)),
    ],
)
def test_zoned_times_become_naive_utc(text, utc):
    parsed = parse_date(text)
    assert parsed.precision == "second"
    assert parsed.start == utc
    assert parsed.start.tzinfo is None


def test_rfc822_agrees_with_the_email_module():
    # An independent parser for the numeric-zone case, over a spread of offsets and days.
    for hours in range(-12, 15):
        for day in (1, 28, 31):
            text = f"Fri, {day} Dec 1993 23:59:59 {'+' if hours >= 0 else '-'}{abs(hours):02d}00"
            expected = email.utils.parsedate_to_datetime(text).astimezone(timezone.utc)
            assert parse_date(text).start == expected.replace(tzinfo=None), text


def test_a_zone_without_a_time_keeps_the_day():
    parsed = parse_date("14 Mar 2020 GMT")
    assert (parsed.start, parsed.precision) == (datetime(2020, 3, 14), "day")


def test_unknown_zone_name_reads_the_time_as_utc_without_warning(recwarn):
    parsed = parse_date("5 Apr 93 18:58:33 TUR")
    assert parsed.start == datetime(1993, 4, 5, 18, 58, 33)
    assert not [w for w in recwarn if "tzname" in str(w.message)]


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("2020", datetime(2020, 12, 31, 23, 59, 59, 999999)),
        ("2020-02", datetime(2020, 2, 29, 23, 59, 59, 999999)),
        ("2021-02", datetime(2021, 2, 28, 23, 59, 59, 999999)),
        ("1900-02", datetime(1900, 2, 28, 23, 59, 59, 999999)),
        ("2000-02", datetime(2000, 2, 29, 23, 59, 59, 999999)),
        ("2020-12", datetime(2020, 12, 31, 23, 59, 59, 999999)),
        ("2020-03-14", datetime(2020, 3, 14, 23, 59, 59, 999999)),
        ("9999", datetime(9999, 12, 31, 23, 59, 59, 999999)),
        ("2020-03-14T10:30:00Z", datetime(2020, 3, 14, 10, 30)),
    ],
)
def test_end_is_the_last_microsecond_of_the_period(text, end):
    parsed = parse_date(text)
    assert parsed.end == end
    assert parsed.start <= parsed.end


def test_facet_keys_follow_precision():
    assert (parse_date("2020").year_key, parse_date("2020").month_key) == ("2020", None)
    month = parse_date("2020-03")
    assert (month.month_key, month.day_key) == ("2020-03", None)
    assert parse_date("2020-03-14T10:00Z").day_key == "2020-03-14"


def test_early_years_are_zero_padded():
    # strftime on glibc writes year 5 as "5"; facet keys and ISO text must sort as text.
    exact = PartialDate(datetime(5, 1, 2, 3, 4, 5), "second")
    assert exact.isoformat() == "0005-01-02T03:04:05Z"
    assert exact.day_key == "0005-01-02"


def test_from_datetime_converts_aware_values():
    aware = datetime(2020, 3, 14, 1, 0, tzinfo=timezone(timedelta(hours=3)))
    assert PartialDate.from_datetime(aware).start == datetime(2020, 3, 13, 22, 0)


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 32 Foo 1993",
        "soon",
        "2020-13",
        "2020-02-30",
        "0000",
        "10:30",
        "15 Apr 1993 25:00 GMT",
        # Offsets beyond a day, and UTC times outside years 1..9999, used to escape as
        # ValueError / OverflowError instead of DateError.
        "2020-01-01 10:00 +9999",
        "1 Jan 1993 10:00 +2400",
        "9999-12-31 23:00 -0500",
        "0001-01-01T00:30+01:00",
    ],
)
def test_garbage_raises_date_error_naming_the_value(text):
    with pytest.raises(DateError) as caught:
        parse_date(text)
    assert caught.value.value == text
    assert repr(text) in str(caught.value)


def test_empty_long_and_non_text_values_are_date_errors():
    with pytest.raises(DateError, match="empty"):
        parse_date("   ")
    with pytest.raises(DateError, match="too long"):
        parse_date("1" * 500)
    with pytest.raises(DateError, match="not text"):
        parse_date(date(2020, 1, 1))  # type: ignore[arg-type]


@given(st.text(max_size=60))
def test_any_text_is_a_date_or_a_date_error(text):
    try:
        parsed = parse_date(text)
    except DateError:
        return
    assert parsed.start.tzinfo is None
    assert parsed.start <= parsed.end
    assert parsed.precision in ("year", "month", "day", "second")


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_iso_round_trip_at_each_precision(value):
    exact = parse_date(value.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0"))
    assert exact.start == value.replace(microsecond=0)
    day = parse_date(f"{value.year:04d}-{value.month:02d}-{value.day:02d}")
    assert parse_date(day.isoformat()) == day
    assert day.start <= value <= day.end


# -- periods a query names -------------------------------------------------------------------

NOW = datetime(2021, 1, 13, 15, 30)  # a Wednesday
END = (23, 59, 59, 999999)


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("2020", datetime(2020, 1, 1), datetime(2020, 12, 31, *END)),
        ("2020-03", datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
        ("2020-02", datetime(2020, 2, 1), datetime(2020, 2, 29, *END)),  # leap year
        ("2021-02", datetime(2021, 2, 1), datetime(2021, 2, 28, *END)),
        ("2020-12", datetime(2020, 12, 1), datetime(2020, 12, 31, *END)),
        ("2020-03-14", datetime(2020, 3, 14), datetime(2020, 3, 14, *END)),
        ("20200314", datetime(2020, 3, 14), datetime(2020, 3, 14, *END)),
        ("march 2020", datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
        ("April 2020", datetime(2020, 4, 1), datetime(2020, 4, 30, *END)),
        ("14 March 2020", datetime(2020, 3, 14), datetime(2020, 3, 14, *END)),
        # A zone makes an exact time, converted to UTC (the next day here).
        ("2020-03-14T23:30:00-05:00", datetime(2020, 3, 15, 4, 30), datetime(2020, 3, 15, 4, 30)),
        ("2020-03-14T10:00+02:00", datetime(2020, 3, 14, 8, 0), datetime(2020, 3, 14, 8, 0)),
        ("today", datetime(2021, 1, 13), datetime(2021, 1, 13, *END)),
        ("yesterday", datetime(2021, 1, 12), datetime(2021, 1, 12, *END)),
        ("7d", datetime(2021, 1, 6), datetime(2021, 1, 6, *END)),
        ("7 days ago", datetime(2021, 1, 6), datetime(2021, 1, 6, *END)),
        ("2w", datetime(2020, 12, 30), datetime(2020, 12, 30, *END)),
        ("2 weeks ago", datetime(2020, 12, 30), datetime(2020, 12, 30, *END)),
        ("1 month ago", datetime(2020, 12, 1), datetime(2020, 12, 31, *END)),
        ("13 months ago", datetime(2019, 12, 1), datetime(2019, 12, 31, *END)),
        ("1 year ago", datetime(2020, 1, 1), datetime(2020, 12, 31, *END)),
        ("last week", datetime(2021, 1, 4), datetime(2021, 1, 10, *END)),
        ("this week", datetime(2021, 1, 11), datetime(2021, 1, 17, *END)),
        ("last month", datetime(2020, 12, 1), datetime(2020, 12, 31, *END)),
        ("This  Month", datetime(2021, 1, 1), datetime(2021, 1, 31, *END)),
        ("last year", datetime(2020, 1, 1), datetime(2020, 12, 31, *END)),
        ("this year", datetime(2021, 1, 1), datetime(2021, 12, 31, *END)),
    ],
)
def test_every_date_form_names_its_whole_period(text, start, end):
    span = parse_when(text, now=NOW)
    assert (span.start, span.end) == (start, end)


@pytest.mark.parametrize("text", ["foo", "2020-13", "2020-02-30", "", "   ", "7x", "m4"])
def test_an_unparseable_date_is_an_error_naming_the_value(text):
    with pytest.raises(DateError) as caught:
        parse_when(text, now=NOW)
    assert str(caught.value).startswith(f"cannot parse date {(text.strip() or text)!r}")


def test_since_and_until_accept_python_dates_and_partial_dates():
    assert to_span(date(2020, 3, 14)) == DateSpan(
        datetime(2020, 3, 14), datetime(2020, 3, 14, *END), "2020-03-14"
    )
    exact = to_span(datetime(2020, 3, 14, 10, 0))
    assert (exact.start, exact.end) == (datetime(2020, 3, 14, 10), datetime(2020, 3, 14, 10))
