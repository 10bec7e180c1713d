"""Helpers the test modules share: the real data beside the project, what an index holds read
straight from Whoosh, what the readers make of a folder, articles written for a test, the
command line run in-process, and for OpenSearch the vendored API specification and a fake
cluster on the loopback.

Test modules import from here (`from helpers import ...`), never from each other or from
`conftest`, which keeps the fixtures only.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin

import pytest
from click.testing import CliRunner, Result

from searchkit import Document, PartialDate
from searchkit.readers import parse_file
from searchkit.store import IndexDirectory

#: Read-only real data (corpora, judged collections) beside the project.
SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = SHARED / "corpora"
REUTERS = CORPORA / "reuters21578" / "reuters.jsonl"

#: Marks a test that reads ../shared.
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the shared data folder {SHARED} is not present"
)


def stored_documents(index_path: str | Path) -> dict[str, dict]:
    """id -> every stored field of every live document of the index at `index_path`, read
    straight from Whoosh (not through the API under test); fails on a duplicate id."""
    _, ix = IndexDirectory(index_path).open_current()
    with ix.searcher() as s:
        docs = list(s.all_stored_fields())
    ids = [d["id"] for d in docs]
    dupes = sorted({i for i in ids if ids.count(i) > 1}) if len(ids) != len(set(ids)) else []
    assert not dupes, f"duplicate ids in the index: {dupes[:10]}"
    return {d["id"]: d for d in docs}


def indexed(index_path: str | Path) -> dict[str, tuple[str, str, str]]:
    """id -> (title, body, path) of every live document, read straight from Whoosh: what
    `Corpus.as_index_sees_it` is compared with."""
    return {
        doc_id: (d["title"], d["body"].strip(), d.get("path", ""))
        for doc_id, d in stored_documents(index_path).items()
    }


class Corpus:
    """A corpus written by the test, with the documents it must produce computed alongside."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.expected: dict[str, tuple[str, str, str]] = {}
        self.jsonl: dict[str, list[dict]] = {}

    def write_text_article(self, rel: str, title: str, body: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{title}\n{body}\n", encoding="utf-8")
        self.expected[rel] = (title, body, str(path))
        return path

    def delete(self, rel: str) -> None:
        (self.root / rel).unlink()
        del self.expected[rel]

    def write_jsonl(self, rel: str, records: list[dict]) -> None:
        path = self.root / rel
        for old in self.jsonl.get(rel, []):
            self.expected.pop(old["id"], None)
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        self.jsonl[rel] = records
        for r in records:
            self.expected[r["id"]] = (r["title"], r["body"], str(path))

    def as_index_sees_it(self) -> dict[str, tuple[str, str, str]]:
        return {k: (t, b.strip(), p) for k, (t, b, p) in self.expected.items()}


def expected_documents(root: Path) -> dict[str, Document]:
    """id -> the document the readers make of each regular file under `root` (symbolic links
    left out, as the indexer leaves them): what an index of `root` must hold."""
    docs = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        result = parse_file(
            path.read_bytes(), path=str(path), id_base=rel, folder=rel.rpartition("/")[0]
        )
        docs.update((d.id, d) for d in result.documents)
    return docs


def write_articles(
    root: Path, count: int, start: int = 0, *, words: int = 30, name: str = "article-{:04d}.txt"
) -> None:
    """Plain-text articles `start` .. `start + count - 1` in `root`, one document each, titled
    `Article number <i>`, about harbours, with `words` more words; `name` formats file names."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        body = " ".join(f"word{(i * 7 + k) % 997}" for k in range(words))
        (root / name.format(i)).write_text(
            f"Article number {i}\nA report about harbours and {body}.\n", encoding="utf-8"
        )


def run_cli(*args: str, catch_exceptions: bool = True) -> Result:
    """`searchkit ARGS` in-process through click's CliRunner; `stdout` and `stderr` apart."""
    # Imported here: the library tests that import helpers do not need the command line.
    from searchkit.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=catch_exceptions)


