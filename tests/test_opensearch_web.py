"""A cluster behind the Python API's `get`, `similar` and `stats` and behind `searchkit serve
--opensearch` (issue 15): the answers of a fake cluster on the loopback, shaped as the
OpenSearch API specification documents them, become the same `Document`, `Results` and
`IndexStats` as a local index gives, and the same page and JSON.

What the cluster answers is computed here from the test's documents, and each value the
library returns is compared with what a local index of the same documents returns.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from helpers import (
    REQUESTS,
    SEARCH_BODY,
    SEARCH_RESPONSE,
    SPEC,
    FakeCluster,
    Spec,
    run_cli,
    serving,
)

from searchkit import Document, Index, payload, warm
from searchkit.dates import PartialDate
from searchkit.errors import DocumentNotFound, IndexNotFound, InvalidValue, SearchkitError
from searchkit.schema import DATE_FACETS, fold_keyword

pytest.importorskip("yaml")
pytest.importorskip("jsonschema")
pytest.importorskip("referencing")
pytest.importorskip("opensearchpy")

from searchkit.opensearch import ClusterError, OpenSearchIndex, index_body  # noqa: E402
from searchkit.opensearch.mapping import source_of  # noqa: E402
from searchkit.opensearch.translate import MARK_END, MARK_START  # noqa: E402
from searchkit.web import SearchServer  # noqa: E402

COUNT_BODY = f"{REQUESTS}/requestBodies/count/content/application~1json/schema"
COUNT_RESPONSE = f"{REQUESTS}/responses/count@200/content/application~1json/schema"
GET_RESPONSE = f"{REQUESTS}/responses/get@200/content/application~1json/schema"
GET_MISSING = f"{REQUESTS}/responses/get@404/content/application~1json/schema"
STATS_RESPONSE = f"{REQUESTS}/responses/indices.stats@200/content/application~1json/schema"

NAME = "news"
#: An id with a slash, a space and an accent: it must reach the cluster as one path segment.
ODD_ID = "2020/città 1"


def _doc(doc_id, title, body, date=None, path="", **fields) -> Document:
    return Document(
        id=doc_id,
        title=title,
        body=body,
        date=PartialDate.parse(date) if date else None,
        path=path,
        fields={k: tuple(v) for k, v in fields.items()},
    )


DOCS = [
    _doc(
        "a1",
        "Cocoa prices rise",
        "Cocoa beans from Brazil cost more.\n\nTraders expect more.",
        "2020-03",
        "/corpus/a1.md",
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
    _doc(ODD_ID, "Città news", "An undated note about cocoa.", None, author=["Ana Núñez"]),
    _doc("a5", "Rates", "Interest rates in Japan.", "2019-12-31T23:30:00Z", places=["Japan"]),
]
BY_ID = {d.id: d for d in DOCS}
SOURCES = {d.id: source_of(d) for d in DOCS}
#: The metadata fields of the cluster's mapping; `folder` is mapped but no document has one.
MAPPED = ("author", "folder", "places", "topics")
SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(SPEC)


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[Index]:
    """The same documents in a local index: what the cluster's answers must come back as."""
    with Index(tmp_path_factory.mktemp("local") / "index") as ix:
        ix.add(DOCS)
        yield ix


# -- what the fake cluster answers, computed from DOCS ---------------------------------------


def _values(source: dict, field: str) -> list[str]:
    value = source.get(field)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _folded(source: dict, field: str) -> set[str]:
    # The keyword normalizer (lowercase + ASCII folding) as the mapping asks it; date keys as is.
    return {v if field in DATE_FACETS else fold_keyword(v) for v in _values(source, field)}


def _hit(doc_id: str, score: float | None, **extra) -> dict:
    source = {k: v for k, v in SOURCES[doc_id].items() if k != "body"}
    return {"_index": NAME, "_id": doc_id, "_score": score, "_source": source, **extra}


