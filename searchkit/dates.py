"""Dates: what a document's date and a query's date mean, and the keys both sides index by.

A date has a precision: an article dated `2020-04` is about April, not about 1 April
(`PartialDate`); a query names a period (`DateSpan`), absolute or relative to now (`parse_when`).
The year / month / day keys are written here only (`year_key`, `month_key`, `day_key`): the
indexer stores them and date filters look them up, so the two cannot drift apart.
Every date searchkit stores or compares is a naive `datetime` in UTC; zoned input is converted.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

from .errors import DateError

Precision = Literal["year", "month", "day", "second"]

_ISO_PARTIAL = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?$")
_COMPACT_DAY = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# ISO 8601 with a time (`1987-02-26T15:01:01`, `2020-03-14 09:30:00.5+01:00`): the form of JSON
# feeds. Not datetime.fromisoformat: before Python 3.11 it rejects `Z`.
_ISO_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?",
    re.ASCII,
)
# RFC 822 / 5322 as mail and Usenet write it (`Mon, 29 Mar 1993 11:57:19 GMT`): most dated
# input is in this form, and one regex costs a fraction of the two dateutil parses below.
_RFC822 = re.compile(
    r"(?:[A-Za-z]{2,9}\.?,?\s*)?(\d{1,2})[\s-]+([A-Za-z]{3,9})\.?[\s-]+(\d{4}|\d{2})"
    r"(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
    r"(?:\s*([+-]\d{4}|(?:GMT|UTC|UT)[+-]\d{1,2}(?::?\d{2})?|[A-Za-z]{1,5}))?\s*",
    re.ASCII,
)
_COMMENT = re.compile(r"\([^()]*\)")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# Zone abbreviations seen in news and mail headers, in hours east of UTC. dateutil knows only
# UTC/GMT (and, worse, whatever the machine's local zone is called): without this table
# `14:28:35 CDT` comes back naive, five hours off, with a warning. Ambiguous names (IST) are
# left out on purpose; an unknown name leaves the time as written, read as UTC.
_ZONE_HOURS = {
    "UT": 0,
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "WET": 0,
    "BST": 1,
    "WEST": 1,
    "CET": 1,
    "MET": 1,
    "MEZ": 1,
    "CEST": 2,
    "MEST": 2,
    "MESZ": 2,
    "EET": 2,
    "EEST": 3,
    "IDT": 3,
    "MSK": 3,
    "HKT": 8,
    "SGT": 8,
    "AWST": 8,
    "JST": 9,
    "KST": 9,
    "ACST": 9.5,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "NST": -3.5,
    "NDT": -2.5,
    "AST": -4,
    "ADT": -3,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
}
_ZONE_SECONDS = {name: int(hours * 3600) for name, hours in _ZONE_HOURS.items()}
# Two defaults that differ in every component: whatever dateutil fills in from the default
# comes out different in the two parses, so a component that agrees was written in the text.
_DEFAULT_A = datetime(2000, 1, 1, 0, 0, 0)
_DEFAULT_B = datetime(2001, 2, 2, 1, 1, 1)
MIN_YEAR = 1
MAX_YEAR = 9999
#: The last instant of a day: periods include both ends.
END_OF_DAY = time.max
_RELATIVE = re.compile(r"^(\d{1,4})\s*(d|w|days?|weeks?|months?|years?)(?:\s+ago)?$")
_LAST_THIS = re.compile(r"^(last|this|previous|current)\s+(week|month|year)$")


# -- the keys of the year, month and day facets -----------------------------------------------
# Not strftime: glibc writes year 5 as `5`, not `0005`, and the keys must sort as text.


def year_key(year: int) -> str:
    """The `year` facet key, e.g. `2020`."""
    return f"{year:04d}"


def month_key(year: int, month: int) -> str:
    """The `month` facet key, e.g. `2020-03`."""
    return f"{year_key(year)}-{month:02d}"


def day_key(day: date) -> str:
    """The `day` facet key, e.g. `2020-03-14`."""
    return f"{month_key(day.year, day.month)}-{day.day:02d}"


@dataclass(frozen=True, order=True)
class PartialDate:
    """A date known to a precision: the whole year, month or day, or an exact time (UTC)."""

    start: datetime
    precision: Precision

    @property
    def end(self) -> datetime:
        """The last microsecond of the period (inclusive)."""
        s = self.start
        if self.precision == "year":
            return datetime(s.year, 12, 31, 23, 59, 59, 999999)
        if self.precision == "month":
            last = calendar.monthrange(s.year, s.month)[1]
            return datetime(s.year, s.month, last, 23, 59, 59, 999999)
        if self.precision == "day":
            return datetime(s.year, s.month, s.day, 23, 59, 59, 999999)
        return s

    def isoformat(self) -> str:
        """`2020`, `2020-03`, `2020-03-14` or `2020-03-14T09:30:00Z`, by precision."""
        s = self.start
        if self.precision == "year":
            return year_key(s.year)
        if self.precision == "month":
            return month_key(s.year, s.month)
        if self.precision == "day":
            return day_key(s)
        return f"{day_key(s)}T{s.hour:02d}:{s.minute:02d}:{s.second:02d}Z"

    def __str__(self) -> str:
        return self.isoformat()

    @property
    def year_key(self) -> str:
        """Facet key for the year, e.g. `2020`."""
        return year_key(self.start.year)

    @property
    def month_key(self) -> str | None:
        """Facet key for the month (`2020-03`), or None for a year-only date."""
        if self.precision == "year":
            return None
        return month_key(self.start.year, self.start.month)

    @property
    def day_key(self) -> str | None:
        """Facet key for the day (`2020-03-14`), or None when the day is not known."""
        if self.precision in ("year", "month"):
            return None
        return day_key(self.start)

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Parse an absolute date: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `march 2020`, RFC 822, ISO.

        Raises `DateError` naming the value when it is not a date.
        """
        return parse_date(text)

    @classmethod
    def from_datetime(cls, value: datetime) -> PartialDate:
        """An exact time; an aware datetime is converted to UTC (`DateError` if out of range)."""
        return cls(_to_utc_naive(value), "second")


