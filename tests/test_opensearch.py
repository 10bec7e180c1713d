"""searchkit past one machine (issue 15): the OpenSearch mapping, export files, pushes, query
translation and response mapping, without a cluster.

Every request body is validated against the official OpenSearch API specification (vendored
in tests/data/opensearch-spec) with jsonschema, plus a check that no key is one the
specification does not name. The cluster is a loopback HTTP server started per test.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from helpers import (
    BULK_ITEM,
    BULK_RESPONSE,
    CREATE_BODY,
    OPERATION,
    SEARCH_BODY,
    SEARCH_RESPONSE,
    SPEC,
    FakeCluster,
    Spec,
    ndjson_pairs,
    run_cli,
    serving,
)

from searchkit import Document, Index, schema, scoring
from searchkit.dates import PartialDate
from searchkit.errors import IndexNotFound, UsageError
from searchkit.search import FacetCount, Hit, Results, Snippet

pytest.importorskip("yaml")
pytest.importorskip("jsonschema")
pytest.importorskip("referencing")
pytest.importorskip("opensearchpy")

from searchkit.opensearch import (  # noqa: E402
    ClusterError,
    OpenSearchIndex,
    export_files,
    index_body,
    push_folder,
)
from searchkit.opensearch.export import bulk_batches  # noqa: E402
from searchkit.opensearch.push import STATE_FILE  # noqa: E402
from searchkit.opensearch.translate import MARK_END, MARK_START  # noqa: E402

# -- the specification ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(SPEC)


def test_the_key_check_rejects_what_the_specification_does_not_name(spec):
    # The check itself: a misspelt `relation` and an unknown query both fail; the good pass.
    good = {"query": {"range": {"date": {"gte": "2020-01-01", "relation": "within"}}}}
    assert spec.problems(good, SEARCH_BODY) == []
    typo = {"query": {"range": {"date": {"gte": "2020-01-01", "relaton": "WITHIN"}}}}
    assert spec.problems(typo, SEARCH_BODY) != []
    assert spec.problems({"query": {"no_such_query": {}}}, SEARCH_BODY) != []
    bad_enum = {"query": {"range": {"date": {"gte": "2020", "relation": "inside"}}}}
    assert spec.problems(bad_enum, SEARCH_BODY) != []


# -- documents -------------------------------------------------------------------------------


def _doc(doc_id, title, body, date=None, **fields):
    return Document(
        id=doc_id,
        title=title,
        body=body,
        date=PartialDate.parse(date) if date else None,
        fields={k: tuple(v) for k, v in fields.items()},
    )


DOCS = [
    _doc(
        "a1",
        "Cocoa prices rise",
        "Cocoa beans from Brazil cost more.",
        "2020-03",
        places=["Brazil"],
    ),
    _doc(
        "a2",
        "Coffee harvest",
        "Brazil's coffee and cocoa crops.",
        "2020-03-14",
        places=["Brazil", "Perú"],
        topics=["coffee"],
    ),
    _doc("a3", "Lockdown in Italy", "Italy tightened its lockdown.", "2020", places=["Italy"]),
    _doc("a4", "Città news", "An undated note with a *star*.", None, author=["Ana Núñez"]),
    _doc("a5", "Rates", "Interest rates in Japan.", "2019-12-31T23:30:00Z", places=["Japan"]),
]


@pytest.fixture
def index(tmp_path) -> Index:
    with Index(tmp_path / "index") as ix:
        ix.add(DOCS)
        yield ix


# -- mapping ---------------------------------------------------------------------------------


def test_index_body_is_valid_and_follows_searchkits_names(spec, monkeypatch):
    body = index_body()
    assert spec.problems(body, CREATE_BODY) == []
    analysis = body["settings"]["analysis"]
    filters = analysis["filter"]
    assert filters["searchkit_stop"]["stopwords"] == sorted(schema.STOP_WORDS)
    assert len(filters["searchkit_stop"]["stopwords"]) == 179
    # Snowball English is "porter2" in OpenSearch ("english" is the older Porter stemmer).
    assert schema.STEM_LANGUAGE == "english"
    assert filters["searchkit_stem"] == {"type": "stemmer", "language": "porter2"}
    assert filters["searchkit_min_length"] == {"type": "length", "min": 2}
    chain = analysis["analyzer"]["searchkit_text"]
    assert chain["filter"] == [
        "lowercase",
        "asciifolding",
        "searchkit_min_length",
        "searchkit_stop",
        "searchkit_stem",
    ]
    assert analysis["tokenizer"][chain["tokenizer"]]["pattern"] == "\\w+"
    assert analysis["normalizer"]["searchkit_keyword"]["filter"] == ["lowercase", "asciifolding"]
    similarity = body["settings"]["index"]["similarity"]["bm25"]
    assert similarity["type"] == "BM25"
    assert (similarity["k1"], similarity["b"]) == (scoring.BM25_K1, scoring.BM25_B)
    props = body["mappings"]["properties"]
    for name in ("title", "body"):
        assert props[name]["similarity"] == "bm25"
        assert props[name]["analyzer"] == "searchkit_text"
        assert props[name]["index_options"] == "offsets"  # positions too: phrases, highlights
    assert props["date"]["type"] == "date_range"
    assert {props[n]["type"] for n in ("year", "month", "day")} == {"keyword"}
    template = body["mappings"]["dynamic_templates"][0]["metadata"]["mapping"]
    assert template["type"] == "keyword" and template["normalizer"] == "searchkit_keyword"
    assert template["fields"]["text"]["analyzer"] == "searchkit_text"
    # Read when called: the ranking change's values reach the mapping with no edit here.
    monkeypatch.setattr(scoring, "BM25_K1", 2.5)
    monkeypatch.setattr(scoring, "BM25_B", 0.75)
    assert index_body()["settings"]["index"]["similarity"]["bm25"]["k1"] == 2.5
    assert index_body()["settings"]["index"]["similarity"]["bm25"]["b"] == 0.75


# -- export ----------------------------------------------------------------------------------


def test_export_writes_bounded_bulk_files_with_the_same_ids(index, tmp_path, spec):
    out = tmp_path / "export"
    report = export_files(index.documents(), out, index_name="news", max_bytes=400)
    assert report.documents == len(DOCS)
    assert len(report.files) > 1
    assert json.loads((out / "index.json").read_text()) == index_body()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == {"index_name": "news", "documents": 5, "files": list(report.files)}
    sources = {}
    for name in report.files:
        data = (out / name).read_bytes()
        pairs = ndjson_pairs(data)
        # Bounded: a file holds more than one document only while it fits in 400 bytes.
        assert len(pairs) == 1 or len(data) <= 400
        for action, source in pairs:
            assert spec.problems(action, OPERATION) == []
            assert spec.problems(action, BULK_ITEM) == [] and spec.problems(source, BULK_ITEM) == []
            assert action == {"index": {"_id": source["id"]}}
            sources[source["id"]] = source
    assert sorted(sources) == sorted(d.id for d in DOCS)
    a2 = sources["a2"]
    assert a2["date"] == {"gte": "2020-03-14T00:00:00.000Z", "lte": "2020-03-14T23:59:59.999Z"}
    assert (a2["year"], a2["month"], a2["day"], a2["date_text"]) == (
        "2020",
        "2020-03",
        "2020-03-14",
        "2020-03-14",
    )
    assert a2["places"] == ["Brazil", "Perú"] and a2["topics"] == ["coffee"]
    assert a2["meta"] == {"places": ["Brazil", "Perú"], "topics": ["coffee"]}
    a1 = sources["a1"]
    assert a1["date"] == {"gte": "2020-03-01T00:00:00.000Z", "lte": "2020-03-31T23:59:59.999Z"}
    assert "day" not in a1 and a1["month"] == "2020-03"
    a5 = sources["a5"]
    assert a5["date"] == {"gte": "2019-12-31T23:30:00.000Z", "lte": "2019-12-31T23:30:00.000Z"}
    assert "date" not in sources["a4"] and "year" not in sources["a4"]
    assert sources["a4"]["body"] == "An undated note with a *star*."
    with pytest.raises(UsageError, match="already holds an export"):
        export_files(index.documents(), out, index_name="news")


def test_a_document_larger_than_the_bound_goes_alone():
    batches = list(bulk_batches(DOCS, max_bytes=1))
    assert [len(ndjson_pairs(b)) for b in batches] == [1] * len(DOCS)


# -- query translation -----------------------------------------------------------------------

FIELDS = ("places", "topics", "folder", "author", "organization")
BOTH = ["title^2", "body"]
NOW = datetime(2026, 12, 2, 12, 0, 0)


def _translate(text: str, **options):
    cluster = OpenSearchIndex("http://127.0.0.1:9", "news", fields=FIELDS)
    return cluster.translate(text, now=NOW, **options)


def _query(text: str, **options):
    return _translate(text, **options).body["query"]


def _words(query: str, operator: str, fields=BOTH, **extra) -> dict:
    return {"combined_fields": {"query": query, "fields": fields, "operator": operator, **extra}}


def _within(gte=None, lte=None) -> dict:
    bounds = {"relation": "within"}
    if gte:
        bounds["gte"] = gte
    if lte:
        bounds["lte"] = lte
    return {"range": {"date": bounds}}


def test_default_words_match_any_word_every_word_first():
    translation = _translate("lockdown italy")
    any_word = _words("lockdown italy", "or")
    every_word = _words("lockdown italy", "and")
    # Two words: no document reaches 2 words x 64 x (title 2 + body 1) without every word.
    assert translation.tier == 512.0
    assert translation.body["query"] == {
        "bool": {
            "should": [
                any_word,
                {
                    "constant_score": {
                        "filter": every_word,
                        "boost": 512.0,
                        "_name": "every_word",
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }
    # The every-word count, for `Results.relaxed` and the note.
    assert translation.body["aggs"]["every_word"] == {"filter": every_word}


def test_strict_words_are_all_required():
    assert _query("lockdown italy", strict=True) == {
        "bool": {"must": [_words("lockdown italy", "and")]}
    }


def test_boolean_operators_keep_their_meaning():
    assert _query("cocoa OR coffee") == _words("cocoa coffee", "or")
    assert _query("rates NOT japan") == {
        "bool": {"must": [_words("rates", "and"), {"bool": {"must_not": [_words("japan", "or")]}}]}
    }
    assert _query("(cocoa OR coffee) AND brazil") == {
        "bool": {"must": [_words("brazil", "and"), _words("cocoa coffee", "or")]}
    }


def test_a_phrase_in_both_fields_title_weighted():
    def phrase(field, text, slop=0, **extra):
        return {"match_phrase": {field: {"query": text, "slop": slop, **extra}}}

    assert _query('"health workers"') == {
        "bool": {
            "should": [
                phrase("title", "health workers", boost=schema.TITLE_BOOST),
                phrase("body", "health workers"),
            ],
            "minimum_should_match": 1,
        }
    }
    # As typed, so that the stop word keeps its place; Whoosh's slop 3 is Lucene's 2.
    assert _query('title:"Bank of Japan"~3') == phrase(
        "title", "Bank of Japan", slop=2, boost=schema.TITLE_BOOST
    )


def test_a_phrase_not_found_in_the_text_goes_as_searchkits_terms():
    from searchkit.opensearch import search_body
    from searchkit.query import QueryParser

    parsed = QueryParser(schema.build_schema()).parse('"health workers"')
    body = search_body(parsed, limit=10).body  # no typed phrases given
    assert body["query"]["bool"]["should"][1] == {
        "match_phrase": {
            "body": {"query": "health worker", "analyzer": "searchkit_terms", "slop": 0}
        }
    }


def _value_or_word(field: str, value: str) -> dict:
    """A metadata value (folded as searchkit folds it) or a word of one, never scored."""
    return {
        "bool": {
            "should": [
                {"constant_score": {"filter": {"term": {field: value}}, "boost": 0.0}},
                {
                    "constant_score": {
                        "filter": {"match": {f"{field}.text": {"query": value}}},
                        "boost": 0.0,
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def test_a_word_in_one_field_and_metadata_values():
    assert _query("title:vaccine") == _words("vaccine", "and", ["title^2"])
    # Metadata fields find a whole value or a value holding the word (`author:jane` finds
    # "Jane Doe"), as a local search does.
    for text, field, value in (
        ("places:brazil", "places", "brazil"),
        ("folder:sport", "folder", "sport"),
        ("Places:BRAZIL", "places", "brazil"),
    ):
        assert _query(text) == _value_or_word(field, value), text
    assert _query("cocoa places:brazil") == {
        "bool": {
            "must": [_words("cocoa", "and")],
            "filter": [_value_or_word("places", "brazil")],
        }
    }


def test_wildcards_and_fuzzy_words():
    title_boost = schema.TITLE_BOOST
    translation = _translate("vacc*")
    assert translation.body["query"] == {
        "bool": {
            "should": [
                {"prefix": {"title": {"value": "vacc", "boost": title_boost}}},
                {"prefix": {"body": {"value": "vacc"}}},
            ],
            "minimum_should_match": 1,
        }
    }
    assert any("wildcards" in n for n in translation.notes)
    assert _query("v?cc*") == {
        "bool": {
            "should": [
                {"wildcard": {"title": {"value": "v?cc*", "boost": title_boost}}},
                {"wildcard": {"body": {"value": "v?cc*"}}},
            ],
            "minimum_should_match": 1,
        }
    }

    def fuzzy(field, edits, **extra):
        return {
            "fuzzy": {field: {"value": "colour", "fuzziness": edits, "prefix_length": 1, **extra}}
        }

    assert _query("colour~") == {
        "bool": {
            "should": [fuzzy("title", "1", boost=title_boost), fuzzy("body", "1")],
            "minimum_should_match": 1,
        }
    }
    capped = _translate("colour~5")
    assert capped.body["query"]["bool"]["should"][1] == fuzzy("body", "2")
    assert "'colour~5' searched as 'colour~2'" in capped.notes


@pytest.mark.parametrize(
    ("text", "gte", "lte"),
    [
        ("date:2020-03", "2020-03-01T00:00:00.000Z", "2020-03-31T23:59:59.999Z"),
        ("date:>=2020-03-14", "2020-03-14T00:00:00.000Z", None),
        ("date:[2019 TO 2020]", "2019-01-01T00:00:00.000Z", "2020-12-31T23:59:59.999Z"),
        ("date:<2020", None, "2019-12-31T23:59:59.999Z"),
    ],
)
def test_dates_match_whole_periods_inside_the_range(text, gte, lte):
    assert _query(text) == {"bool": {"must": [{"match_all": {}}], "filter": [_within(gte, lte)]}}
    assert _query(f"cocoa {text}") == {
        "bool": {"must": [_words("cocoa", "or")], "filter": [_within(gte, lte)]}
    }


def test_since_until_where_and_a_date_clause_are_filters():
    query = _query(
        "cocoa date:2020",
        since="2020-03",
        until="march 2020",
        where=["places=Brazil", "places=Perú", "topics=coffee", "year=2020"],
    )
    assert query == {
        "bool": {
            "must": [_words("cocoa", "or")],
            "filter": [
                _within("2020-01-01T00:00:00.000Z", "2020-12-31T23:59:59.999Z"),
                _within("2020-03-01T00:00:00.000Z", "2020-03-31T23:59:59.999Z"),
                {"terms": {"places": ["brazil", "peru"]}},
                {"terms": {"topics": ["coffee"]}},
                {"terms": {"year": ["2020"]}},
            ],
        }
    }
    relative = _query("cocoa", since="7d")
    assert relative["bool"]["filter"] == [_within("2026-11-25T00:00:00.000Z")]


def test_facets_sort_pages_and_highlights():
    body = _translate(
        "cocoa",
        facets=["places", "year", "month"],
        facet_limit=3,
        sort="-date",
        limit=5,
        page=3,
        fragments=2,
    ).body
    assert (body["from"], body["size"], body["track_total_hits"]) == (10, 5, True)
    assert body["aggs"] == {
        "facet:places": {"terms": {"field": "places", "size": 3}},
        "facet:year": {"terms": {"field": "year", "size": 10_000, "order": {"_key": "asc"}}},
        "facet:month": {"terms": {"field": "month", "size": 10_000, "order": {"_key": "asc"}}},
    }
    assert body["sort"] == [
        {"date-start": {"order": "desc", "missing": "_last"}},
        {"id": "asc"},
    ]
    assert body["track_scores"] is True
    highlight = body["highlight"]
    assert highlight["fields"]["body"]["number_of_fragments"] == 2
    assert (highlight["pre_tags"], highlight["post_tags"]) == ([MARK_START], [MARK_END])
    assert "highlight" not in _translate("cocoa", fragments=0).body
    assert _translate("cocoa", sort="date").body["sort"][0] == {
        "date-start": {"order": "asc", "missing": "_last"}
    }
    assert "sort" not in _translate("cocoa").body


def test_by_date_every_word_documents_still_come_first():
    translation = _translate("cocoa brazil", sort="date")
    every_word = _words("cocoa brazil", "and")
    # Any word matches; the every-word clause is the only score, and the score sorts first.
    assert translation.body["query"] == {
        "bool": {
            "filter": [_words("cocoa brazil", "or")],
            "should": [
                {"constant_score": {"filter": every_word, "boost": 1.0, "_name": "every_word"}}
            ],
            "minimum_should_match": 0,
        }
    }
    assert translation.body["sort"][0] == {"_score": {"order": "desc"}}
    # The score is the tier alone (1 or 0), and a note says so: nothing to take off.
    assert translation.tier == 0.0
    assert any("scores are 1 (every word) or 0" in n for n in translation.notes)


def test_options_the_library_checks_before_translating():
    with pytest.raises(UsageError, match="no facet field 'colour'"):
        _translate("cocoa", facets=["colour"])
    with pytest.raises(UsageError, match="no field 'colour' to filter on"):
        _translate("cocoa", where=["colour=red"])
    with pytest.raises(UsageError, match="sort must be one of"):
        _translate("cocoa", sort="size")
    with pytest.raises(UsageError):
        _translate("cocoa", limit=0)
    nothing = _translate("the")
    assert nothing.body["query"] == {"match_none": {}}
    assert any("nothing to search for" in n for n in nothing.notes)
    assert any("score parts" in n for n in _translate("cocoa", explain=True).notes)


README = Path(__file__).resolve().parents[1] / "README.md"


def _syntax_table_queries() -> list[str]:
    """Every query in the first column of the README's query-syntax table."""
    text = README.read_text(encoding="utf-8")
    table = text.split("### Query syntax", 1)[1].split("\n\n", 2)[1]
    queries = []
    for row in table.splitlines()[2:]:
        cell = row.split("|")[1]
        queries += [q.replace("\\|", "|") for q in cell.split("`")[1::2]]
    return queries


