"""`Index.search`, `get`, `similar` against answers computed here in plain Python.

The documents use a small vocabulary of words that the analyzer keeps as they are (no stop
words, no stemming changes), so matching, term frequencies and field lengths can be counted
with `str.split`, and BM25F computed from its formula.
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, time, timedelta, timezone

import pytest
from helpers import REUTERS, needs_shared
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchkit import Document, DocumentNotFound, Index, PartialDate, SearchkitError
from searchkit.errors import DateError, InvalidValue, QuerySyntaxError, UsageError
from searchkit.highlight import FRAGMENT_CHARS
from searchkit.scoring import BM25_B, BM25_K1, QUERY_K3
from searchkit.store import IndexDirectory

WORDS = (
    "cocoa sugar brazil ghana harvest rain port export strike market crop cargo vessel quota "
    "farmer trader tender wheat grain union bank loan storm"
).split()
TITLE_BOOST = 2.0
END = (23, 59, 59, 999999)
UTC = timezone.utc

#: One date of each kind and edge: year, month, day, exact times with zones, none.
DATES = [
    "2019",
    "2020",
    "2020-02",
    "2020-03",
    "2020-03-01",
    "2020-03-14",
    "2020-03-31",
    "2020-04-01",
    datetime(2020, 3, 31, 23, 30, tzinfo=timezone(timedelta(hours=-2))),  # 2020-04-01 01:30Z
    datetime(2020, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),  # 2020-02-29 22:30Z
    datetime(2020, 3, 14, 12, 0, tzinfo=UTC),
    None,
]
TOPICS = ["cocoa", "grain", "shipping"]
PLACES = ["Brazil", "Ghana", "USA", "Ivory Coast"]


def _date(value) -> PartialDate | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return PartialDate.from_datetime(value)
    return PartialDate.parse(value)


def make_documents(count: int = 48, seed: int = 3) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        fields = {"topics": tuple(rng.sample(TOPICS, rng.randint(1, 2)))}
        places = tuple(rng.sample(PLACES, rng.randint(0, 2)))
        if places:
            fields["places"] = places
        docs.append(
            Document(
                id=f"doc-{i:02d}",
                title=" ".join(rng.choice(WORDS) for _ in range(3)),
                body=" ".join(rng.choice(WORDS) for _ in range(10)),
                date=_date(DATES[i % len(DATES)]),
                fields=fields,
            )
        )
    return docs


DOCS = make_documents()


# -- answers computed in plain Python --------------------------------------------------------


def words_of(doc: Document, field: str) -> list[str]:
    return getattr(doc, field).lower().split()


def has(doc: Document, word: str) -> bool:
    return word in words_of(doc, "title") or word in words_of(doc, "body")


def bm25f(doc: Document, words: list[str], docs: list[Document]) -> float:
    """BM25F (Robertson & Zaragoza 2009): each word's title and body frequencies, each
    normalised by its field's length and the title's weighted, summed before saturation; a
    word typed n times weighs n (k3 + 1) / (n + k3)."""
    n = len(docs)
    average = {f: sum(len(words_of(d, f)) for d in docs) / n for f in ("title", "body")}
    score = 0.0
    for word, typed in Counter(words).items():
        tf = 0.0
        for field in ("title", "body"):
            weight = TITLE_BOOST if field == "title" else 1.0
            norm = 1 - BM25_B + BM25_B * len(words_of(doc, field)) / average[field]
            tf += weight * words_of(doc, field).count(word) / norm
        if not tf:
            continue
        df = sum(1 for d in docs if has(d, word))
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        saturation = typed * (QUERY_K3 + 1) / (typed + QUERY_K3)
        score += saturation * idf * (BM25_K1 + 1) * tf / (BM25_K1 + tf)
    return score


def ranked(matching: list[Document], words: list[str], docs: list[Document]):
    """(id, score) best first; equal scores in the order the documents were added."""
    position = {d.id: i for i, d in enumerate(docs)}
    scored = [(bm25f(d, words, docs), d) for d in matching]
    scored.sort(key=lambda sd: (-sd[0], position[sd[1].id]))
    return [(d.id, round(s, 5)) for s, d in scored]


def got(results) -> list[tuple[str, float]]:
    return [(h.id, round(h.score, 5)) for h in results.hits]


def inside(doc: Document, start: datetime | None, end: datetime | None) -> bool:
    if doc.date is None:
        return False
    return (start is None or doc.date.start >= start) and (end is None or doc.date.end <= end)


def facet_counts(docs: list[Document], field: str, limit: int | None = None):
    """Counted case-folded, ordered by count then folded value, shown as written."""
    counts = Counter(v.lower() for d in docs for v in d.fields.get(field, ()))
    written = {v.lower(): v for d in docs for v in d.fields.get(field, ())}
    items = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))
    items = items[:limit] if limit else items
    return [(written[v], c) for v, c in items]


def date_histogram(docs: list[Document], key: str):
    counts = Counter(getattr(d.date, key) for d in docs if d.date and getattr(d.date, key))
    return sorted(counts.items())


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(params=[1, 3], ids=["one-segment", "three-segments"])
def index(request, build_index) -> Index:
    ix = build_index(DOCS, segments=request.param)
    expected = request.param
    _, whoosh_ix = IndexDirectory(ix.path).open_current()
    with whoosh_ix.reader() as reader:
        assert len(reader.leaf_readers()) == expected
    return ix


# -- ranking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["cocoa", "storm", "harvest"])
def test_one_word_ranks_every_document_holding_it_by_bm25f(index, word):
    results = index.search(word, limit=100)
    expected = ranked([d for d in DOCS if has(d, word)], [word], DOCS)
    assert results.total == len(expected) > 0
    assert got(results) == expected
    assert not results.relaxed


def test_words_are_anded_in_strict_mode(index):
    results = index.search("cocoa market", limit=100, strict=True)
    both = [d for d in DOCS if has(d, "cocoa") and has(d, "market")]
    assert got(results) == ranked(both, ["cocoa", "market"], DOCS)
    assert results.total == len(both)


def test_any_word_matches_and_documents_with_every_word_rank_first(index):
    both = [d for d in DOCS if has(d, "cocoa") and has(d, "market")]
    either = [d for d in DOCS if (has(d, "cocoa") or has(d, "market")) and d not in both]
    assert 0 < len(both) < len(both) + len(either)
    words = ["cocoa", "market"]
    expected = ranked(both, words, DOCS) + ranked(either, words, DOCS)
    results = index.search("cocoa market", limit=100)
    assert results.relaxed and results.all_words == len(both)
    assert results.total == len(both) + len(either)
    assert got(results) == expected
    assert results.notes == ()  # some documents hold every word: nothing to say


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_what_matches_the_total_and_the_order_do_not_depend_on_the_page(index, limit):
    words = ["cocoa", "market"]
    both = [d for d in DOCS if has(d, "cocoa") and has(d, "market")]
    either = [d for d in DOCS if (has(d, "cocoa") or has(d, "market")) and d not in both]
    expected = [i for i, _ in ranked(both, words, DOCS) + ranked(either, words, DOCS)]
    seen = []
    page = 1
    while True:
        results = index.search("cocoa market", limit=limit, page=page)
        assert (results.total, results.all_words) == (len(expected), len(both))
        assert results.relaxed
        if not results.hits:
            break
        assert [h.rank for h in results.hits] == list(
            range(len(seen) + 1, len(seen) + 1 + len(results.hits))
        )
        seen += [h.id for h in results.hits]
        page += 1
    assert seen == expected


def test_when_no_document_holds_every_word_a_note_says_so(index):
    words = ["cocoa", "nowhere"]
    results = index.search("cocoa nowhere", limit=100)
    expected = ranked([d for d in DOCS if has(d, "cocoa")], words, DOCS)
    assert got(results) == expected and results.all_words == 0
    assert results.notes == ("no document holds every word; documents with some of them",)


def test_a_word_typed_twice_weighs_more_but_less_than_twice(index):
    words = ["cocoa", "cocoa", "market"]
    both = [d for d in DOCS if has(d, "cocoa") and has(d, "market")]
    either = [d for d in DOCS if (has(d, "cocoa") or has(d, "market")) and d not in both]
    results = index.search("cocoa cocoa market", limit=100)
    assert got(results) == ranked(both, words, DOCS) + ranked(either, words, DOCS)


def test_or_sums_scores_and_not_excludes(index):
    results = index.search("storm OR quota", limit=100)
    either = [d for d in DOCS if has(d, "storm") or has(d, "quota")]
    assert got(results) == ranked(either, ["storm", "quota"], DOCS)
    results = index.search("storm NOT quota", limit=100)
    only = [d for d in DOCS if has(d, "storm") and not has(d, "quota")]
    assert got(results) == ranked(only, ["storm"], DOCS)


def test_pages_follow_the_ranking(index):
    everything = index.search("cocoa", limit=100)
    pages = [index.search("cocoa", limit=4, page=p) for p in (1, 2, 3)]
    assert [h.id for p in pages for h in p.hits] == [h.id for h in everything.hits][:12]
    assert [h.rank for h in pages[1].hits] == [5, 6, 7, 8]
    beyond = index.search("cocoa", limit=10, page=50)
    assert beyond.hits == () and beyond.total == everything.total


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "since, until, start, end",
    [
        ("2020-03", "2020-03", datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
        ("2020-03-01", "2020-03-31", datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
        (None, "2020-03", None, datetime(2020, 3, 31, *END)),  # includes 31 March
        ("2020", None, datetime(2020, 1, 1), None),
        ("2020", "2020", datetime(2020, 1, 1), datetime(2020, 12, 31, *END)),
        ("march 2020", "april 2020", datetime(2020, 3, 1), datetime(2020, 4, 30, *END)),
        ("2020-02-29", "2020-02-29", datetime(2020, 2, 29), datetime(2020, 2, 29, *END)),
        ("2020-04-01", None, datetime(2020, 4, 1), None),
        (None, "2019-12-31", None, datetime(2019, 12, 31, *END)),
        # Exact times, with zones: the documents of the cut day compare exactly.
        (
            "2020-03-14T11:00:00Z",
            "2020-03-14T13:00:00Z",
            datetime(2020, 3, 14, 11),
            datetime(2020, 3, 14, 13),
        ),
        ("2020-04-01T03:00:00+02:00", None, datetime(2020, 4, 1, 1), None),
        (None, "2020-02-29T22:00:00Z", None, datetime(2020, 2, 29, 22)),
    ],
)
def test_a_date_range_matches_the_documents_whose_whole_period_lies_inside(
    index, since, until, start, end
):
    results = index.search("*", since=since, until=until, limit=100, sort="date")
    expected = [d.id for d in DOCS if inside(d, start, end)]
    assert results.total == len(expected)
    assert sorted(h.id for h in results.hits) == sorted(expected)


@pytest.mark.parametrize(
    "clause, start, end",
    [
        ("date:2020-03", datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
        ("date:[2020-03-01 to 2020-03-31]", datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
        ("date:>20200301", datetime(2020, 3, 2), None),
        ("date:<2020-03", None, datetime(2020, 2, 29, *END)),
        ('date:"march 2020"', datetime(2020, 3, 1), datetime(2020, 3, 31, *END)),
    ],
)
def test_date_clauses_in_the_query_filter_like_since_and_until(index, clause, start, end):
    results = index.search(f"cocoa {clause}", limit=100)
    expected = [d for d in DOCS if has(d, "cocoa") and inside(d, start, end)]
    assert got(results) == ranked(expected, ["cocoa"], DOCS)


def test_relative_dates_count_back_from_today(build_index):
    today = datetime.now(UTC).date()

    def first(d):
        return datetime.combine(d, time.min)

    def last(d):
        return datetime.combine(d, time.max)

    docs = [
        Document(id=f"ago-{n}", title="storm", body="storm", date=PartialDate.parse(str(day)))
        for n in (1, 3, 6, 7, 8, 14, 15, 30, 400)
        for day in [today - timedelta(days=n)]
    ]
    docs.append(
        Document(id="month", title="storm", body="storm", date=_date(today.strftime("%Y-%m")))
    )
    ix = build_index(docs)
    cases = [
        ("7d", None, first(today - timedelta(days=7)), None),
        ("yesterday", "yesterday", first(today - timedelta(days=1)), last(today - timedelta(1))),
        (None, "2w", None, last(today - timedelta(days=14))),
        ("this month", None, first(today.replace(day=1)), None),
        ("1 week ago", "3 days ago", first(today - timedelta(7)), last(today - timedelta(3))),
    ]
    for since, until, lo, hi in cases:
        expected = {d.id for d in docs if inside(d, lo, hi)}
        results = ix.search("storm", since=since, until=until, limit=50)
        assert {h.id for h in results.hits} == expected, (since, until)
        assert expected, (since, until)


def test_where_ors_values_of_a_field_and_ands_fields(index):
    where = {"places": ["brazil", "GHANA"], "topics": "grain"}
    results = index.search("*", where=where, limit=100)
    expected = [
        d.id
        for d in DOCS
        if {p.lower() for p in d.fields.get("places", ())} & {"brazil", "ghana"}
        and "grain" in d.fields["topics"]
    ]
    assert sorted(h.id for h in results.hits) == sorted(expected)
    # The same filter written as strings, and a value with a space, folded like the index.
    same = index.search("*", where=["places=brazil", "places=ghana", "topics=grain"], limit=100)
    assert [h.id for h in same.hits] == [h.id for h in results.hits]
    coast = index.search("*", where=["places=ivory coast"], limit=100)
    assert sorted(h.id for h in coast.hits) == sorted(
        d.id for d in DOCS if "Ivory Coast" in d.fields.get("places", ())
    )


def test_a_filter_applies_before_the_limit(index):
    results = index.search("cocoa", where={"places": "usa"}, limit=2)
    expected = [d for d in DOCS if has(d, "cocoa") and "USA" in d.fields.get("places", ())]
    assert results.total == len(expected) > 2
    assert got(results) == ranked(expected, ["cocoa"], DOCS)[:2]


# -- sorting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["date", "-date"])
def test_sorting_by_date_puts_undated_documents_last(index, sort):
    matching = [d for d in DOCS if has(d, "cocoa")]
    position = {d.id: i for i, d in enumerate(DOCS)}
    sign = -1 if sort == "-date" else 1

    scores = dict(ranked(matching, ["cocoa"], DOCS))

    def key(d):
        # One date's documents in relevance order.
        if d.date is None:
            return (1, 0, -scores[d.id], position[d.id])
        return (0, sign * d.date.start.timestamp(), -scores[d.id], position[d.id])

    expected = [d.id for d in sorted(matching, key=key)]
    results = index.search("cocoa", sort=sort, limit=100)
    assert [h.id for h in results.hits] == expected
    page2 = index.search("cocoa", sort=sort, limit=5, page=2)
    assert [h.id for h in page2.hits] == expected[5:10]
    # Scores are still the relevance scores.
    assert all(round(h.score, 5) == scores[h.id] for h in results.hits)


@pytest.mark.parametrize("sort", ["date", "-date"])
def test_date_order_is_strict_over_every_match_of_several_words(index, sort):
    """Documents holding one of the words are dated among those holding both, not after."""
    matching = [d for d in DOCS if has(d, "cocoa") or has(d, "market")]
    sign = -1 if sort == "-date" else 1
    dated = [d for d in matching if d.date is not None]
    for limit in (3, 100):
        results = index.search("cocoa market", sort=sort, limit=limit)
        assert results.total == len(matching)
        starts = [d.date.start.timestamp() for d in dated]
        got_ids = [h.id for h in index.search("cocoa market", sort=sort, limit=100).hits]
        by_id = {d.id: d for d in matching}
        got_starts = [by_id[i].date.start.timestamp() for i in got_ids[: len(dated)]]
        assert got_starts == sorted(starts, reverse=sign < 0)
        assert all(by_id[i].date is None for i in got_ids[len(dated) :])
        assert [h.id for h in results.hits] == got_ids[:limit]


# -- facets ----------------------------------------------------------------------------------


def test_facets_count_every_match_not_just_the_page(index):
    results = index.search("cocoa", facets=["topics", "places", "month", "year", "day"], limit=1)
    matching = [d for d in DOCS if has(d, "cocoa")]
    assert [tuple(c) for c in results.facets["topics"]] == facet_counts(matching, "topics")
    assert [tuple(c) for c in results.facets["places"]] == facet_counts(matching, "places")
    assert [tuple(c) for c in results.facets["month"]] == date_histogram(matching, "month_key")
    assert [tuple(c) for c in results.facets["year"]] == date_histogram(matching, "year_key")
    assert [tuple(c) for c in results.facets["day"]] == date_histogram(matching, "day_key")
    assert len(results.hits) == 1


def test_facets_with_filters_sorting_and_a_limit(index):
    results = index.search(
        "*", since="2020-03", until="2020-04", facets=["places", "day"], facet_limit=2, sort="-date"
    )
    matching = [d for d in DOCS if inside(d, datetime(2020, 3, 1), datetime(2020, 4, 30, *END))]
    assert [tuple(c) for c in results.facets["places"]] == facet_counts(matching, "places", 2)
    # A date facet is a histogram: all its values, in time order, whatever the limit.
    assert [tuple(c) for c in results.facets["day"]] == date_histogram(matching, "day_key")


def test_an_unknown_facet_is_a_usage_error_listing_the_fields(index):
    with pytest.raises(UsageError) as caught:
        index.search("cocoa", facets=["topic"])
    assert str(caught.value) == (
        "no facet field 'topic' in the index (fields: day, month, places, topics, year)"
    )


# -- snippets, stored documents, similar -----------------------------------------------------


def test_snippets_highlight_the_matched_words_with_offsets(build_index):
    body = " ".join(
        ["The", "cargo", "left", "port."] * 20
        + ["A", "storm", "hit", "the\n\n", "vessel."]
        + ["Calm"] * 40
    )
    ix = build_index([Document(id="long", title="Voyage", body=body)])
    hit = ix.search("storm vessel").hits[0]
    text, spans = hit.snippet.text, hit.snippet.highlights
    assert [text[a:b] for a, b in spans] == ["storm", "vessel"]
    assert text.startswith("…") and text.endswith("…") and "\n" not in text
    assert len(text) <= FRAGMENT_CHARS + 2
    assert hit.snippet.marked("[", "]").count("[") == 2
    two = ix.search("cargo OR storm", fragments=2).hits[0].snippet
    assert " … " in two.text and {two.text[a:b] for a, b in two.highlights} == {"cargo", "storm"}
    assert ix.search("storm", fragments=0).hits[0].snippet.text == ""


def test_get_returns_the_document_as_added(index):
    for doc in DOCS[:12]:
        assert index.get(doc.id) == doc
    with pytest.raises(DocumentNotFound, match="no document with id 'nope' in the index"):
        index.get("nope")


@pytest.mark.parametrize("bad", [None, 7, b"doc-01", ("doc-01",)])
def test_get_and_similar_reject_an_id_that_is_not_a_string(index, bad):
    for call in (index.get, index.similar):
        with pytest.raises(InvalidValue) as caught:
            call(bad)
        assert caught.value.name == "doc_id"
        assert str(caught.value) == f"doc_id: must be a string, not {bad!r}"
    # An empty id is well formed and names no document.
    with pytest.raises(DocumentNotFound):
        index.get("")


def test_similar_documents_share_key_words_and_exclude_the_document(index):
    source = DOCS[5]
    results = index.similar(source.id, limit=5)
    assert results.hits and source.id not in {h.id for h in results.hits}
    by_id = {d.id: d for d in DOCS}
    own = set(words_of(source, "title") + words_of(source, "body"))
    for hit in results.hits:
        other = by_id[hit.id]
        assert own & set(words_of(other, "title") + words_of(other, "body"))
    with pytest.raises(DocumentNotFound):
        index.similar("nope")


def test_explanations_add_up_to_the_score(index):
    for hit in index.search("cocoa OR storm", explain=True, limit=5).hits:
        assert hit.explanation
        assert math.isclose(sum(p.score for p in hit.explanation), hit.score, rel_tol=1e-3)


def test_a_misspelled_word_gets_a_suggestion_from_the_index(index):
    results = index.search("brazl cargo")
    assert results.suggestion == "brazil cargo"
    assert index.search("cargo").suggestion is None


# -- results as values, threads, a live index ------------------------------------------------


def test_results_outlive_the_searcher_and_serialise(index):
    results = index.search("cocoa", facets=["topics"], explain=True)
    index.close()
    data = json.loads(json.dumps(results.as_dict()))
    assert data["total"] == results.total and data["hits"][0]["id"] == results.hits[0].id
    assert results.hits[0].snippet.text and results.hits[0].title
    assert index.search("cocoa").total == results.total  # a closed Index opens again
    with pytest.raises(AttributeError):
        results.hits[0].score = 0  # frozen


def test_threads_share_one_index(index):
    queries = ["cocoa", "storm OR quota", "market", "brazil ghana", "*", "wheat grain"]
    expected = {q: [h.id for h in index.search(q, limit=20).hits] for q in queries}
    failures = []

    def work(seed):
        rng = random.Random(seed)
        for _ in range(15):
            q = rng.choice(queries)
            ids = [h.id for h in index.search(q, limit=20, facets=["topics"]).hits]
            if ids != expected[q]:
                failures.append(q)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_an_open_index_sees_additions_and_deletions_by_another_writer(build_index, tmp_path):
    ix = build_index(DOCS)
    before = ix.search("storm", facets=["topics"])
    searcher = ix._searcher
    old_keys = set(searcher._values.arrays)
    writer = Index(ix.path)
    new = Document(id="new", title="storm storm", body="storm", fields={"topics": ("grain",)})
    writer.add([new])
    after = ix.search("storm", facets=["topics"])
    assert after.total == before.total + 1 and after.hits[0].id == "new"
    grain = dict(tuple(c) for c in after.facets["topics"])["grain"]
    assert grain == dict(tuple(c) for c in before.facets["topics"]).get("grain", 0) + 1
    # The old segment's facet values were kept; only the new segment's were built.
    assert old_keys <= set(searcher._values.arrays)
    writer.delete(["new"])
    assert ix.search("storm").total == before.total
    assert "new" not in {h.id for h in ix.search("storm", limit=100).hits}


def test_searching_threads_see_what_another_process_adds(build_index):
    ix = build_index(DOCS)
    before = ix.search("storm").total
    stop = threading.Event()
    errors = []

    def keep_searching():
        while not stop.is_set():
            try:
                ix.search("storm", facets=["topics"], sort="-date")
            except Exception as exc:  # any failure at all is what this test looks for
                errors.append(exc)

    threads = [threading.Thread(target=keep_searching) for _ in range(3)]
    for t in threads:
        t.start()
    code = (
        "import sys; from searchkit import Document, Index; "
        "Index(sys.argv[1]).add([Document(id='far', title='storm', body='storm storm')])"
    )
    try:
        subprocess.run([sys.executable, "-c", code, str(ix.path)], check=True, timeout=120)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    after = ix.search("storm", limit=100)
    assert after.total == before + 1 and "far" in {h.id for h in after.hits}


def test_an_open_index_follows_a_rebuild_to_the_new_generation(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(" date 2020-03-14 Storm over the port.\n", encoding="utf-8")
    ix = Index(tmp_path / "rebuilt")
    ix.update([corpus])
    assert ix.search("storm").total == 1
    first = IndexDirectory(ix.path).read_meta().current
    (corpus / "b.txt").write_text(" date 2020-04 Another storm.\n", encoding="utf-8")
    Index(ix.path).update(rebuild=True)
    assert IndexDirectory(ix.path).read_meta().current != first
    assert ix.search("storm").total == 2
    ix.close()


_CUT_SEGMENT_UNDER_A_SEARCHER = """
import sys
from pathlib import Path
from searchkit import Index
from searchkit.store import IndexDirectory