def _search_answer(body: dict) -> dict:
    """A search for the one word `cocoa`: the documents saying it, every word's count and the
    facets the body asks for, counted over those documents."""
    matched = [d.id for d in DOCS if "cocoa" in f"{d.title} {d.body}".lower()]
    hits = [
        _hit(
            doc_id,
            2.0 - n / 10,
            highlight={"body": [BY_ID[doc_id].body.replace("ocoa", f"ocoa{MARK_END}")]},
        )
        for n, doc_id in enumerate(matched)
    ]
    for hit in hits:  # the mark before the word, as the cluster puts it
        hit["highlight"]["body"] = [
            f.replace("Cocoa", MARK_START + "Cocoa").replace("cocoa", MARK_START + "cocoa")
            for f in hit["highlight"]["body"]
        ]
    size, start = body.get("size", 10), body.get("from", 0)
    aggregations: dict = {}
    for name in body.get("aggs", {}):
        if name.startswith("facet:"):
            field = name.removeprefix("facet:")
            counts: dict[str, int] = {}
            for doc_id in matched:
                for value in _folded(SOURCES[doc_id], field):
                    counts[value] = counts.get(value, 0) + 1
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            if field in DATE_FACETS:
                ordered = sorted(counts.items())
            aggregations[name] = {
                "doc_count_error_upper_bound": 0,
                "sum_other_doc_count": 0,
                "buckets": [{"key": k, "doc_count": c} for k, c in ordered],
            }
        elif name == "every_word":
            aggregations[name] = {"doc_count": len(matched)}
    answer = {
        "took": 4,
        "timed_out": False,
        "_shards": SHARDS,
        "hits": {
            "total": {"value": len(matched), "relation": "eq"},
            "max_score": 2.0,
            "hits": hits[start : start + size],
        },
    }
    if aggregations:
        answer["aggregations"] = aggregations
    return answer


#: What the cluster's more_like_this finds for each document (chosen here: the hits' order is
#: the cluster's, not computed by searchkit).
LIKE = {"a2": ["a1", ODD_ID], "a1": ["a2"]}


def _similar_answer(body: dict) -> dict:
    (like,) = body["query"]["more_like_this"]["like"]
    found = LIKE.get(like["_id"], [])
    hits = [_hit(doc_id, 3.0 - n) for n, doc_id in enumerate(found)][: body["size"]]
    return {
        "took": 2,
        "timed_out": False,
        "_shards": SHARDS,
        "hits": {"total": {"value": len(found), "relation": "eq"}, "max_score": 3.0, "hits": hits},
    }


def _dated_order() -> list[str]:
    """Dated documents by period start, ties by id, as the statistics body sorts them."""
    dated = [d for d in DOCS if d.date is not None]
    return [d.id for d in sorted(dated, key=lambda d: (SOURCES[d.id]["date-start"], d.id))]


def _stats_answer(body: dict) -> dict:
    order = _dated_order()

    def top(doc_id: str) -> dict:
        source = {"date_text": SOURCES[doc_id]["date_text"]}
        hit = {"_index": NAME, "_id": doc_id, "_score": None, "_source": source}
        hit["sort"] = [SOURCES[doc_id]["date-start"], doc_id]
        total = {"value": len(DOCS), "relation": "eq"}
        return {"hits": {"total": total, "max_score": None, "hits": [hit]}}

    aggregations: dict = {"earliest": top(order[0]), "latest": top(order[-1])}
    for name in body["aggs"]:
        if name.startswith("distinct:"):
            field = name.removeprefix("distinct:")
            values = set().union(*(_folded(s, field) for s in SOURCES.values()))
            aggregations[name] = {"value": len(values)}
    return {
        "took": 3,
        "timed_out": False,
        "_shards": SHARDS,
        "hits": {"max_score": None, "hits": []},
        "aggregations": aggregations,
    }


def _answer(body: dict) -> dict:
    if "more_like_this" in body.get("query", {}):
        return _similar_answer(body)
    if "earliest" in body.get("aggs", {}):
        return _stats_answer(body)
    return _search_answer(body)