OPTION_SETS = [
    {},
    {"strict": True},
    {"since": "2020-03", "until": "april 2020"},
    {"where": ["places=brazil", "topics=coffee"], "facets": ["places", "year", "month", "day"]},
    {"sort": "date", "limit": 3, "page": 2},
    {"sort": "-date", "fragments": 0},
    {"facet_limit": None, "facets": ["topics"], "fragments": 3, "explain": True},
]


def test_the_readme_table_is_read():
    queries = _syntax_table_queries()
    assert "lockdown italy" in queries and "date:[2019 TO 2020]" in queries
    assert len(queries) == 15  # 1 + 1 + 3 + 1 + 2 + 2 + 2 + 3 examples in its eight rows


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(o) or "defaults")
def test_every_readme_query_and_option_gives_a_valid_search_body(spec, options):
    for text in _syntax_table_queries():
        body = _translate(text, **options).body
        assert spec.problems(body, SEARCH_BODY) == [], text


# -- a cluster on the loopback ---------------------------------------------------------------


@pytest.fixture
def cluster():
    with serving(FakeCluster()) as server:
        yield server


# -- pushing ---------------------------------------------------------------------------------


def _bulk_requests(cluster) -> list[list[str]]:
    return [
        [a["index"]["_id"] for a, _ in ndjson_pairs(body)]
        for method, path, body in cluster.requests
        if path.startswith("/news/_bulk")
    ]