ix = Index(sys.argv[1])
assert ix.search("storm").total == 400
generation = Path(sys.argv[1]) / IndexDirectory(sys.argv[1]).read_meta().current
with open(next(generation.glob("*.seg")), "r+b") as f:
    f.truncate(4096)
try:
    ix.search("port", limit=50)
    ix.get("d399")
except Exception as exc:
    print("raised", type(exc).__name__)
print("survived")
"""


def test_a_segment_cut_short_under_an_open_searcher_does_not_kill_the_process(build_index):
    # Memory-mapped segment files would die here with SIGBUS (exit -7), taking a long-lived
    # searcher (a watcher, a server) down with them; plain reads raise an error instead.
    docs = [
        Document(id=f"d{i}", title=f"storm {i}", body="storm over the port " * (i % 50 + 1))
        for i in range(400)
    ]
    ix = build_index(docs)
    ix.close()
    done = subprocess.run(
        [sys.executable, "-c", _CUT_SEGMENT_UNDER_A_SEARCHER, str(ix.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.endswith("survived\n")


# -- the fast paths agree with Whoosh's own (tests/test_whoosh_reading.py: the internals) ----


def phrase_count(words: list[str], phrase: list[str]) -> int:
    return sum(words[i : i + len(phrase)] == phrase for i in range(len(words)))


def bm25f_phrase(doc: Document, phrase: list[str], docs: list[Document]) -> float:
    """A phrase scored as one word whose frequency is how often the phrase occurs."""
    n = len(docs)
    average = {f: sum(len(words_of(d, f)) for d in docs) / n for f in ("title", "body")}

    def tf_of(d: Document) -> float:
        tf = 0.0
        for field in ("title", "body"):
            weight = TITLE_BOOST if field == "title" else 1.0
            norm = 1 - BM25_B + BM25_B * len(words_of(d, field)) / average[field]
            tf += weight * phrase_count(words_of(d, field), phrase) / norm
        return tf

    df = sum(1 for d in docs if tf_of(d))
    tf = tf_of(doc)
    return math.log(1 + (n - df + 0.5) / (df + 0.5)) * (BM25_K1 + 1) * tf / (BM25_K1 + tf)


def test_every_query_type_matches_what_whoosh_matches_scored_by_bm25f(index):
    searcher = index._open_searcher()
    index.search("warm up")
    _, whoosh_ix = IndexDirectory(index.path).open_current()
    vocabulary = sorted({w for d in DOCS for f in ("title", "body") for w in words_of(d, f)})
    marks = [w for w in vocabulary if w.startswith("mark")]
    crops = [
        w
        for w in vocabulary
        if w == "crop" or (len(w) == 4 and sum(a != b for a, b in zip(w, "crop", strict=True)) <= 1)
    ]
    with whoosh_ix.searcher() as whoosh_searcher:
        for text, words in [
            ("cocoa", ["cocoa"]),
            ("storm OR quota", ["storm", "quota"]),
            ("mark*", marks),
            ("cocoa NOT quota", ["cocoa"]),
            ("crop~", crops),
            ('"cargo vessel"', None),
        ]:
            q = searcher._parser.parse(text, strict=True).query
            theirs = {h["id"] for h in whoosh_searcher.search(q, limit=None)}
            results = index.search(text, limit=100, strict=True)
            assert {h.id for h in results.hits} == theirs and theirs, text
            by_id = {d.id: d for d in DOCS}
            for hit in results.hits:
                doc = by_id[hit.id]
                if words is None:
                    expected = bm25f_phrase(doc, ["cargo", "vessel"], DOCS)
                else:
                    expected = bm25f(doc, words, DOCS)
                assert round(hit.score, 6) == round(expected, 6), (text, hit.id)


def test_column_and_length_arrays_equal_whooshs_per_document_values(index):
    searcher = index._open_searcher()
    index.search("cocoa", sort="date")
    with searcher._lock:
        reader = searcher._whoosh.reader()
        n = reader.doc_count_all()
        for field in ("title", "body"):
            assert searcher._scorer.lengths(field).tolist() == [
                reader.doc_field_length(d, field, 1) or 1 for d in range(n)
            ]
        missing = reader.schema["date"].column_type.default_value()
        column = list(reader.column_reader("date", translate=False))
        numbers, dated = searcher._values.dates()
        assert dated.tolist() == [v != missing for v in column]
        assert [x for x, d in zip(numbers.tolist(), dated.tolist(), strict=True) if d] == [
            v for v in column if v != missing
        ]


def test_an_empty_index_finds_nothing_without_error(tmp_path):
    with Index.create(tmp_path / "empty") as ix:
        results = ix.search("cocoa", facets=["year", "month"], sort="-date", since="2020")
        assert (results.total, results.hits) == (0, ())
        assert dict(results.facets) == {"year": (), "month": ()}
        with pytest.raises(DocumentNotFound):
            ix.get("x")


# -- arguments and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"sort": "newest"},
            UsageError,
            "sort must be one of relevance, date, -date, not 'newest'",
        ),
        ({"limit": 0}, UsageError, "limit must be a whole number of 1 or more, not 0"),
        ({"page": 0}, UsageError, "page must be a whole number of 1 or more, not 0"),
        ({"fragments": -1}, UsageError, "fragments must be 0 or more, not -1"),
        ({"since": "someday"}, DateError, "cannot parse date 'someday'"),
        ({"where": {"topic": "grain"}}, UsageError, "no field 'topic' to filter on"),
        ({"since": "2021", "until": "2020"}, DateError, "cannot parse date '2021'"),
    ],
)
def test_bad_arguments_are_errors_with_a_message(index, kwargs, error, message):
    with pytest.raises(error) as caught:
        index.search("cocoa", **kwargs)
    assert str(caught.value).startswith(message)


def test_strict_mode_raises_where_lenient_mode_searches(index):
    assert index.search('"cocoa market').total > 0
    with pytest.raises(QuerySyntaxError, match="unclosed quote at column 1"):
        index.search('"cocoa market', strict=True)


# -- no query text produces a traceback ------------------------------------------------------

SYNTAX = [
    "AND",
    "OR",
    "NOT",
    "ANDNOT",
    "ANDMAYBE",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    ":",
    "*",
    "?",
    "~",
    "~2",
    "^",
    "^2",
    ">",
    "<",
    ">=",
    "to",
    "TO",
    "title:",
    "body:",
    "date:",
    "date:>",
    "places:",
    "topics:",
    "year:",
    "month:",
    "id:",
    "path:",
    "foo:",
    "*:*",
    "-",
    "+",
    "\\",
    "/",
    "2020",
    "2020-03",
    "cocoa",
    "storm",
    "market",
    "\x00",
    "\n",
    "é",
    "日本",
    "ǅ",
]
query_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=6)), max_size=12).map(
        lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts)
    ),
)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    ix = Index(tmp_path_factory.mktemp("fuzz") / "index")
    ix.add(DOCS[:20])
    yield ix
    ix.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=query_text)
def test_no_query_text_produces_a_traceback(small_index, text):
    for strict in (False, True):
        try:
            results = small_index.search(text, strict=strict, facets=["topics"])
        except QuerySyntaxError:
            assert strict, "lenient mode never rejects syntax"
        except SearchkitError:
            pass
        else:
            assert results.total >= len(results.hits)


# -- the real Reuters corpus -----------------------------------------------------------------


@pytest.fixture(scope="module")
def reuters(reuters_index):
    records = [json.loads(line) for line in REUTERS.read_text(encoding="utf-8").splitlines()]
    with Index(reuters_index) as ix:
        yield ix, records


def _reuters_counts(records, field):
    return Counter(v for r in records for v in set(r.get(field) or ()))


@needs_shared
def test_reuters_facets_equal_counts_from_the_jsonl(reuters):
    ix, records = reuters
    results = ix.search("*", facets=["topics", "places", "month"], facet_limit=None, limit=1)
    assert results.total == len(records) == 21578
    for field in ("topics", "places"):
        assert dict(tuple(c) for c in results.facets[field]) == _reuters_counts(records, field)
    months = Counter(r["date"][:7] for r in records if r.get("date"))
    assert [tuple(c) for c in results.facets["month"]] == sorted(months.items())


@needs_shared
def test_reuters_filtered_facets_equal_counts_from_the_jsonl(reuters):
    ix, records = reuters
    results = ix.search(
        "*",
        where={"places": "brazil"},
        since="1987-03-15",
        until="1987-04",
        facets=["topics", "day"],
        facet_limit=None,
    )
    chosen = [
        r
        for r in records
        if "brazil" in (r.get("places") or ())
        and r.get("date")
        and "1987-03-15" <= r["date"][:10] <= "1987-04-30"
    ]
    assert results.total == len(chosen) > 0
    assert dict(tuple(c) for c in results.facets["topics"]) == _reuters_counts(chosen, "topics")
    days = Counter(r["date"][:10] for r in chosen)
    assert [tuple(c) for c in results.facets["day"]] == sorted(days.items())


@given(
    text=st.text(alphabet=" \t\nab.\u00a0\u2003", max_size=120),
    data=st.data(),
)
def test_a_snippet_window_ends_at_the_last_run_of_spaces_before_its_limit(text, data):
    from searchkit.highlight import _cut_end

    last = data.draw(st.integers(0, len(text)))
    limit = data.draw(st.integers(last, len(text) + 3))
    if limit >= len(text):
        expected = len(text)
    else:
        runs = [last + m.start() for m in re.finditer(r"\s+", text[last:limit])]
        expected = runs[-1] if runs else max(last, limit)
    assert _cut_end(text, 0, last, limit) == expected