#: The memory figures every `segments` section of an answer carries.
SEGMENT_MEMORY = (
    "memory doc_values_memory fixed_bit_set_memory index_writer_memory norms_memory "
    "points_memory stored_fields_memory term_vectors_memory terms_memory version_map_memory"
).split()


def _store(size: int, segments: int) -> dict:
    """The `store` and `segments` sections of `_stats/store,segments`."""
    memory = {f"{name}_in_bytes": 0 for name in SEGMENT_MEMORY}
    return {
        "store": {"size_in_bytes": size, "reserved_in_bytes": 0},
        "segments": {
            "count": segments,
            **memory,
            "max_unsafe_auto_id_timestamp": -1,
            "file_sizes": {},
        },
    }


INDEX_STATS = {
    "_shards": {"total": 2, "successful": 1, "failed": 0},
    "_all": {"primaries": _store(48_213, 3), "total": _store(96_426, 6)},
    "indices": {
        NAME: {
            "uuid": "Xq3vJ9mWQe2b0b8Vd7cHfA",
            "primaries": _store(48_213, 3),
            "total": _store(96_426, 6),
        }
    },
}


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    """A cluster holding DOCS in the index `news`, with a mapping as `export` makes it."""
    with serving(FakeCluster()) as server:
        server.indices.add(NAME)
        mappings = index_body()["mappings"]
        keyword = {"type": "keyword", "normalizer": "searchkit_keyword"}
        properties = mappings["properties"] | {name: dict(keyword) for name in MAPPED}
        server.mapping = {"mappings": mappings | {"properties": properties}}
        server.documents = dict(SOURCES)
        server.count = {"count": len(DOCS), "_shards": SHARDS}
        server.index_stats = INDEX_STATS
        server.search_response = _answer
        yield server


def _sent(cluster: FakeCluster, kind: str) -> list[tuple[str, str, dict | None]]:
    """(method, path, JSON body) of the requests whose path holds `kind`."""
    return [
        (method, path, json.loads(body) if body else None)
        for method, path, body in cluster.requests
        if kind in path
    ]


# -- get -------------------------------------------------------------------------------------


def test_get_maps_every_field_back_as_a_local_index_holds_it(cluster, local, spec):
    with OpenSearchIndex(cluster.url, NAME) as remote:
        for doc in DOCS:
            got = remote.get(doc.id)
            assert got == local.get(doc.id) == doc
            assert (got.id, got.title, got.body, got.path) == (
                doc.id,
                doc.title,
                doc.body,
                doc.path,
            )
            assert (got.id, got.title, got.body, got.path) == (
                doc.id,
                doc.title,
                doc.body,
                doc.path,
            )
    paths = [path for method, path, _ in _sent(cluster, "/_doc/") if method == "GET"]
    # One path segment each: the slash and the space of the odd id are escaped.
    assert paths == [f"/{NAME}/_doc/{quote(d.id, safe='')}" for d in DOCS]
    # What the fake answered has the specification's shape.
    found = {"_index": NAME, "_id": "a2", "_version": 1, "_seq_no": 0, "_primary_term": 1}
    assert spec.problems({**found, "found": True, "_source": SOURCES["a2"]}, GET_RESPONSE) == []


def test_an_unknown_id_a_missing_index_and_a_foreign_source(cluster, spec):
    remote = OpenSearchIndex(cluster.url, NAME)
    with pytest.raises(DocumentNotFound, match="no document with id 'nosuch' in the index"):
        remote.get("nosuch")
    assert spec.problems({"_index": NAME, "_id": "nosuch", "found": False}, GET_MISSING) == []
    # Ids no cluster can hold are not asked for.
    asked = len(cluster.requests)
    for doc_id in ("", "x" * 513):
        with pytest.raises(DocumentNotFound):
            remote.get(doc_id)
    with pytest.raises(InvalidValue, match="doc_id: must be a string"):
        remote.get(7)  # type: ignore[arg-type]
    assert len(cluster.requests) == asked
    with pytest.raises(IndexNotFound, match=f"no index at {cluster.url}/gone"):
        OpenSearchIndex(cluster.url, "gone").get("a1")
    # A document another program wrote, not searchkit's export: an error that says so.
    cluster.documents["alien"] = {"title": "no id", "date_text": "someday"}
    with pytest.raises(ClusterError, match="document 'alien' is not searchkit's"):
        remote.get("alien")