def _to_utc_naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        try:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        except (ValueError, OverflowError) as exc:
            # An offset of a day or more, or a UTC time before year 1 / after 9999. Not
            # str(value): formatting an aware datetime calls the broken utcoffset() again.
            raise DateError(value.replace(tzinfo=None).isoformat(), str(exc)) from None
    return value


def _checked(year: int, month: int = 1, day: int = 1) -> datetime:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError("year out of range")
    return datetime(year, month, day)


def parse_date(text: str) -> PartialDate:
    """Parse an absolute date with its precision; raise `DateError` naming the value if not one."""
    if not isinstance(text, str):
        raise DateError(repr(text), "not text")
    raw = text.strip()
    if not raw:
        raise DateError(text, "empty")
    if len(raw) > 100:
        raise DateError(raw[:40] + "…", "too long to be a date")
    try:
        m = _ISO_PARTIAL.match(raw)
        if m:
            year, month, day = m.group(1), m.group(2), m.group(3)
            if day is not None:
                return PartialDate(_checked(int(year), int(month), int(day)), "day")
            if month is not None:
                return PartialDate(_checked(int(year), int(month)), "month")
            return PartialDate(_checked(int(year)), "year")
        m = _COMPACT_DAY.match(raw)
        if m:
            return PartialDate(_checked(int(m[1]), int(m[2]), int(m[3])), "day")
        m = _ISO_TIME.fullmatch(raw)
        if m:
            return _parse_iso_time(m)
        # `Tue, 20 Apr 1993 18:15 EDT(-0400)`: RFC 822 comments are noise to both parsers.
        bare = _COMMENT.sub(" ", raw).strip() if "(" in raw else raw
        m = _RFC822.fullmatch(bare)
        if m:
            found = _parse_rfc822(m)
            if found is not None:
                return found
    except ValueError as exc:
        raise DateError(raw, str(exc)) from None
    return _parse_free_form(raw, bare)


