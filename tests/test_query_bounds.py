"""Every query has a bounded cost: wildcards, prefixes, fuzzy terms and ranges expand to at most
a fixed number of terms, the most frequent, and say so (searchkit.expansion.bound_expansions)."""

from __future__ import annotations

import fnmatch
import itertools
from datetime import datetime

import pytest
from whoosh import query as wq

from searchkit import Document, Index
from searchkit.date_query import PeriodQuery, period_query
from searchkit.expansion import MAX_EDITS, MAX_EXPANSIONS, bound_expansions, bound_parsed
from searchkit.query import QueryParser
from searchkit.schema import text_analyzer

# More distinct words than the cap, each in a different number of documents: word k is in
# documents 0..k, so its document frequency is k + 1 and the top terms are unambiguous.
WORDS = ["qz" + a + b for a, b in itertools.product("bcdfghjklmnp", repeat=2)][
    : MAX_EXPANSIONS + 12
]
# Within 3 and 4 edits of `qzbb`, in every document: the most frequent terms `qzbb~5` reaches.
FAR = ["qzbbxyz", "qzbbwxyz"]


def _bodies() -> list[list[str]]:
    return [WORDS[j:] + FAR for j in range(len(WORDS))]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    analyzer = text_analyzer()
    for word in WORDS + FAR:
        # The plain-Python expectations below count words as written: make sure they are the
        # indexed terms (no stemming, no stop words).
        assert [t.text for t in analyzer(word)] == [word]
    bodies = _bodies()
    ix = Index(tmp_path_factory.mktemp("bounds") / "index")
    half = len(bodies) // 2
    # Two commits: two segments, so document frequencies are summed over segments.
    ix.add(
        [
            Document(id=f"d{j}", title="report", body=" ".join(b))
            for j, b in enumerate(bodies[:half])
        ]
    )
    ix.add(
        [
            Document(id=f"d{j}", title="report", body=" ".join(b))
            for j, b in enumerate(bodies[half:], start=half)
        ]
    )
    ix.search("warm up")
    assert len(ix._open_searcher()._scorer.segments) == 2
    yield ix
    ix.close()


@pytest.fixture()
def reader(index):
    return index._open_searcher()._whoosh.reader()


def _doc_frequency() -> dict[str, int]:
    counts: dict[str, int] = {}
    for body in _bodies():
        for word in set(body):
            counts[word] = counts.get(word, 0) + 1
    return counts


def _top(words) -> set[str]:
    df = _doc_frequency()
    return set(sorted(words, key=lambda w: (-df[w], w))[:MAX_EXPANSIONS])


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance, the textbook table."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(
                d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _body_terms(q: wq.Query) -> set[str]:
    # Only plain terms remain (a field where nothing matched has a query matching nothing).
    assert all(type(leaf) is wq.Term or leaf is wq.NullQuery for leaf in q.leaves()), q
    return {leaf.text for leaf in q.leaves() if leaf.field() == "body"}


@pytest.mark.parametrize("pattern", ["qz*", "*z?b*", "qz?b", "*b"])
def test_a_wildcard_keeps_exactly_the_most_frequent_matching_terms(index, reader, pattern):
    matching = [w for w in WORDS + FAR if fnmatch.fnmatchcase(w, pattern)]
    parsed = index._open_searcher()._parser.parse(pattern)
    bounded, notes = bound_expansions(parsed.query, reader)
    assert _body_terms(bounded) == _top(matching)
    if len(matching) > MAX_EXPANSIONS:
        assert notes == (
            f"{pattern!r} matches {len(matching):,} terms; only the {MAX_EXPANSIONS} most "
            "frequent were searched",
        )
    else:
        assert notes == ()


def test_a_field_wildcard_keeps_the_most_frequent_terms_of_that_field(reader):
    bounded, notes = bound_expansions(wq.Every("body"), reader)
    assert _body_terms(bounded) == _top(WORDS + FAR)
    assert notes == (
        f"'body:*' matches {len(WORDS + FAR)} terms; only the {MAX_EXPANSIONS} most frequent "
        "were searched",
    )
    assert bound_expansions(wq.Every("id"), reader)[0] == wq.Every()


def test_a_range_over_text_keeps_the_most_frequent_terms(reader):
    q = wq.TermRange("body", "qzb", "qzz")
    matching = [w for w in WORDS + FAR if "qzb" <= w <= "qzz"]
    assert len(matching) > MAX_EXPANSIONS
    bounded, notes = bound_expansions(q, reader)
    assert _body_terms(bounded) == _top(matching)
    assert len(notes) == 1


@pytest.mark.parametrize("startexcl", [False, True])
@pytest.mark.parametrize("endexcl", [False, True])
def test_a_range_walk_honours_its_bounds(reader, startexcl, endexcl):
    start, end = sorted(WORDS)[3], sorted(WORDS)[-4]
    q = wq.TermRange("body", start, end, startexcl=startexcl, endexcl=endexcl)
    inside = {
        w
        for w in WORDS + FAR
        if (start < w or (not startexcl and w == start)) and (w < end or (not endexcl and w == end))
    }
    bounded, _ = bound_expansions(q, reader, max_expansions=10_000)
    assert _body_terms(bounded) == inside