# -- similar ---------------------------------------------------------------------------------


def test_similar_asks_more_like_this_without_the_document_and_maps_the_hits(cluster, spec):
    with OpenSearchIndex(cluster.url, NAME) as remote:
        results = remote.similar("a2", limit=5, fragments=0)
    (check,) = _sent(cluster, "/_doc/")
    assert check[:2] == ("GET", f"/{NAME}/_doc/a2?_source=false")
    ((method, path, body),) = _sent(cluster, "/_search")
    assert (method, path) == ("POST", f"/{NAME}/_search")
    assert spec.problems(body, SEARCH_BODY) == []
    mlt = body["query"]["more_like_this"]
    assert mlt["like"] == [{"_index": NAME, "_id": "a2"}]
    assert mlt["include"] is False  # the document itself is not similar to itself
    assert mlt["fields"] == ["title", "body"]
    assert (body["from"], body["size"]) == (0, 5) and "highlight" not in body
    assert spec.problems(_similar_answer(body), SEARCH_RESPONSE) == []
    assert [h.id for h in results.hits] == LIKE["a2"]
    assert [h.rank for h in results.hits] == [1, 2]
    assert [h.score for h in results.hits] == [3.0, 2.0]
    assert [h.title for h in results.hits] == [BY_ID[i].title for i in LIKE["a2"]]
    assert [h.date for h in results.hits] == ["2020-03", None]
    assert dict(results.hits[0].fields) == {"places": ("Brazil",)}
    assert results.total == 2 and results.query == "similar to a2"
    assert any("more_like_this" in note and "differ" in note for note in results.notes)


def test_similar_of_an_unknown_id_sends_no_search(cluster):
    with pytest.raises(DocumentNotFound):
        OpenSearchIndex(cluster.url, NAME).similar("nosuch")
    assert _sent(cluster, "/_search") == []


def test_similar_with_fragments_asks_for_highlights(cluster, spec):
    OpenSearchIndex(cluster.url, NAME).similar("a1", limit=1, fragments=2)
    ((_, _, body),) = _sent(cluster, "/_search")
    assert body["highlight"]["fields"]["body"]["number_of_fragments"] == 2
    assert body["size"] == 1
    assert spec.problems(body, SEARCH_BODY) == []


# -- stats -----------------------------------------------------------------------------------