def test_push_retries_with_back_off_and_reports_refused_documents(index, tmp_path, cluster, spec):
    out = tmp_path / "export"
    export_files(index.documents(), out, index_name="news")
    cluster.request_status = [429, 503]
    cluster.item_status = {"a1": [429], "a3": [400]}
    sleeps: list[float] = []
    refused = []
    report = push_folder(
        out, cluster.url, sleep=sleeps.append, backoff=0.5, on_failure=refused.append
    )
    # The request twice refused as a whole (0.5 s, then 1 s), then a1 alone again (0.5 s).
    assert sleeps == [0.5, 1.0, 0.5]
    every = [d.id for d in DOCS]
    assert _bulk_requests(cluster) == [every, every, every, ["a1"]]
    assert sorted(cluster.indexed) == ["a1", "a2", "a4", "a5"]
    assert report.indexed == 4 and report.retries == 3 and report.created
    assert [(f.id, f.status) for f in report.failures] == [("a3", 400)]
    assert report.failures[0].reason == "mapper_parsing_exception: failed to index [a3]"
    assert refused == list(report.failures)
    create = [(m, p, b) for m, p, b in cluster.requests if m == "PUT"]
    assert len(create) == 1 and create[0][1].startswith("/news")
    assert spec.problems(json.loads(create[0][2]), CREATE_BODY) == []
    for _method, path, body in cluster.requests:
        if path.startswith("/news/_bulk"):
            for action, source in ndjson_pairs(body):
                assert spec.problems(action, BULK_ITEM) == []
                assert spec.problems(source, BULK_ITEM) == []