@contextmanager
def write_lock_held_elsewhere(index_path: Path) -> Iterator[None]:
    """For the block, another thread holds the index's write lock (as another writer would)."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with IndexDirectory(index_path).write_lock(timeout=1):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(5), "the lock could not be taken"
        yield
    finally:
        release.set()
        thread.join()


# -- OpenSearch: the API specification and a cluster on the loopback ------------------------

#: The vendored excerpt of the OpenSearch API specification (see its README.md).
SPEC = Path(__file__).parent / "data" / "opensearch-spec"
REQUESTS = "file:///spec/namespaces/excerpt.yaml#/components"
SEARCH_BODY = f"{REQUESTS}/requestBodies/search/content/application~1json/schema"
CREATE_BODY = f"{REQUESTS}/requestBodies/indices.create/content/application~1json/schema"
BULK_ITEM = f"{REQUESTS}/requestBodies/bulk/content/application~1x-ndjson/schema/items"
SEARCH_RESPONSE = f"{REQUESTS}/responses/search@200/content/application~1json/schema"
BULK_RESPONSE = f"{REQUESTS}/responses/bulk@200/content/application~1json/schema"
OPERATION = "file:///spec/schemas/_core.bulk.yaml#/components/schemas/OperationContainer"


class Spec:
    """The vendored OpenAPI schemas: jsonschema validation plus a closed-world key check
    (needs yaml, jsonschema and referencing)."""

    def __init__(self, root: Path) -> None:
        import yaml
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        resources = []
        for path in sorted(root.rglob("*.yaml")):
            uri = "file:///" + path.relative_to(root).as_posix()
            contents = one_of_as_any_of(yaml.load(path.read_text(encoding="utf-8"), Loader=loader))
            resources.append((uri, Resource.from_contents(contents, DRAFT202012)))
        self.registry = Registry().with_resources(resources)
        self._validators: dict[str, object] = {}

    def _validator(self, uri: str):
        import jsonschema

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
        for i, _ in enumerate(node.get("anyOf", ())):
            branch = f"{uri}/anyOf/{i}"
            if self._validator(branch).is_valid(instance):
                out += self._applying(branch, instance)
        return out

    def _unknown(self, instance, uris: list[str] | str, path: str) -> list[str]:
        """Keys of `instance` that none of the schemas applying to it (`uris`: several when
        allOf branches each constrain the same key) names or leaves open."""
        if isinstance(uris, str):
            uris = [uris]
        applying = [u for uri in uris for u in self._applying(uri, instance)]
        nodes = [(u, self._node(u)) for u in applying]
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
                    found += self._unknown(value, named[key], f"{path}/{key}")
                elif extra:
                    found += self._unknown(value, extra, f"{path}/{key}")
                elif closed:
                    found.append(f"{path}/{key}: a key the specification does not name")
        elif isinstance(instance, list):
            items = [f"{u}/items" for u, n in nodes if isinstance(n.get("items"), dict)]
            if items:
                for i, item in enumerate(instance):
                    found += self._unknown(item, items, f"{path}/{i}")
        return sorted(set(found))


def one_of_as_any_of(node):
    """The specification's `oneOf` read as `anyOf`: its branches overlap (a sort key
    `{"id": "asc"}` is both an open `SortOptions` object and a field with a direction; the
    highlighter `unified` both a custom and a built-in name), so a strict `oneOf` rejects
    well-formed bodies. Unknown keys are still caught by `Spec._unknown`."""
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): one_of_as_any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [one_of_as_any_of(v) for v in node]
    return node


def ndjson_pairs(data: bytes):
    """(action, source) of each pair of lines of a bulk body."""
    lines = data.decode("utf-8").splitlines()
    assert len(lines) % 2 == 0
    return [(json.loads(lines[i]), json.loads(lines[i + 1])) for i in range(0, len(lines), 2)]


class FakeCluster(ThreadingHTTPServer):
    """A loopback HTTP server answering as an OpenSearch node would, from a script.

    `request_status`: statuses for the next bulk requests as a whole (200: answered item by
    item; then 200);
    `item_status`: id -> statuses of that document's next bulk items (then 201);
    `search_response`, `mapping`: the answers to `_search` (a dict, or a function of the
    request body) and `_mapping`; `documents`: id -> `_source` of `GET _doc/ID`; `count`,
    `index_stats`: the answers to `_count` and `_stats`; `failing`: endpoint (`_search`,
    `_stats`, ...) -> the error status every request to it gets; `indices`: the names that exist.
    Every request is recorded in `requests`.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ClusterHandler)
        self.requests: list[tuple[str, str, bytes]] = []
        self.request_status: list[int] = []
        self.item_status: dict[str, list[int]] = {}
        self.indexed: list[str] = []
        self.indices: set[str] = set()
        self.search_response: dict | Callable[[dict], dict] = {}
        self.mapping: dict = {}
        self.documents: dict[str, dict] = {}
        self.count: dict = {}
        self.index_stats: dict = {}
        self.failing: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def cluster_error(kind: str, reason: str, status: int) -> dict:
    """An OpenSearch error answer."""
    return {"error": {"type": kind, "reason": reason, "root_cause": []}, "status": status}


