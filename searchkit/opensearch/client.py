"""`OpenSearchIndex`: an index on an OpenSearch cluster, read as `Index` reads a local one:
`search`, `get`, `similar` and `stats`, with the same arguments and the same values."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from ..dates import DateLike
from ..documents import Document
from ..errors import (
    ClusterError,
    DateError,
    DocumentNotFound,
    IndexNotFound,
    InvalidValue,
    UsageError,
)
from ..index import IndexStats
from ..query import QueryParser, Where, check_where_fields
from ..schema import DATE_FACETS, build_schema
from ..search import (
    DEFAULT_FACET_LIMIT,
    DEFAULT_FRAGMENTS,
    DEFAULT_LIMIT,
    Results,
    check_facets,
    positive_number,
    search_options,
)
from .mapping import metadata_fields
from .push import make_client
from .response import document_from, results_from, stats_from
from .translate import Translation, search_body, similar_body, stats_body, typed_phrases

#: The index name on the cluster unless told otherwise.
DEFAULT_INDEX_NAME = "searchkit"
#: OpenSearch refuses a longer `_id` (bytes of UTF-8): no document on a cluster has one.
MAX_ID_BYTES = 512


class OpenSearchIndex:
    """An index on an OpenSearch cluster, searched with searchkit's query language.

    `OpenSearchIndex("http://localhost:9200", "news").search("cocoa", facets=["year"])`
    returns the same `Results` as `Index.search`; `get`, `similar` and `stats` answer as
    `Index`'s do, so `searchkit serve` serves either. The metadata field names (for
    `field:value` and facets) are read from the index's mapping on first use, unless given as
    `fields`. Safe to share between threads.
    """

    def __init__(
        self,
        url: str,
        name: str = DEFAULT_INDEX_NAME,
        *,
        fields: Iterable[str] | None = None,
        client=None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.name = name
        self._client = client
        self._timeout = timeout
        self._fields = frozenset(fields) if fields is not None else None
        self._lock = threading.Lock()

    @property
    def client(self):
        """The `opensearchpy.OpenSearch` client (made on first use)."""
        with self._lock:
            if self._client is None:
                self._client = make_client(self.url, timeout=self._timeout)
            return self._client

    def close(self) -> None:
        """Close the client's connections."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> OpenSearchIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fields(self) -> frozenset[str]:
        """The metadata facet names of the index (from its mapping)."""
        if self._fields is None:
            answer = self._request(lambda: self.client.indices.get_mapping(index=self.name))
            mapping: dict = answer.get(self.name) or next(iter(answer.values()), {})
            self._fields = metadata_fields(mapping)
        return self._fields

    def translate(
        self,
        text: str,
        *,
        limit: int = DEFAULT_LIMIT,
        page: int = 1,
        since: DateLike | None = None,
        until: DateLike | None = None,
        where: Where | None = None,
        facets: Iterable[str] = (),
        facet_limit: int | None = DEFAULT_FACET_LIMIT,
        sort: str = "relevance",
        fragments: int = DEFAULT_FRAGMENTS,
        strict: bool = False,
        explain: bool = False,
        now: datetime | None = None,
    ) -> Translation:
        """The request `search` would send (its `body`) and its notes; sends nothing when the
        index's fields are known (given, or read before)."""
        options = search_options(
            limit=limit,
            page=page,
            since=since,
            until=until,
            where=where,
            facets=facets,
            sort=sort,
            fragments=fragments,
            now=now,
        )
        metadata = self.fields()
        known = metadata | set(DATE_FACETS)
        check_where_fields(options.where, known)
        check_facets(options.facets, known)
        schema = _schema()
        parsed = QueryParser(schema, metadata).parse(text, strict=strict, now=options.now)
        body_field = schema["body"]
        phrases = typed_phrases(parsed.text, lambda t: body_field.process_text(t, mode="query"))
        translation = search_body(
            parsed,
            limit=options.limit,
            page=options.page,
            since=options.since,
            until=options.until,
            where=options.where,
            facets=options.facets,
            facet_limit=facet_limit,
            sort=options.sort,
            fragments=options.fragments,
            explain=explain,
            phrases=phrases,
        )
        return replace(translation, notes=tuple(dict.fromkeys(parsed.notes + translation.notes)))

    def search(
        self,
        text: str,
        *,
        limit: int = DEFAULT_LIMIT,
        page: int = 1,
        since: DateLike | None = None,
        until: DateLike | None = None,
        where: Where | None = None,
        facets: Iterable[str] = (),
        facet_limit: int | None = DEFAULT_FACET_LIMIT,
        sort: str = "relevance",
        fragments: int = DEFAULT_FRAGMENTS,
        strict: bool = False,
        explain: bool = False,
        now: datetime | None = None,
    ) -> Results:
        """Search the cluster; the same arguments and `Results` as `Index.search` (no spelling
        suggestion, no score parts: see the README's "Past one machine")."""
        started = time.perf_counter()
        translation = self.translate(
            text,
            limit=limit,
            page=page,
            since=since,
            until=until,
            where=where,
            facets=facets,
            facet_limit=facet_limit,
            sort=sort,
            fragments=fragments,
            strict=strict,
            explain=explain,
            now=now,
        )
        body = translation.body
        response = self._request(lambda: self.client.search(index=self.name, body=body))
        results = results_from(response, translation, page=page, limit=limit)
        return replace(results, seconds=time.perf_counter() - started)

    @property
    def path(self) -> str:
        """Where the index is: its URL on the cluster."""
        return f"{self.url.rstrip('/')}/{self.name}"

    def get(self, doc_id: str) -> Document:
        """The document with this id, as the export stored it (`mapping.source_of`); raises
        `DocumentNotFound`."""
        answer = self._document(doc_id)
        source = answer.get("_source")
        if not isinstance(source, dict):
            raise ClusterError(self.url, f"document {doc_id!r} came back without its _source")
        try:
            return document_from(source)
        except (InvalidValue, DateError) as exc:
            raise ClusterError(self.url, f"document {doc_id!r} is not searchkit's: {exc}") from None

    def similar(
        self, doc_id: str, *, limit: int = DEFAULT_LIMIT, fragments: int = DEFAULT_FRAGMENTS
    ) -> Results:
        """Documents like the one with this id, as `Index.similar`; the cluster's
        `more_like_this` chooses the key terms, so the hits and scores differ from a local
        `similar` (a note says so). Raises `DocumentNotFound`."""
        started = time.perf_counter()
        limit = positive_number(limit, "limit")
        if not isinstance(fragments, int) or isinstance(fragments, bool) or fragments < 0:
            raise UsageError(f"fragments must be 0 or more, not {fragments!r}")
        # more_like_this ignores a document it cannot find and matches nothing: asked first,
        # an unknown id is the same error as in a local index.
        self._document(doc_id, _source=False)
        translation = similar_body(self.name, doc_id, limit=limit, fragments=fragments)
        body = translation.body
        response = self._request(lambda: self.client.search(index=self.name, body=body))
        results = results_from(response, translation, page=1, limit=limit)
        return replace(results, seconds=time.perf_counter() - started)

    def stats(self) -> IndexStats:
        """Document count, date span, facet fields, size and segments, as `Index.stats`:
        `path` is the index's URL, `generation` its uuid, no roots or last update. A facet's
        distinct values are counted by `cardinality` aggregations: approximate (HyperLogLog++)
        past 40,000 values."""
        names = tuple(sorted(self.fields() | set(DATE_FACETS)))
        body = stats_body(names)
        count = self._request(lambda: self.client.count(index=self.name))
        answer = self._request(lambda: self.client.search(index=self.name, body=body))
        try:
            index_stats = self._request(
                lambda: self.client.indices.stats(index=self.name, metric="store,segments")
            )
        except ClusterError as exc:
            if exc.status not in (401, 403):
                raise
            index_stats = None  # a user allowed to search may not be allowed to see the size
        return stats_from(
            path=self.path,
            count=count,
            aggregations=answer.get("aggregations") or {},
            fields=names,
            index_stats=index_stats,
            index_name=self.name,
        )

    def _document(self, doc_id: str, **params) -> dict:
        """The cluster's answer to `GET /NAME/_doc/ID`; `DocumentNotFound` if it has none."""
        from opensearchpy.exceptions import NotFoundError

        if not isinstance(doc_id, str):
            raise InvalidValue("doc_id", f"must be a string, not {doc_id!r}")
        if not doc_id or len(doc_id.encode("utf-8")) > MAX_ID_BYTES:
            raise DocumentNotFound(doc_id)

        def call():
            try:
                return self.client.get(index=self.name, id=doc_id, **params)
            except NotFoundError as exc:
                # A missing document is {"found": false}; a missing index is an error object.
                if isinstance(exc.info, dict) and exc.info.get("found") is False:
                    raise DocumentNotFound(doc_id) from None
                raise

        return self._request(call)

    def _request(self, call):
        from opensearchpy.exceptions import ConnectionError as ClientConnectionError
        from opensearchpy.exceptions import NotFoundError, TransportError

        try:
            return call()
        except NotFoundError:
            missing = IndexNotFound(self.path)
            load = f"searchkit export --opensearch-url {self.url} --index-name {self.name}"
            missing.hint = f"load it with `{load}`"
            raise missing from None
        except ClientConnectionError as exc:
            raise ClusterError(self.url, f"cannot connect ({exc.error})") from None
        except TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else None
            info = exc.info if isinstance(exc.info, dict) else {}
            error = info.get("error")
            reason = error.get("reason") if isinstance(error, dict) else error or exc.error
            raise ClusterError(self.url, f"HTTP {status}: {reason}", status) from None


_SCHEMA: list = []


def _schema():
    # The query parser reads the analyzers of searchkit's own schema; built once.
    if not _SCHEMA:
        _SCHEMA.append(build_schema())
    return _SCHEMA[0]
