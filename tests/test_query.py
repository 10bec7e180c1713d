"""Query text and filters -> Whoosh queries: dates of every form, leniency, strictness."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from whoosh import query as wq

from searchkit.date_query import PeriodQuery, period_query, span_query
from searchkit.dates import PartialDate, parse_when
from searchkit.documents import Document
from searchkit.errors import DateError, InvalidValue, QuerySyntaxError, UsageError
from searchkit.query import MAX_QUERY_CHARS, QueryParser, parse_where
from searchkit.schema import WORD_MARK, build_schema, whoosh_fields

NOW = datetime(2021, 1, 13, 15, 30)  # a Wednesday
END = (23, 59, 59, 999999)


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser(build_schema(), ["topics", "places"])


# -- date filters ----------------------------------------------------------------------------


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


@given(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.sampled_from(["year", "month", "day"]),
)
def test_a_date_filter_looks_up_the_key_a_document_of_that_period_is_stored_under(day, unit):
    # The facet keys are written once (searchkit.dates); were the document side and the query
    # side to format them differently, every date filter would silently match nothing.
    text = {"year": f"{day.year:04d}", "month": f"{day.year:04d}-{day.month:02d}"}.get(
        unit, day.isoformat()
    )
    stored = whoosh_fields(Document(id="x", date=PartialDate.parse(text)))
    span = parse_when(text)
    q = period_query(span.start, span.end)
    assert q.child == wq.Term(unit, stored[unit])


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
    assert words == ["drink", "effect", "smoke"]  # "what", "are", "the", "of": stop words
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
    # Printed as typed (the query also asks for the word behind the value's mark).
    assert str(parser.parse("places:Brazil")) == "places:brazil"
    parsed = parser.parse("http://example.com")
    assert parsed.notes == ()  # a URL is its words, not the field "http"
    parsed = parser.parse("plaeces:brazil")
    assert "unknown field 'plaeces' (did you mean 'places'?) at column 1: searched as words" in (
        parsed.notes
    )


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
    assert isinstance(relaxed, wq.And)
    assert any(wq.Term("places", "italy") in set(c.leaves()) for c in relaxed.subqueries)


def test_phrases_and_metadata_fields(parser):
    parsed = parser.parse('title:"health workers" OR nurses')
    assert str(parsed.query) == '(title:"health worker" OR title:nurs OR body:nurs)'
    assert str(parser.parse('places:"ivory coast"')) == "places:ivory coast"
    # Searched as the whole value, or as a value holding both words.
    leaves = set(parser.parse('places:"ivory coast"').query.leaves())
    assert leaves == {
        wq.Term("places", "ivory coast"),
        wq.Term("places", WORD_MARK + "ivory"),
        wq.Term("places", WORD_MARK + "coast"),
    }


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


@pytest.mark.parametrize(
    "where, name",
    [
        ({"places": None}, "where['places']"),
        ({"places": [None]}, "where['places']"),
        ({"places": ["brazil", None]}, "where['places']"),
        ({"places": 7}, "where['places']"),
        ({"places": [b"brazil"]}, "where['places']"),
        ({None: "brazil"}, "where"),
        ({1: "brazil"}, "where"),
        ([None], "where"),
        (["places=brazil", 7], "where"),
        (7, "where"),
    ],
)
def test_a_where_name_or_value_that_is_not_text_is_an_invalid_value_naming_it(where, name):
    with pytest.raises(InvalidValue) as caught:
        parse_where(where)
    assert caught.value.name == name
    assert str(caught.value).startswith(f"{name}: ")


def test_a_where_of_none_through_the_index_raises_before_searching(tmp_path):
    from searchkit import Index

    with Index(tmp_path / "index") as ix:
        ix.add([Document(id="a", body="cocoa", fields={"places": ("brazil",)})])
        with pytest.raises(InvalidValue, match=r"^where\['places'\]: "):
            ix.search("cocoa", where={"places": None})
        with pytest.raises(InvalidValue, match=r"^where\['places'\]: "):
            ix.search("cocoa", where={"places": [None]})
        assert [h.id for h in ix.search("cocoa", where={"places": "brazil"})] == ["a"]