def test_the_fake_clusters_answers_have_the_specifications_shape(spec):
    answer = {
        "took": 3,
        "errors": True,
        "items": [
            {
                "index": {
                    "_index": "news",
                    "_id": "a1",
                    "status": 429,
                    "error": {"type": "x", "reason": "y"},
                }
            },
            {
                "index": {
                    "_index": "news",
                    "_id": "a2",
                    "status": 201,
                    "result": "created",
                    "_version": 1,
                    "_seq_no": 0,
                    "_primary_term": 1,
                    "_shards": {"total": 1, "successful": 1, "failed": 0},
                }
            },
        ],
    }
    assert spec.problems(answer, BULK_RESPONSE) == []


def test_retries_run_out_with_an_error_naming_the_status(index, tmp_path, cluster):
    out = tmp_path / "export"
    export_files(index.documents(), out, index_name="news")
    cluster.request_status = [429] * 3
    with pytest.raises(
        ClusterError, match=r"HTTP 429: es_rejected_execution_exception.*after 2 retries"
    ):
        push_folder(out, cluster.url, sleep=lambda s: None, retries=2)
    assert cluster.indexed == []


def test_an_interrupted_push_resumes_after_the_last_file_sent(index, tmp_path, cluster):
    out = tmp_path / "export"
    report = export_files(index.documents(), out, index_name="news", max_bytes=1)
    files = report.files
    assert len(files) == 5
    # The third file fails with a status that is not retried: the push stops there.
    cluster.request_status = [200, 200, 500]
    with pytest.raises(ClusterError, match="HTTP 500"):
        push_folder(out, cluster.url, sleep=lambda s: None)
    state = json.loads((out / STATE_FILE).read_text())
    assert state["done"] == list(files[:2]) and state["created"] is True
    first_run = list(cluster.indexed)
    assert len(first_run) == 2
    cluster.requests.clear()
    again = push_folder(out, cluster.url, sleep=lambda s: None)
    assert again.skipped_files == 2 and not again.created
    # Only the files after the last one sent, and no second create.
    assert [m for m, _, _ in cluster.requests] == ["POST"] * 3
    expected = [ndjson_pairs((out / f).read_bytes())[0][0]["index"]["_id"] for f in files[2:]]
    assert [ids[0] for ids in _bulk_requests(cluster)] == expected
    assert sorted(first_run + expected) == sorted(d.id for d in DOCS)
    assert sorted(set(cluster.indexed)) == sorted(d.id for d in DOCS)