@pytest.mark.parametrize(
    "typed, capped_to, searched, prefix",
    [
        ("qzbb~5", "qzbb~2", "qzbb~2", 1),
        ("qzbb~2", None, "qzbb~2", 1),
        ("qzbb~3/2", "qzbb~2/2", "qzbb~2/2", 2),
    ],
)
def test_fuzziness_is_at_most_two_edits_with_a_note(
    index, reader, typed, capped_to, searched, prefix
):
    parsed = index._open_searcher()._parser.parse(typed)
    bounded, notes = bound_expansions(parsed.query, reader)
    near = [
        w
        for w in WORDS + FAR
        if w[:prefix] == "qzbb"[:prefix] and _distance(w, "qzbb") <= MAX_EDITS
    ]
    assert not set(FAR) & set(near)  # the far words are in every document: they would win
    assert _body_terms(bounded) == _top(near)
    # A note on the edits only when they were cut: the first letter kept is what `~` means.
    capped = (f"{typed!r} searched as {capped_to!r}: fuzzy terms allow at most 2 edits",)
    assert notes == (capped if capped_to else ()) + (
        f"{searched!r} matches {len(near)} terms; only the {MAX_EXPANSIONS} most frequent were "
        "searched",
    )


def test_the_terms_of_a_whole_query_are_capped_and_clauses_past_the_cap_match_nothing(reader):
    q = wq.Or([wq.Prefix("body", "qzb"), wq.Prefix("body", "qzc"), wq.Prefix("body", "qzd")])
    bounded, notes = bound_expansions(q, reader, max_expansions=10, max_terms=15)
    b, c, d = bounded.subqueries
    df = _doc_frequency()
    qzb = sorted((w for w in WORDS + FAR if w.startswith("qzb")), key=lambda w: (-df[w], w))
    assert _body_terms(b) == set(qzb[:10])

    assert len(_body_terms(c)) == 5
    assert d is wq.NullQuery
    assert notes == (
        f"'qzb*' matches {len(qzb)} terms; only the 10 most frequent were searched",
        "'qzc*' was searched with fewer terms: the query reached its limit of 15 terms",
        "'qzd*' was not searched: the query already expands to 15 terms",
    )


def test_the_dictionary_entries_a_query_examines_are_capped(reader):
    # The first segment holds every word, the second the words of its documents.
    entries = len(WORDS + FAR) + len(WORDS[len(WORDS) // 2 :] + FAR)
    q = wq.And([wq.Wildcard("body", "*b"), wq.Wildcard("body", "*p")])
    bounded, notes = bound_expansions(q, reader, max_examined=entries + 10)
    first, second = bounded.subqueries
    assert _body_terms(first) == _top([w for w in WORDS if w.endswith("b")])
    # The second scan stopped after the first 10 entries in term order (qzbb, qzbbwxyz, ...
    # qzbk): none ends in p.
    assert second is wq.NullQuery
    assert notes == (
        "'*p' was searched with the terms found in the first "
        f"{entries + 10} dictionary entries the query examined",
    )


def test_a_clause_repeated_is_expanded_once(reader):
    q = wq.And([wq.Prefix("body", "qzb"), wq.Prefix("body", "qzb")])
    bounded, _ = bound_expansions(q, reader, max_examined=12)
    assert bounded.subqueries[0] is bounded.subqueries[1]
    assert len(_body_terms(bounded)) == 12


def test_a_query_without_expanding_clauses_is_returned_as_it_was(index, reader):
    parsed = index._open_searcher()._parser.parse('qzbb "qzbc qzbd" -qzbf')
    bounded, notes = bound_expansions(parsed.query, reader)
    assert bounded is parsed.query
    assert notes == ()
    assert bound_parsed(parsed, reader) is parsed


def test_date_periods_are_filters_and_stay_whole(reader):
    period = period_query(datetime(1987, 1, 15), datetime(1990, 6, 30, 23, 59, 59, 999999))
    q = wq.And([wq.Prefix("body", "qzb"), period])
    bounded, _ = bound_expansions(q, reader, max_expansions=1)
    assert isinstance(bounded.subqueries[1], PeriodQuery)
    assert bounded.subqueries[1] is period


def test_bound_parsed_bounds_the_query_and_its_relaxed_form_with_one_budget(index, reader):
    parser: QueryParser = index._open_searcher()._parser
    parsed = parser.parse("qzb* qzc*")
    assert parsed.relaxed is not None
    bounded = bound_parsed(parsed, reader)
    assert not [leaf for leaf in bounded.relaxed.leaves() if isinstance(leaf, wq.MultiTerm)]
    assert not [leaf for leaf in bounded.query.leaves() if isinstance(leaf, wq.MultiTerm)]
    assert bounded.notes == parsed.notes  # 14 terms each at most: under the cap, nothing to say
    # It prints as written, not as the terms it expanded to.
    assert (
        str(bounded) == str(parsed) == "((title:qzb* OR body:qzb*) AND (title:qzc* OR body:qzc*))"
    )


def test_the_bounded_query_finds_what_whoosh_finds_for_the_kept_terms(index, reader):
    # Search results agree with a plain OR of the kept words (the cap is what changed).
    parsed = index._open_searcher()._parser.parse("qz*")
    bounded, _ = bound_expansions(parsed.query, reader)
    kept = _body_terms(bounded)
    expected = {f"d{j}" for j, body in enumerate(_bodies()) if kept & set(body)}
    found = {hit.id for hit in index.search(" OR ".join(sorted(kept)), limit=1000)}
    assert found == expected