def test_stats_map_count_dates_distinct_values_and_size(cluster, local, spec):
    with OpenSearchIndex(cluster.url, NAME) as remote:
        stats = remote.stats()
    here = local.stats()
    assert stats.path == f"{cluster.url}/{NAME}"
    assert stats.documents == len(DOCS) == here.documents
    # The dates as written, as the local index gives them (not a millisecond instant).
    assert (stats.earliest, stats.latest) == ("2019-12-31T23:30:00Z", "2020-03-14")
    assert (stats.earliest, stats.latest) == (here.earliest, here.latest)
    # Every facet field with its distinct values; `folder`, mapped but empty, left out.
    assert [(f.name, f.distinct) for f in stats.fields] == [
        (f.name, f.distinct) for f in here.fields
    ]
    assert [f.name for f in stats.fields] == ["author", "day", "month", "places", "topics", "year"]
    assert (stats.size_bytes, stats.segments) == (48_213, 3)  # the primaries: one copy
    assert stats.generation == "Xq3vJ9mWQe2b0b8Vd7cHfA"
    assert (stats.roots, stats.last_update) == ((), None)

    (count,) = _sent(cluster, "/_count")
    assert count[:2] == ("POST", f"/{NAME}/_count") and count[2] is None
    assert spec.problems({}, COUNT_BODY) == []  # no body: the specification's body is optional
    assert spec.problems(cluster.count, COUNT_RESPONSE) == []
    (index_stats,) = _sent(cluster, "/_stats")
    assert index_stats[:2] == ("GET", f"/{NAME}/_stats/store,segments")
    assert spec.problems(INDEX_STATS, STATS_RESPONSE) == []
    ((_, _, body),) = _sent(cluster, "/_search")
    assert spec.problems(body, SEARCH_BODY) == []
    assert spec.problems(_stats_answer(body), SEARCH_RESPONSE) == []
    assert body["size"] == 0
    distinct = {
        name.removeprefix("distinct:"): agg["cardinality"]["field"]
        for name, agg in body["aggs"].items()
        if name.startswith("distinct:")
    }
    assert distinct == {name: name for name in (*MAPPED, *DATE_FACETS)}
    for name, order in (("earliest", "asc"), ("latest", "desc")):
        top = body["aggs"][name]["top_hits"]
        assert top["size"] == 1 and top["_source"] == {"includes": ["date_text"]}
        assert top["sort"][0] == {"date-start": {"order": order, "missing": "_last"}}


def test_stats_without_the_right_to_read_index_statistics(cluster):
    # A user allowed to search may not be allowed to see the index's size: the rest is there.
    cluster.failing = {"_stats": 403}
    stats = OpenSearchIndex(cluster.url, NAME).stats()
    assert stats.documents == len(DOCS) and stats.earliest == "2019-12-31T23:30:00Z"
    assert (stats.size_bytes, stats.segments, stats.generation) == (0, 0, "")
    cluster.failing = {"_stats": 500}
    with pytest.raises(ClusterError, match="HTTP 500"):
        OpenSearchIndex(cluster.url, NAME).stats()


# -- the web page and JSON API over the cluster ----------------------------------------------


class Served:
    """A `SearchServer` answering from a thread, and a small HTTP client for it."""

    def __init__(self, server: SearchServer) -> None:
        self.server = server

    def get(self, path: str) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Host": f"127.0.0.1:{self.server.port}"})
            response = conn.getresponse()
            body = response.read().decode("utf-8")
            return response.status, response.getheader("content-type") or "", body
        finally:
            conn.close()

    def json(self, path: str) -> tuple[int, dict]:
        status, content_type, body = self.get(path)
        assert content_type.startswith("application/json"), (path, status, body[:200])
        return status, json.loads(body)


@pytest.fixture
def serve() -> Iterator:
    """`serve(index)`: a `SearchServer` on a free port; all of them shut down after."""
    with_servers = []

    def start(index) -> Served:
        context = serving(SearchServer(index, ("127.0.0.1", 0)))
        with_servers.append(context)
        return Served(context.__enter__())

    yield start
    for context in reversed(with_servers):
        context.__exit__(None, None, None)


class Tree(HTMLParser):
    """A page's elements as (tag, attributes, text inside), in document order."""

    VOID = {"input", "meta", "link", "br", "img", "hr"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict, list[str]]] = []
        self._open: list[list[str]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs) -> None:
        text: list[str] = []
        self.elements.append((tag, dict(attrs), text))
        if tag not in self.VOID:
            self._open.append(text)

    def handle_endtag(self, tag) -> None:
        if tag not in self.VOID:
            self._open.pop()

    def handle_data(self, data) -> None:
        for text in self._open:
            text.append(data)

    def all(self, tag: str, cls: str | None = None) -> list[tuple[dict, str]]:
        return [
            (attrs, "".join(text))
            for t, attrs, text in self.elements
            if t == tag and (cls is None or cls in (attrs.get("class") or "").split())
        ]