# -- searching a cluster ---------------------------------------------------------------------

S, E = MARK_START, MARK_END


def _sample_response(tier: float) -> dict:
    """An answer to `cocoa brazil` (limit 3), shaped as the specification's SearchResponse."""
    return {
        "took": 7,
        "timed_out": False,
        "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": 3, "relation": "eq"},
            "max_score": tier + 1.25,
            "hits": [
                {
                    "_index": "news",
                    "_id": "a1",
                    "_score": tier + 1.25,
                    "_source": {
                        "id": "a1",
                        "title": "Cocoa prices rise",
                        "date_text": "2020-03",
                        "path": "/corpus/a1.md",
                        "places": ["Brazil"],
                        "meta": {"places": ["Brazil"]},
                    },
                    "highlight": {"body": [f"{S}Cocoa{E} beans from {S}Brazil{E} cost more."]},
                    "matched_queries": ["every_word"],
                },
                {
                    "_index": "news",
                    "_id": "a2",
                    "_score": tier + 0.5,
                    "_source": {
                        "id": "a2",
                        "title": "Coffee harvest",
                        "date_text": "2020-03-14",
                        "meta": {"places": ["Brazil", "Perú"], "topics": ["coffee"]},
                    },
                    "highlight": {"body": [f"{S}Brazil{E}'s coffee", f"and {S}cocoa{E} crops."]},
                    "matched_queries": ["every_word"],
                },
                {
                    "_index": "news",
                    "_id": "a4",
                    "_score": 0.75,
                    "_source": {"id": "a4", "title": "Città news"},
                },
            ],
        },
        "aggregations": {
            "facet:places": {
                "doc_count_error_upper_bound": 0,
                "sum_other_doc_count": 0,
                "buckets": [{"key": "brazil", "doc_count": 2}, {"key": "peru", "doc_count": 1}],
            },
            "facet:year": {
                "doc_count_error_upper_bound": 0,
                "sum_other_doc_count": 0,
                "buckets": [{"key": "2020", "doc_count": 2}],
            },
            "every_word": {"doc_count": 2},
        },
    }