def _parse_iso_time(m: re.Match[str]) -> PartialDate:
    year, month, day, hour, minute, second, fraction, _, sign, zone_h, zone_m = m.groups()
    _checked(int(year))
    exact = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        int((fraction or "0").ljust(6, "0")),
    )
    offset = 0
    if sign is not None:
        offset = (-1 if sign == "-" else 1) * (int(zone_h) * 3600 + int(zone_m or 0) * 60)
    return _exact_utc(exact, offset, zone=m[0][m.start(9) :] if sign else "")


def _exact_utc(exact: datetime, offset: int, *, zone: str) -> PartialDate:
    """A local time `offset` seconds east of UTC, as an exact UTC date."""
    if not offset:
        return PartialDate(exact, "second")
    if abs(offset) >= 86400:
        raise ValueError(f"zone offset out of range: {zone}")
    try:
        exact -= timedelta(seconds=offset)
    except OverflowError:
        raise ValueError("date value out of range") from None
    if not MIN_YEAR <= exact.year <= MAX_YEAR:
        raise ValueError("year out of range")
    return PartialDate(exact, "second")


def _parse_rfc822(m: re.Match[str]) -> PartialDate | None:
    """The date of an `_RFC822` match, or None to leave an odd one to dateutil."""
    day, month_name, year_text, hour, minute, second, zone = m.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        return None
    year = int(year_text)
    if len(year_text) == 2:
        # RFC 5322 section 4.3: two-digit years 00-49 are 20xx, 50-99 are 19xx.
        year += 2000 if year < 50 else 1900
    if hour is None:
        # A zone without a time (`14 Mar 2020 GMT`) cannot move a whole day.
        return PartialDate(_checked(year, month, int(day)), "day")
    offset = 0
    if zone is not None:
        if zone[0] in "+-":
            sign = -1 if zone[0] == "-" else 1
            offset = sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
        elif "+" in zone or "-" in zone:
            # `GMT+12` in a Usenet header means twelve hours east (New Zealand), the plain
            # reading; dateutil applies the POSIX TZ convention and flips the sign.
            sign = -1 if "-" in zone else 1
            digits = zone.lstrip("GMTUC+-").replace(":", "")
            hours, minutes = (digits[:-2], digits[-2:]) if len(digits) > 2 else (digits, "0")
            offset = sign * (int(hours) * 3600 + int(minutes) * 60)
        else:
            offset = _ZONE_SECONDS.get(zone.upper(), 0)
    _checked(year)
    exact = datetime(year, month, int(day), int(hour), int(minute), int(second or 0))
    return _exact_utc(exact, offset, zone=zone or "")


def _tzinfos(name: str | None, offset: int | None):
    """dateutil's zone hook: a numeric offset wins, then the table, else naive (read as UTC)."""
    from dateutil import tz as dateutil_tz

    if offset is not None:
        return dateutil_tz.tzoffset(name, offset)
    if name is not None:
        seconds = _ZONE_SECONDS.get(name.upper())
        if seconds is not None:
            return dateutil_tz.tzoffset(name, seconds)
    return None


def _parse_free_form(raw: str, bare: str) -> PartialDate:
    # Imported here: the fast paths above cover ISO and RFC 822, and `searchkit search`
    # starts faster without dateutil (measured ~15 ms of a 240 ms command).
    from dateutil import parser as dateutil_parser

    try:
        a = dateutil_parser.parse(bare, default=_DEFAULT_A, tzinfos=_tzinfos)
        b = dateutil_parser.parse(bare, default=_DEFAULT_B, tzinfos=_tzinfos)
    except (ValueError, OverflowError, TypeError, ArithmeticError) as exc:
        reason = str(exc).split(":")[0] or "not a date"
        raise DateError(raw, reason) from None
    if a.year != b.year:
        raise DateError(raw, "no year")
    if not MIN_YEAR <= a.year <= MAX_YEAR:
        raise DateError(raw, "year out of range")
    if a.month != b.month:
        return PartialDate(datetime(a.year, 1, 1), "year")
    if a.day != b.day:
        return PartialDate(datetime(a.year, a.month, 1), "month")
    if a.hour != b.hour:
        # No time written: a zone alone (`14 Mar 2020 UTC`) cannot move a whole day.
        return PartialDate(datetime(a.year, a.month, a.day), "day")
    try:
        return PartialDate.from_datetime(a)
    except DateError:
        raise DateError(raw, "date value out of range") from None