def test_api_search_returns_the_clusters_hits_as_searchkits_json(cluster, serve, spec):
    site = serve(OpenSearchIndex(cluster.url, NAME))
    status, data = site.json("/api/search?q=cocoa&facet=places&limit=2")
    assert status == 200
    with OpenSearchIndex(cluster.url, NAME) as remote:
        expected = remote.search("cocoa", facets=["places"], limit=2)
    assert {k: v for k, v in data.items() if k != "seconds"} == {
        k: v for k, v in payload.results_payload(expected).items() if k != "seconds"
    }
    cocoa = [d.id for d in DOCS if "cocoa" in f"{d.title} {d.body}".lower()]
    assert [h["id"] for h in data["hits"]] == cocoa[:2] and data["total"] == len(cocoa)
    assert data["hits"][0]["title"] == "Cocoa prices rise"
    assert data["hits"][0]["snippet"]["highlights"] == [[0, 5]]
    places = Counter(fold_keyword(p) for i in cocoa for p in BY_ID[i].fields.get("places", ()))
    assert data["facets"]["places"] == [
        {"value": v, "count": c} for v, c in sorted(places.items(), key=lambda vc: (-vc[1], vc[0]))
    ]
    searches = [b for _, _, b in _sent(cluster, "/_search")]
    assert searches[0] == remote.translate("cocoa", facets=["places"], limit=2).body
    assert spec.problems(searches[0], SEARCH_BODY) == []


def test_the_page_shows_the_clusters_hits_and_facets(cluster, serve):
    site = serve(OpenSearchIndex(cluster.url, NAME))
    status, _, html = site.get("/?q=cocoa")
    assert status == 200
    tree = Tree(html)
    cocoa = [d.id for d in DOCS if "cocoa" in f"{d.title} {d.body}".lower()]
    assert [attrs["data-id"] for attrs, _ in tree.all("li", "hit")] == cocoa
    # The default facets come from the cluster's statistics: the one field with more than one
    # value (author and topics have one), counted over the hits.
    places = Counter(fold_keyword(p) for i in cocoa for p in BY_ID[i].fields.get("places", ()))
    counts = "".join(f"{v} {c}" for v, c in sorted(places.items(), key=lambda vc: (-vc[1], vc[0])))
    assert [(a["data-field"], text) for a, text in tree.all("section", "facet")] == [
        ("places", "places" + counts)
    ]
    # The date bars: the cluster's year facet of the hits (the undated one has none).
    years = Counter(SOURCES[i]["year"] for i in cocoa if "year" in SOURCES[i])
    bars = {a["data-value"]: int(a["data-count"]) for a, _ in tree.all("a", "bar")}
    assert bars == dict(years) and years


def test_a_document_page_renders_the_clusters_document_and_its_similar_ones(cluster, serve):
    site = serve(OpenSearchIndex(cluster.url, NAME))
    status, content_type, html = site.get("/doc/a2")
    assert status == 200 and content_type.startswith("text/html")
    tree = Tree(html)
    doc = BY_ID["a2"]
    assert [text for _, text in tree.all("h1")] == [doc.title]
    assert [text for _, text in tree.all("div", "body")] == [doc.body]
    # The metadata table's rows (the query syntax's table, without headers, comes first).
    heads = [t for _, t in tree.all("th")]
    rows = dict(zip(heads, [t for _, t in tree.all("td")][-len(heads) :], strict=True))
    assert rows == {"id": "a2", "date": "2020-03-14", "places": "Brazil, Perú", "topics": "coffee"}
    links = [a["href"] for a, _ in tree.all("a") if a.get("href", "").startswith("/doc/")]
    assert links == ["/doc/" + quote(i, safe="") for i in LIKE["a2"]]
    # The odd id goes to the cluster as one escaped segment, and renders too.
    status, _, html = site.get("/doc/" + quote(ODD_ID, safe=""))
    assert status == 200 and [t for _, t in Tree(html).all("h1")] == ["Città news"]