def test_a_cluster_answer_becomes_searchkits_results(cluster, spec):
    cluster.indices.add("news")
    cluster.mapping = {
        "mappings": index_body()["mappings"]
        | {
            "properties": {
                **index_body()["mappings"]["properties"],
                "places": {"type": "keyword", "normalizer": "searchkit_keyword"},
                "topics": {"type": "keyword", "normalizer": "searchkit_keyword"},
            }
        }
    }
    tier = OpenSearchIndex(cluster.url, "news", fields=FIELDS).translate("cocoa brazil").tier
    cluster.search_response = _sample_response(tier)
    assert spec.problems(cluster.search_response, SEARCH_RESPONSE) == []
    with OpenSearchIndex(cluster.url, "news") as remote:
        results = remote.search("cocoa brazil", limit=3, facets=["places", "year"], fragments=2)
        assert remote.fields() == frozenset({"places", "topics"})
    sent = json.loads(cluster.requests[-1][2])
    assert cluster.requests[-1][:2] == ("POST", "/news/_search")
    expected_body = (
        OpenSearchIndex(cluster.url, "news", fields={"places", "topics"})
        .translate("cocoa brazil", limit=3, facets=["places", "year"], fragments=2)
        .body
    )
    assert sent == expected_body
    assert isinstance(results, Results)
    assert results.total == 3 and results.relaxed and results.page == 1 and results.limit == 3
    assert results.query == "((title:cocoa OR body:cocoa) AND (title:brazil OR body:brazil))"
    assert results.suggestion is None
    assert results.notes == ("2 documents hold every word; documents with some of them follow",)
    assert dict(results.facets) == {
        "places": (FacetCount("brazil", 2), FacetCount("peru", 1)),
        "year": (FacetCount("2020", 1 + 1),),
    }
    first, second, third = results.hits
    assert first == Hit(
        rank=1,
        id="a1",
        score=1.25,
        title="Cocoa prices rise",
        date="2020-03",
        path="/corpus/a1.md",
        fields={"places": ("Brazil",)},
        snippet=Snippet("Cocoa beans from Brazil cost more.", ((0, 5), (17, 23))),
    )
    joined = "Brazil's coffee … and cocoa crops."
    assert second.snippet == Snippet(
        joined, ((0, 6), (joined.index("cocoa"), joined.index("cocoa") + 5))
    )
    assert (second.rank, second.id, second.score, second.date, second.path) == (
        2,
        "a2",
        0.5,
        "2020-03-14",
        "",
    )
    assert dict(second.fields) == {"places": ("Brazil", "Perú"), "topics": ("coffee",)}
    # Not every word: no tier to take off; no date, no highlight.
    assert (third.rank, third.score, third.date, third.snippet) == (3, 0.75, None, Snippet())
    assert results.as_dict()["hits"][0]["snippet"]["highlights"] == [[0, 5], [17, 23]]


