"""Query text and filters -> Whoosh queries: dates of every form, leniency, strictness."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from whoosh import query as wq

from searchkit.errors import DateError, QuerySyntaxError, UsageError
from searchkit.query import (
    MAX_QUERY_CHARS,
    DateSpan,
    PeriodQuery,
    QueryParser,
    parse_when,
    parse_where,
    period_query,
    span_query,
    to_span,
)
from searchkit.schema import build_schema

NOW = datetime(2021, 1, 13, 15, 30)  # a Wednesday
END = (23, 59, 59, 999999)


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser(build_schema(), ["topics", "places"])


# -- dates -----------------------------------------------------------------------------------


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


def test_a_range_that_ends_before_it_starts_is_a_date_error():
    with pytest.raises(DateError, match="'2021'"):
        span_query(parse_when("2021"), parse_when("2020"))


def _terms(q: wq.Query) -> set:
    return {(leaf.__class__.__name__, leaf.field(), str(leaf)) for leaf in q.leaves()}


def test_a_period_is_covered_by_whole_years_then_months_then_days():
    q = period_query(datetime(2019, 11, 15), datetime(2022, 2, 3, *END))
    assert isinstance(q, PeriodQuery)
    fields = sorted(leaf.field() for leaf in q.leaves())
    # 2020-2021 as years; Dec 2019 and Jan 2022 as months; the odd days at both ends.
    assert fields == ["day", "day", "month", "month", "year"]
    assert period_query(datetime(2020, 3, 1), datetime(2020, 3, 31, *END)).child == wq.Term(
        "month", "2020-03"
    )
    assert period_query(None, None) is None


def test_an_exact_time_compares_exact_dates_on_its_day_only():
    q = period_query(datetime(2020, 3, 14, 10, 0), None)
    ranges = [leaf for leaf in q.leaves() if isinstance(leaf, wq.NumericRange)]
    assert len(ranges) == 2  # date and date_end of 2020-03-14 only: a narrow, cheap range


# -- the two misreadings of Whoosh's DateParserPlugin ---------------------------------------


def test_an_iso_date_range_is_that_range_not_the_whole_year(parser):
    # Whoosh's DateParserPlugin reads this as all of 2020.
    parsed = parser.parse("date:[2020-03-01 to 2020-03-31]", now=NOW)
    (period,) = parsed.filters
    assert (period.start, period.end) == (datetime(2020, 3, 1), datetime(2020, 3, 31, *END))


def test_greater_than_a_compact_date_is_an_open_range_not_nothing(parser):
    # Whoosh's DateParserPlugin turns this into a null query: no error, no hits.
    parsed = parser.parse("date:>20210101", now=NOW)
    (period,) = parsed.filters
    assert (period.start, period.end) == (datetime(2021, 1, 2), None)


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("date:2020-03", datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
        ('date:"march 2020"', datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
        ("date:>=2020-03", datetime(2020, 3, 1), None),
        ("date:>2020-03", datetime(2020, 4, 1), None),
        ("date:<2020-03", None, datetime(2020, 2, 29, *END)),
        ("date:<=2020-03", None, datetime(2020, 3, 31, *END)),
        ("date:{2020-03 to 2020-05}", datetime(2020, 4, 1), datetime(2020, 4, 30, *END)),
        ("date:[2020 to]", datetime(2020, 1, 1), None),
        ("date:yesterday", datetime(2021, 1, 12), datetime(2021, 1, 12, *END)),
        ('date:>="last month"', datetime(2020, 12, 1), None),
        ('date:"2020-03-14T10:00+02:00"', datetime(2020, 3, 14, 8), datetime(2020, 3, 14, 8)),
        ("date:2020-03-14T10:00", datetime(2020, 3, 14, 10), datetime(2020, 3, 14, 10)),
        ("date:>=2020-03-14T10:00Z", datetime(2020, 3, 14, 10), None),
    ],
)
def test_date_clauses_in_the_query(parser, text, start, end):
    parsed = parser.parse(f"cocoa {text}", now=NOW)
    (period,) = parsed.filters
    assert (period.start, period.end) == (start, end)
    assert str(parsed.query) == "(title:cocoa OR body:cocoa)"


def test_an_unparseable_date_in_the_query_is_an_error_in_both_modes(parser):
    for strict in (False, True):
        with pytest.raises(DateError, match="cannot parse date 'someday'"):
            parser.parse("cocoa date:someday", strict=strict)


def test_a_date_alone_searches_every_document_of_the_period(parser):
    parsed = parser.parse("date:2020", now=NOW)
    assert isinstance(parsed.query, wq.Every)
    assert str(parsed) == "date:[2020-01-01T00:00:00 .. 2020-12-31T23:59:59.999999]"


# -- leniency --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, note, error",
    [
        ('"health workers', "unclosed quote at column 1", "unclosed quote at column 1"),
        ("nurses (italy", "unclosed '(' at column 8", "unclosed '(' at column 8"),
        ("nurses) italy", "unmatched ')' at column 7", "unmatched ')' at column 7"),
        ("lockdown: italy", "unknown field 'lockdown'", "unknown field 'lockdown' at column 1"),
        ("title: italy", "nothing after 'title:'", "nothing after 'title:' at column 1"),
        ("italy OR OR spain", "'OR' has nothing after it", "'OR' has nothing after it at column 7"),
        ("NOT NOT italy", "'NOT' is followed by another 'NOT'", "'NOT' is followed by"),
        ("[2020 italy", "unclosed range '['", "unclosed range '[' at column 1"),
        ("price > 10", "'>' needs a field before it", "'>' needs a field before it at column 7"),
    ],
)
def test_typed_text_is_searched_as_words_unless_strict(parser, text, note, error):
    parsed = parser.parse(text)
    assert any(note in n and n.endswith("searched as words") for n in parsed.notes)
    words = {leaf.text for leaf in parsed.query.leaves() if leaf.field() == "body"}
    assert words, "lenient parsing must still search the words"
    with pytest.raises(QuerySyntaxError) as caught:
        parser.parse(text, strict=True)
    assert error in str(caught.value)
    assert str(caught.value).startswith("query syntax error: ")


def test_a_question_in_capitals_is_words_not_operators(parser):
    parsed = parser.parse("WHAT ARE THE EFFECTS OF NOT SMOKING AND DRINKING?")
    assert not any(isinstance(q, wq.Not) for q in _all(parsed.query))
    words = sorted({leaf.text for leaf in parsed.query.leaves() if leaf.field() == "body"})
    assert words == ["drink", "effect", "smoke", "what"]
    assert parsed.relaxed is not None  # a plain bag of words may be relaxed
    strict = parser.parse("WHAT ARE THE EFFECTS OF NOT SMOKING AND DRINKING?", strict=True)
    assert any(isinstance(q, wq.Not) for q in _all(strict.query))


def test_short_capitals_keep_their_operators(parser):
    parsed = parser.parse("NASA OR ESA")
    assert isinstance(parsed.query, wq.Or)
    assert parsed.relaxed is None


def _all(q):
    yield q
    if not q.is_leaf():
        for child in q.children():
            yield from _all(child)


def test_a_question_mark_ends_a_word_but_a_wildcard_inside_a_word_stays(parser):
    assert str(parser.parse("inflation?").query) == "(title:inflat OR body:inflat)"
    assert str(parser.parse("wom?n").query) == "(title:wom?n OR body:wom?n)"


def test_a_lone_star_matches_every_document(parser):
    assert isinstance(parser.parse("*").query, wq.Every)


def test_field_names_are_case_insensitive_and_unknown_ones_are_words(parser):
    assert str(parser.parse("TITLE:cocoa").query) == "title:cocoa"
    assert str(parser.parse("places:Brazil").query) == "places:brazil"
    parsed = parser.parse("http://example.com")
    assert "unknown field 'http' at column 1: searched as words" in parsed.notes


def test_only_stop_words_is_a_note_not_silence(parser):
    parsed = parser.parse("the of and")
    assert parsed.query is wq.NullQuery
    assert parsed.notes == ("nothing to search for: every word is too common or too short",)


def test_a_long_query_is_cut_at_a_space_with_a_note(parser):
    text = " ".join(["cocoa"] * 1000)
    parsed = parser.parse(text)
    assert len(parsed.text) <= MAX_QUERY_CHARS and parsed.text.endswith("cocoa")
    assert parsed.notes[0].startswith("query cut to its first")
    assert f"it had {len(text)}" in parsed.notes[0]


def test_words_are_anded_and_relaxable_but_operators_are_kept_as_written(parser):
    parsed = parser.parse("lockdown italy")
    assert (
        str(parsed.query) == "((title:lockdown OR body:lockdown) AND (title:itali OR body:itali))"
    )
    assert isinstance(parsed.relaxed, wq.Or)
    assert parser.parse("lockdown AND italy").relaxed is None
    assert parser.parse("lockdown italy", strict=True).relaxed is None
    # A metadata clause stays required when the words are relaxed.
    relaxed = parser.parse("lockdown italy places:italy").relaxed
    assert isinstance(relaxed, wq.And) and wq.Term("places", "italy") in relaxed.subqueries


def test_phrases_and_metadata_fields(parser):
    parsed = parser.parse('title:"health workers" OR nurses')
    assert str(parsed.query) == '(title:"health worker" OR title:nurs OR body:nurs)'
    assert str(parser.parse('places:"ivory coast"').query) == "places:ivory coast"


# -- where -----------------------------------------------------------------------------------


def test_where_accepts_a_mapping_or_field_value_strings():
    assert parse_where({"places": ["brazil", "usa"], "Topics": "cocoa"}) == {
        "places": ("brazil", "usa"),
        "topics": ("cocoa",),
    }
    assert parse_where(["places=brazil", "places=usa", "topics=cocoa"]) == {
        "places": ("brazil", "usa"),
        "topics": ("cocoa",),
    }
    assert parse_where(None) == {}


@pytest.mark.parametrize("item", ["brazil", "=brazil", "places=", "places"])
def test_a_malformed_where_is_a_usage_error(item):
    with pytest.raises(UsageError, match=f"--where expects FIELD=VALUE, got {item!r}"):
        parse_where([item])