def test_api_doc_similar_and_stats_are_the_local_indexs_json(cluster, serve, local):
    site = serve(OpenSearchIndex(cluster.url, NAME))
    assert site.json("/api/doc/a2") == (200, payload.document_payload(local.get("a2")))
    status, data = site.json("/api/similar/a2?limit=1")
    assert status == 200 and [h["id"] for h in data["hits"]] == LIKE["a2"][:1]
    status, data = site.json("/api/stats")
    here = local.stats().as_dict()
    assert status == 200
    assert {k: data[k] for k in ("documents", "earliest", "latest", "fields")} == {
        k: here[k] for k in ("documents", "earliest", "latest", "fields")
    }
    assert data["path"] == f"{cluster.url}/{NAME}"


def _local_error(call) -> str:
    with pytest.raises(SearchkitError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize(
    ("path", "status", "same_as"),
    [
        ("/api/doc/nosuch", 404, lambda ix: ix.get("nosuch")),
        ("/api/similar/nosuch", 404, lambda ix: ix.similar("nosuch")),
        ("/api/search?q=cocoa&since=notadate", 400, lambda ix: ix.search("x", since="notadate")),
    ],
)
def test_library_errors_become_statuses(cluster, serve, local, path, status, same_as):
    # The status and the message a local index gives.
    site = serve(OpenSearchIndex(cluster.url, NAME))
    assert site.json(path) == (status, {"error": _local_error(lambda: same_as(local))})


@pytest.mark.parametrize(
    ("answer", "status"), [(500, 503), (503, 503), (429, 503), (400, 400), (403, 502)]
)
def test_the_clusters_errors_become_statuses(cluster, serve, answer, status):
    site = serve(OpenSearchIndex(cluster.url, NAME))
    cluster.failing = {"_search": answer}
    code, data = site.json("/api/search?q=cocoa")
    assert code == status
    assert data["error"].startswith(f"OpenSearch at {cluster.url}: HTTP {answer}")
    code, _, html = site.get("/?q=cocoa")
    assert code == status and "OpenSearch at" in html


def test_a_missing_index_on_the_cluster_is_503(cluster, serve):
    site = serve(OpenSearchIndex(cluster.url, "gone"))
    hint = f"load it with `searchkit export --opensearch-url {cluster.url} --index-name gone`"
    assert site.json("/api/search?q=cocoa") == (
        503,
        {"error": f"no index at {cluster.url}/gone (hint: {hint})"},
    )
    assert site.json("/api/doc/a1")[0] == 503


def test_an_unreachable_cluster_is_503_on_every_route(serve):
    site = serve(OpenSearchIndex("http://127.0.0.1:1", NAME))
    for path in ("/api/search?q=cocoa", "/api/doc/a1", "/api/similar/a1", "/api/stats"):
        status, data = site.json(path)
        assert status == 503, path
        assert data["error"].startswith("OpenSearch at http://127.0.0.1:1: cannot connect"), path
    for path in ("/?q=cocoa", "/doc/a1", "/"):
        status, content_type, html = site.get(path)
        assert (status, content_type.split(";")[0]) == (503, "text/html"), path
        assert "cannot connect" in html


# -- the command line ------------------------------------------------------------------------


def test_serve_opensearch_refuses_watch_and_index_name_needs_a_cluster():
    result = run_cli("serve", "--opensearch", "http://127.0.0.1:1", "--watch")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --watch keeps a local index in step: not with --opensearch"
    )
    result = run_cli("serve", "--index-name", "news")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == "Error: --index-name needs --opensearch URL"


def test_serve_opensearch_serves_the_cluster_and_offers_no_warm_socket(cluster, local):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "searchkit",
            "serve",
            "--opensearch",
            cluster.url,
            "--index-name",
            NAME,
            "--index",
            local.path,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if not url else url
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/doc/a2", headers={"Host": f"127.0.0.1:{port}"})
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["title"] == "Coffee harvest"
        conn.close()
        assert any(path.startswith(f"/{NAME}/_doc/a2") for _, path, _ in cluster.requests)
        # The local index named by --index gets no socket: the command line asks the cluster.
        assert not Path(warm.record_path(str(local.path))).exists()
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