def test_a_missing_index_and_a_cluster_error(cluster):
    with pytest.raises(IndexNotFound, match=f"no index at {cluster.url}/gone"):
        OpenSearchIndex(cluster.url, "gone", fields=FIELDS).search("cocoa")
    cluster.indices.add("news")
    cluster.search_response = {}
    closed = OpenSearchIndex("http://127.0.0.1:1", "news", fields=FIELDS)
    with pytest.raises(ClusterError, match="cannot connect"):
        closed.search("cocoa")


# -- the command line ------------------------------------------------------------------------


def test_search_opensearch_body_prints_the_request_and_sends_nothing(index, cluster):
    result = run_cli(
        "search",
        "cocoa brazil",
        "--facet",
        "places",
        "--index",
        index.path,
        "--opensearch",
        cluster.url,
        "--opensearch-body",
    )
    assert result.exit_code == 0, result.output
    fields = {f.name for f in index.stats().fields} - {"year", "month", "day"}
    assert fields == {"places", "topics", "author"}
    expected = OpenSearchIndex("http://x", "searchkit", fields=fields).translate(
        "cocoa brazil", facets=["places"], facet_limit=10, where=[], sort="relevance", limit=10
    )
    assert json.loads(result.stdout) == expected.body
    assert cluster.requests == []  # the field names came from the local index