class _ClusterHandler(BaseHTTPRequestHandler):
    server: FakeCluster

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, data: dict | None = None) -> None:
        payload = json.dumps(data).encode() if data is not None else b""
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        cluster = self.server
        cluster.requests.append((self.command, self.path, body))
        path = self.path.split("?")[0]
        name = path.strip("/").split("/")[0]
        if self.command == "HEAD":
            return self._answer(200 if name in cluster.indices else 404)
        if self.command == "PUT" and path.count("/") == 1:
            cluster.indices.add(name)
            return self._answer(
                200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
            )
        if name not in cluster.indices:
            missing = cluster_error("index_not_found_exception", f"no such index [{name}]", 404)
            return self._answer(404, missing)
        if path.endswith("/_bulk"):
            status = cluster.request_status.pop(0) if cluster.request_status else 200
            if status != 200:
                error = cluster_error(
                    "es_rejected_execution_exception", "rejected execution", status
                )
                return self._answer(status, error)
            return self._answer(200, self._bulk(body))
        for endpoint, status in cluster.failing.items():
            if f"/{endpoint}" in path:
                failed = cluster_error("opensearch_exception", f"{endpoint} failed", status)
                return self._answer(status, failed)
        if path.endswith("/_search"):
            answer = cluster.search_response
            if callable(answer):
                answer = answer(json.loads(body or b"{}"))
            return self._answer(200, answer)
        if path.endswith("/_count"):
            return self._answer(200, cluster.count)
        if "/_stats" in path:
            return self._answer(200, cluster.index_stats)
        if "/_doc/" in path:
            return self._document(name, unquote(path.split("/_doc/", 1)[1]))
        if path.endswith("/_mapping"):
            return self._answer(200, {name: cluster.mapping})
        return self._answer(400, cluster_error("illegal_argument_exception", path, 400))

    def _document(self, name: str, doc_id: str) -> None:
        source = self.server.documents.get(doc_id)
        if source is None:
            return self._answer(404, {"_index": name, "_id": doc_id, "found": False})
        found = {"_index": name, "_id": doc_id, "_version": 1, "_seq_no": 0}
        found.update(_primary_term=1, found=True)
        if "_source=false" not in self.path:
            found["_source"] = source
        return self._answer(200, found)

    def _bulk(self, body: bytes) -> dict:
        items = []
        errors = False
        for action, _source in ndjson_pairs(body):
            doc_id = action["index"]["_id"]
            plan = self.server.item_status.get(doc_id) or []
            status = plan.pop(0) if plan else 201
            item = {"_index": "news", "_id": doc_id, "status": status}
            if status == 201:
                self.server.indexed.append(doc_id)
                item.update(result="created", _version=1, _seq_no=0, _primary_term=1)
                item["_shards"] = {"total": 1, "successful": 1, "failed": 0}
            else:
                errors = True
                kind = (
                    "es_rejected_execution_exception"
                    if status == 429
                    else "mapper_parsing_exception"
                )
                item["error"] = {"type": kind, "reason": f"failed to index [{doc_id}]"}
            items.append({"index": item})
        return {"took": 3, "errors": errors, "items": items}

    do_GET = do_POST = do_PUT = do_HEAD = _handle


@contextmanager
def serving(server) -> Iterator:
    """`server` (a `socketserver` server) answering from a thread for the block; shut down
    and closed after it."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# Documents with facet values, and their facet counts computed in plain Python.

WORDS = ["cocoa", "grain", "harbour", "strike", "storm", "rates", "bond", "crop", "ship"]
TOPICS = ["cocoa", "grain", "shipping", "money-fx", "Crude Oil"]
PLACES = ["Brazil", "Ghana", "USA", "Ivory Coast"]


def make_documents(count: int, seed: int = 7) -> list[Document]:
    """Documents of a few words, topics, places and dates (one in five undated), seeded."""
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        fields = {"topics": tuple(rng.sample(TOPICS, rng.randint(0, 3)))}
        places = tuple(rng.sample(PLACES, rng.randint(0, 2)))
        if places:
            fields["places"] = places
        date = f"20{rng.randint(18, 21)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        docs.append(
            Document(
                id=f"doc-{i:03d}",
                title=" ".join(rng.choice(WORDS) for _ in range(3)),
                body=" ".join(rng.choice(WORDS) for _ in range(12)),
                date=PartialDate.parse(date) if i % 5 else None,
                fields={k: v for k, v in fields.items() if v},
            )
        )
    return docs


def expected_facets(docs: list[Document], word: str | None) -> dict[str, list[tuple[str, int]]]:
    """Facet counts of the documents holding `word` (all with None), as searchkit orders
    them: metadata by count then folded value, shown as written; dates in time order."""
    chosen = [d for d in docs if word is None or word in (d.title + " " + d.body).lower().split()]
    out = {}
    for field in ("topics", "places"):
        counts = Counter(v.lower() for d in chosen for v in d.fields.get(field, ()))
        written = {v.lower(): v for d in chosen for v in d.fields.get(field, ())}
        items = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))
        out[field] = [(written[v], c) for v, c in items]
    for key in ("year", "month", "day"):
        counts = Counter(getattr(d.date, f"{key}_key") for d in chosen if d.date)
        out[key] = sorted(counts.items())
    return out


#: The facet fields of `make_documents`' documents.
FACETS = ("topics", "places", "year", "month", "day")
