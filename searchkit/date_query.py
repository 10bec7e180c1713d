"""Date periods -> Whoosh queries: a document matches when its whole period lies inside.

A period is built from the `day` / `month` / `year` keyword columns, keyed as `dates` keys
them: whole years, then months, then days inside the range each cost one term (a numeric
range over second-precision timestamps expands to thousands of terms: ~200 ms for one month
of Reuters); only a day cut by an exact time compares exact timestamps.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from whoosh import query as wq

from .dates import END_OF_DAY, DateSpan, day_key, day_range, month_key, year_key
from .errors import DateError


class PeriodQuery(wq.WrappingQuery):
    """Documents whose whole period lies in [start, end]; prints as `date:[start .. end]`."""

    def __init__(self, child, start: datetime | None = None, end: datetime | None = None):
        super().__init__(child)
        self.start = start
        self.end = end

    def _rewrap(self, child):
        return self.__class__(child, self.start, self.end)

    def __eq__(self, other):
        return (
            type(other) is type(self)
            and (self.start, self.end) == (other.start, other.end)
            and self.child == other.child
        )

    def __hash__(self):
        return hash((self.start, self.end))

    def __unicode__(self):
        lo = self.start.isoformat() if self.start else ""
        hi = self.end.isoformat() if self.end else ""
        return f"date:[{lo} .. {hi}]"

    __str__ = __unicode__


def period_query(start: datetime | None, end: datetime | None) -> wq.Query | None:
    """Match documents with `date >= start` and `date_end <= end` (None: open); None if both open.

    The whole years, then months, then days lying inside the range match through the `year`,
    `month` and `day` keyword terms (every document of such a period lies inside), so a range
    costs a few dozen terms at most; a day cut by an exact time compares the exact start and
    end of that day's documents only.
    """
    if start is None and end is None:
        return None
    clauses: list[wq.Query] = []
    # Whole days inside the range, as dates (None: open).
    day_lo = day_hi = None
    if start is not None:
        day_lo = start.date() if start.time() == time.min else _next_day(start.date())
    if end is not None:
        day_hi = end.date() if end.time() == END_OF_DAY else _prev_day(end.date())
    whole_days = (day_lo is not None or start is None) and (day_hi is not None or end is None)
    if whole_days and _ordered(day_lo, day_hi):
        # Whole months inside those days, as (year, month) ...
        month_lo = month_hi = None
        if day_lo is not None:
            month_lo = (day_lo.year, day_lo.month)
            if day_lo.day != 1:
                month_lo = _shift_month(month_lo, 1)
        if day_hi is not None:
            month_hi = (day_hi.year, day_hi.month)
            if day_hi.day != calendar.monthrange(day_hi.year, day_hi.month)[1]:
                month_hi = _shift_month(month_hi, -1)
        whole_months = (month_lo is not None or day_lo is None) and (
            month_hi is not None or day_hi is None
        )
        if whole_months and _ordered(month_lo, month_hi):
            # ... and whole years inside those months.
            year_lo = year_hi = None
            if month_lo is not None:
                year_lo = month_lo[0] if month_lo[1] == 1 else month_lo[0] + 1
            if month_hi is not None:
                year_hi = month_hi[0] if month_hi[1] == 12 else month_hi[0] - 1
            if _ordered(year_lo, year_hi):
                clauses.append(_key_range("year", year_lo, year_hi, year_key))
                if year_lo is not None:
                    _add_range(clauses, "month", month_lo, _shift_month((year_lo, 1), -1))
                if year_hi is not None:
                    _add_range(clauses, "month", _shift_month((year_hi, 12), 1), month_hi)
            else:
                clauses.append(_key_range("month", month_lo, month_hi, _month_of))
            if month_lo is not None:
                _add_range(clauses, "day", day_lo, _prev_day(_month_start(month_lo)))
            if month_hi is not None:
                _add_range(clauses, "day", _next_day(_month_end(month_hi)), day_hi)
        else:
            clauses.append(_key_range("day", day_lo, day_hi, day_key))

    boundary = set()
    if start is not None and start.time() != time.min:
        boundary.add(start.date())
    if end is not None and end.time() != END_OF_DAY:
        boundary.add(end.date())
    for d in sorted(boundary):
        d0, d1 = day_range(d)
        lo = max(start, d0) if start is not None else d0
        hi = min(end, d1) if end is not None else d1
        if lo <= hi:
            clauses.append(
                wq.And(
                    [
                        wq.Term("day", day_key(d)),
                        wq.DateRange("date", lo, d1),
                        wq.DateRange("date_end", d0, hi),
                    ]
                )
            )
    child = clauses[0] if len(clauses) == 1 else wq.Or(clauses) if clauses else wq.NullQuery
    return PeriodQuery(child, start, end)


def _month_of(ym: tuple[int, int]) -> str:
    return month_key(*ym)


def _month_start(ym: tuple[int, int]) -> date:
    return date(ym[0], ym[1], 1)


def _month_end(ym: tuple[int, int]) -> date:
    return date(ym[0], ym[1], calendar.monthrange(ym[0], ym[1])[1])


def _add_range(clauses: list, field: str, lo, hi) -> None:
    # The days or months on one side of a coarser period: `lo`..`hi`, when not empty.
    if lo is None or hi is None or lo > hi:
        return
    key = day_key if field == "day" else _month_of
    clauses.append(_key_range(field, lo, hi, key))


def _next_day(d: date) -> date | None:
    return d + timedelta(days=1) if d < date.max else None


def _prev_day(d: date) -> date | None:
    return d - timedelta(days=1) if d > date.min else None


def _shift_month(ym: tuple[int, int], delta: int) -> tuple[int, int] | None:
    index = ym[0] * 12 + ym[1] - 1 + delta
    year, month = divmod(index, 12)
    return (year, month + 1) if 1 <= year <= 9999 else None


def _ordered(lo, hi) -> bool:
    return lo is None or hi is None or lo <= hi


def _key_range(field: str, lo, hi, key) -> wq.Query:
    lo_key = key(lo) if lo is not None else None
    hi_key = key(hi) if hi is not None else None
    if lo_key is not None and lo_key == hi_key:
        return wq.Term(field, lo_key)
    return wq.TermRange(field, lo_key, hi_key, False, False)


def span_query(since: DateSpan | None, until: DateSpan | None) -> wq.Query | None:
    """The date filter of `--since` / `--until`; raises `DateError` if it ends before it starts."""
    start = since.start if since else None
    end = until.end if until else None
    if start is not None and end is not None and start > end:
        raise DateError(str(since), f"it is after the end of the range ({until})")
    return period_query(start, end)
