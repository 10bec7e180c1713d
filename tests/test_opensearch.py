"""searchkit past one machine (issue 15): the OpenSearch mapping, export files, pushes, query
translation and response mapping, without a cluster.

Every request body is validated against the official OpenSearch API specification (vendored
in tests/data/opensearch-spec) with jsonschema, plus a check that no key is one the
specification does not name. The cluster is a loopback HTTP server started per test.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml
from helpers import run_cli

from searchkit import Document, Index, schema, scoring
from searchkit.dates import PartialDate
from searchkit.errors import IndexNotFound, UsageError
from searchkit.search import FacetCount, Hit, Results, Snippet

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")
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

SPEC = Path(__file__).parent / "data" / "opensearch-spec"
REQUESTS = "file:///spec/namespaces/excerpt.yaml#/components"
SEARCH_BODY = f"{REQUESTS}/requestBodies/search/content/application~1json/schema"
CREATE_BODY = f"{REQUESTS}/requestBodies/indices.create/content/application~1json/schema"
BULK_ITEM = f"{REQUESTS}/requestBodies/bulk/content/application~1x-ndjson/schema/items"
SEARCH_RESPONSE = f"{REQUESTS}/responses/search@200/content/application~1json/schema"
BULK_RESPONSE = f"{REQUESTS}/responses/bulk@200/content/application~1json/schema"
OPERATION = "file:///spec/schemas/_core.bulk.yaml#/components/schemas/OperationContainer"


# -- the specification ---------------------------------------------------------------------


class Spec:
    """The vendored OpenAPI schemas: jsonschema validation plus a closed-world key check."""

    def __init__(self, root: Path) -> None:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        resources = []
        for path in sorted(root.rglob("*.yaml")):
            uri = "file:///" + path.relative_to(root).as_posix()
            contents = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
            resources.append((uri, Resource.from_contents(contents, DRAFT202012)))
        self.registry = Registry().with_resources(resources)
        self._validators: dict[str, object] = {}

    def _validator(self, uri: str):
        if uri not in self._validators:
            self._validators[uri] = jsonschema.Draft202012Validator(
                {"$ref": uri}, registry=self.registry
            )
        return self._validators[uri]

    def _node(self, uri: str):
        return self.registry.resolver().lookup(uri).contents

    def problems(self, instance, uri: str) -> list[str]:
        """Schema violations, then keys the specification does not name."""
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
            for e in self._validator(uri).iter_errors(instance)
        ]
        return errors or self._unknown(instance, uri, "")

    def _applying(self, uri: str, instance) -> list[str]:
        """`uri` and every schema it brings in for `instance` ($ref, allOf, matching any/oneOf)."""
        node = self._node(uri)
        out = [uri]
        if not isinstance(node, dict):
            return out
        if "$ref" in node:
            out += self._applying(urljoin(uri, node["$ref"]), instance)
        for i, _ in enumerate(node.get("allOf", ())):
            out += self._applying(f"{uri}/allOf/{i}", instance)
        for key in ("anyOf", "oneOf"):
            for i, _ in enumerate(node.get(key, ())):
                branch = f"{uri}/{key}/{i}"
                if self._validator(branch).is_valid(instance):
                    out += self._applying(branch, instance)
        return out

    def _unknown(self, instance, uri: str, path: str) -> list[str]:
        uris = self._applying(uri, instance)
        nodes = [(u, self._node(u)) for u in uris]
        nodes = [(u, n) for u, n in nodes if isinstance(n, dict)]
        found: list[str] = []
        if isinstance(instance, dict):
            named: dict[str, list[str]] = {}
            extra: list[str] = []
            closed = False
            for u, n in nodes:
                for name in n.get("properties", {}):
                    escaped = name.replace("~", "~0").replace("/", "~1")
                    named.setdefault(name, []).append(f"{u}/properties/{escaped}")
                    closed = True
                more = n.get("additionalProperties")
                if isinstance(more, dict):
                    extra.append(f"{u}/additionalProperties")
                if more is True or "patternProperties" in n:
                    return found
            for key, value in instance.items():
                if key in named:
                    for sub in named[key]:
                        found += self._unknown(value, sub, f"{path}/{key}")
                elif extra:
                    for sub in extra:
                        found += self._unknown(value, sub, f"{path}/{key}")
                elif closed:
                    found.append(f"{path}/{key}: a key the specification does not name")
        elif isinstance(instance, list):
            for u, n in nodes:
                if isinstance(n.get("items"), dict):
                    for i, item in enumerate(instance):
                        found += self._unknown(item, f"{u}/items", f"{path}/{i}")
        return sorted(set(found))


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
    _doc("a1", "Cocoa prices rise", "Cocoa beans from Brazil cost more.", "2020-03", places=["Brazil"]),
    _doc("a2", "Coffee harvest", "Brazil's coffee and cocoa crops.", "2020-03-14", places=["Brazil", "Perú"], topics=["coffee"]),
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


def _pairs(data: bytes):
    lines = data.decode("utf-8").splitlines()
    assert len(lines) % 2 == 0
    return [(json.loads(lines[i]), json.loads(lines[i + 1])) for i in range(0, len(lines), 2)]


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
        pairs = _pairs(data)
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
    assert [len(_pairs(b)) for b in batches] == [1] * len(DOCS)