# -- periods a query names -------------------------------------------------------------------


@dataclass(frozen=True)
class DateSpan:
    """A period of time, both ends inclusive, as naive UTC datetimes."""

    start: datetime
    end: datetime
    text: str = ""

    @classmethod
    def of(cls, value: PartialDate) -> DateSpan:
        """The period a partial date stands for (`2020-03` is all of March)."""
        return cls(value.start, value.end, value.isoformat())

    def __str__(self) -> str:
        return self.text or f"{self.start.isoformat()}..{self.end.isoformat()}"


def utc_now() -> datetime:
    """The current time as a naive UTC datetime, as every date searchkit compares."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def parse_when(text: str, *, now: datetime | None = None) -> DateSpan:
    """Parse an absolute or relative date into the period it names.

    Absolute: `2020`, `2020-03`, `2020-03-14`, `20200314`, `march 2020`, ISO times with zones.
    Relative (counted in UTC from `now`): `today`, `yesterday`, `7d` / `7 days ago` (that day),
    `2w` / `2 weeks ago`, `3 months ago`, `1 year ago`, `last week` / `this month` / `last year`.
    Raises `DateError` naming the value when it is none of these.
    """
    if not isinstance(text, str):
        raise DateError(repr(text), "not text")
    raw = " ".join(text.split()).lower()
    try:
        span = _relative(raw, now or utc_now())
    except (OverflowError, ValueError):
        raise DateError(text.strip(), "out of range") from None
    if span is not None:
        return DateSpan(span[0], span[1], raw)
    return DateSpan.of(parse_date(text))


#: What a `since` / `until` argument may be: text (`2020-03`, `7d`, `last month`), a `date`, a
#: `datetime`, a `PartialDate` or a `DateSpan`.
DateLike = str | date | datetime | PartialDate | DateSpan


def to_span(value: DateLike, *, now: datetime | None = None) -> DateSpan:
    """A `since`/`until` argument as a period: text, `date`, `datetime`, `PartialDate`."""
    if isinstance(value, DateSpan):
        return value
    if isinstance(value, PartialDate):
        return DateSpan.of(value)
    if isinstance(value, datetime):
        exact = PartialDate.from_datetime(value)
        return DateSpan(exact.start, exact.end, exact.isoformat())
    if isinstance(value, date):
        start, end = day_range(value)
        return DateSpan(start, end, value.isoformat())
    return parse_when(value, now=now)


def day_range(day: date) -> tuple[datetime, datetime]:
    """The first and last instant of a day."""
    return datetime.combine(day, time.min), datetime.combine(day, END_OF_DAY)


def month_range(year: int, month: int) -> tuple[datetime, datetime]:
    """The first and last instant of a month; `month` may run past 1..12 (13 is next January)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return datetime(year, month, 1), datetime.combine(date(year, month, last), END_OF_DAY)


def year_range(year: int) -> tuple[datetime, datetime]:
    """The first and last instant of a year."""
    return datetime(year, 1, 1), datetime.combine(date(year, 12, 31), END_OF_DAY)


def _relative(raw: str, now: datetime) -> tuple[datetime, datetime] | None:
    today = now.date()
    if raw in ("today", "now"):
        return day_range(today)
    if raw == "yesterday":
        return day_range(today - timedelta(days=1))
    m = _RELATIVE.match(raw)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if unit[0] == "d":
            return day_range(today - timedelta(days=n))
        if unit[0] == "w":
            return day_range(today - timedelta(weeks=n))
        if unit[0] == "m":
            return month_range(today.year, today.month - n)
        return year_range(today.year - n)
    m = _LAST_THIS.match(raw)
    if m:
        back = 1 if m.group(1) in ("last", "previous") else 0
        unit = m.group(2)
        if unit == "week":
            monday = today - timedelta(days=today.weekday(), weeks=back)
            return datetime.combine(monday, time.min), datetime.combine(
                monday + timedelta(days=6), END_OF_DAY
            )
        if unit == "month":
            return month_range(today.year, today.month - back)
        return year_range(today.year - back)
    return None