def test_search_opensearch_outputs_as_a_local_search(cluster):
    cluster.indices.add("news")
    cluster.mapping = {"mappings": {"properties": {"places": {"type": "keyword"}}}}
    cluster.search_response = _sample_response(512.0)
    result = run_cli(
        "search",
        "cocoa brazil",
        "--opensearch",
        cluster.url,
        "--index-name",
        "news",
        "--format",
        "json",
        "-n",
        "3",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [h["id"] for h in data["hits"]] == ["a1", "a2", "a4"]
    assert [h["score"] for h in data["hits"]] == [1.25, 0.5, 0.75]
    assert data["total"] == 3 and data["relaxed"] is True
    count = run_cli(
        "search", "cocoa brazil", "--opensearch", cluster.url, "--index-name", "news", "--count"
    )
    assert count.stdout == "3\n"
    text = run_cli(
        "search", "cocoa brazil", "--opensearch", cluster.url, "--index-name", "news", "-n", "3"
    )
    assert text.exit_code == 0, text.stderr
    assert "**Cocoa** beans from **Brazil** cost more." in text.stdout
    assert "note: 2 documents hold every word; documents with some of them follow" in text.stderr


def test_export_command_writes_and_loads(index, tmp_path, cluster):
    out = tmp_path / "export"
    result = run_cli(
        "export", "--index", index.path, "--opensearch", str(out), "--index-name", "news"
    )
    assert result.exit_code == 0, result.stderr
    assert "5 documents in 1 bulk file" in result.stderr
    assert json.loads((out / "manifest.json").read_text())["index_name"] == "news"
    cluster.item_status = {"a3": [400]}
    loaded = run_cli("export", "--opensearch", str(out), "--opensearch-url", cluster.url)
    assert loaded.exit_code == 4, loaded.stderr
    assert "refused: a3: HTTP 400 mapper_parsing_exception: failed to index [a3]" in loaded.stderr
    assert "4 documents indexed into news" in loaded.stderr
    nothing = run_cli("export", "--index", index.path)
    assert nothing.exit_code == 2
    assert "give --opensearch DIR, --opensearch-url URL, or both" in nothing.stderr


def test_push_to_nothing_retries_then_says_it_cannot_connect(index, tmp_path):
    out = tmp_path / "export"
    export_files(index.documents(), out, index_name="news")
    sleeps: list[float] = []
    with pytest.raises(ClusterError, match=r"cannot connect .*after 2 retries"):
        push_folder(out, "http://127.0.0.1:1", sleep=sleeps.append, retries=2, backoff=0.25)
    assert sleeps == [0.25, 0.5]


def test_index_name_without_a_cluster_is_a_usage_error(index):
    result = run_cli("search", "cocoa", "--index", index.path, "--index-name", "news")
    assert result.exit_code == 2
    assert "--index-name needs --opensearch URL or --opensearch-body" in result.stderr


QUERY_PIECES = [
    "cocoa",
    "Brazil",
    "the",
    "città",
    "covid-19",
    "AND",
    "OR",
    "NOT",
    "(",
    ")",
    '"',
    "*",
    "?",
    "~",
    "~2",
    "^2",
    ":",
    "title:",
    "places:",
    "date:",
    "2020-03",
    ">=",
    "[",
    "]",
    " TO ",
    "{",
    "}",
    "-",
    "+",
    "'",
    "id:",
    "year:",
    "body:",
]


def test_no_query_text_gives_an_invalid_body(spec):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from searchkit.errors import SearchkitError

    pieces = st.lists(st.sampled_from(QUERY_PIECES) | st.text(max_size=4), max_size=8)

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(pieces.map(" ".join) | pieces.map("".join), st.booleans())
    def check(text, strict):
        try:
            translation = _translate(text, strict=strict)
        except SearchkitError as exc:
            # A query error with --strict, a date that is not one: said, not sent. Every
            # clause the parser can build has a translation.
            assert "cannot translate" not in str(exc), text
            return
        assert spec.problems(translation.body, SEARCH_BODY) == [], text

    check()


def test_what_the_cluster_says_about_its_answer_becomes_notes(spec):
    from searchkit.opensearch.response import results_from

    translation = _translate("cocoa", facets=["places"])
    answer = {
        "took": 2,
        "timed_out": True,
        "_shards": {"total": 3, "successful": 2, "skipped": 0, "failed": 1},
        "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []},
        "aggregations": {
            "facet:places": {
                "doc_count_error_upper_bound": 4,
                "sum_other_doc_count": 0,
                "buckets": [],
            }
        },
    }
    assert spec.problems(answer, SEARCH_RESPONSE) == []
    results = results_from(answer, translation, page=1, limit=10)
    assert results.total == 0 and results.hits == () and not results.relaxed
    assert dict(results.facets) == {"places": ()}
    assert results.notes == (
        "facet places: counts are approximate on OpenSearch (up to 4 off)",
        "the cluster timed out: the hits are those found in time",
        "1 of 3 shards failed to answer",
    )
