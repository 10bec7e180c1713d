"""Running a query: ranked hits, snippets, facet counts, suggestions -> frozen dataclasses.

A `Searcher` is what an open `Index` keeps between searches: one Whoosh searcher, opened anew
when the index changes (two cheap checks per search: the pointer file and the generation's
table of contents), and the parts that do the work over it, each in its own module:

- `scoring`: which documents match and their BM25F scores (and `explain`);
- `facets`: per-segment value arrays, for facet counts and date order;
- `highlight`: snippets with the matched words marked;
- `spelling`: a better-spelled query when few documents matched.

Every result is built while the lock and the searcher are held, from plain Python values:
`Results` stay valid after the searcher is closed or replaced, and can be shared by threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np
from whoosh import query as wq

from ._whoosh.reading import segments
from .date_query import span_query
from .dates import DateLike, DateSpan, PartialDate, to_span, utc_now
from .document_arrays import read_document_arrays
from .documents import Document
from .errors import DocumentNotFound, IndexCorrupt, InvalidValue, UsageError
from .expansion import bound_parsed
from .facets import DocumentValues, facet_fields
from .highlight import Highlighter
from .query import ParsedQuery, QueryParser, Where, parse_where, where_query
from .schema import DATE_FACETS, TEXT_FIELDS
from .scoring import Scorer, weighting
from .spelling import SUGGEST_BELOW, Speller
from .store import IndexDirectory

SORTS = ("relevance", "date", "-date")
DEFAULT_LIMIT = 10
DEFAULT_FRAGMENTS = 1
DEFAULT_FACET_LIMIT = 10
#: Key terms taken from a document to find similar ones.
SIMILAR_TERMS = 12


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snippet:
    """Text from a document; `highlights` are the (start, end) offsets of the matched words
    in `text` (Python string indices, end exclusive)."""

    text: str = ""
    highlights: tuple[tuple[int, int], ...] = ()

    def marked(self, before: str, after: str) -> str:
        """The text with `before` and `after` around each highlighted span."""
        out, pos = [], 0
        for start, end in self.highlights:
            out += [self.text[pos:start], before, self.text[start:end], after]
            pos = end
        out.append(self.text[pos:])
        return "".join(out)


@dataclass(frozen=True)
class ScorePart:
    """One term's share of a hit's score (`--explain`): field, term, weighted frequency, score."""

    field: str
    term: str
    frequency: float
    score: float


@dataclass(frozen=True)
class Hit:
    """One matching document. `date` is its date as written (`2020-03`, `2020-03-14`...)."""

    rank: int
    id: str
    score: float
    title: str
    date: str | None
    path: str
    fields: Mapping[str, tuple[str, ...]]
    snippet: Snippet
    explanation: tuple[ScorePart, ...] = ()

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        data = {
            "rank": self.rank,
            "id": self.id,
            "score": round(self.score, 4),
            "title": self.title,
            "date": self.date,
            "path": self.path,
            "fields": {k: list(v) for k, v in self.fields.items()},
            "snippet": {
                "text": self.snippet.text,
                "highlights": [list(h) for h in self.snippet.highlights],
            },
        }
        if self.explanation:
            data["explanation"] = [
                {"field": p.field, "term": p.term, "frequency": p.frequency, "score": p.score}
                for p in self.explanation
            ]
        return data


@dataclass(frozen=True)
class FacetCount:
    """One facet value and the number of matching documents that have it."""

    value: str
    count: int

    def __iter__(self) -> Iterator[str | int]:
        # So that `for value, count in results.facets["topics"]` reads naturally.
        return iter((self.value, self.count))


@dataclass(frozen=True)
class Results:
    """One page of hits, the total, facet counts, a spelling suggestion, the query as parsed.

    Words typed without operators match a document that holds any of them, and the
    documents holding every word rank first: `all_words` is how many of the `total` hold
    every word (None for a query with operators or one word), `relaxed` is True when some
    matches hold only some of the words. `notes` say what leniency changed.
    """

    hits: tuple[Hit, ...]
    total: int
    facets: Mapping[str, tuple[FacetCount, ...]] = field(default_factory=dict)
    suggestion: str | None = None
    query: str = ""
    notes: tuple[str, ...] = ()
    relaxed: bool = False
    page: int = 1
    limit: int = DEFAULT_LIMIT
    seconds: float = 0.0
    all_words: int | None = None

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {
            "query": self.query,
            "total": self.total,
            "page": self.page,
            "limit": self.limit,
            "relaxed": self.relaxed,
            "all_words": self.all_words,
            "hits": [h.as_dict() for h in self.hits],
            "facets": {
                name: [{"value": c.value, "count": c.count} for c in counts]
                for name, counts in self.facets.items()
            },
            "suggestion": self.suggestion,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 6),
        }


# -- the options of a search ----------------------------------------------------------------


@dataclass(frozen=True)
class SearchOptions:
    """The options of one search, checked and normalised: what a local search and a
    cluster's (`searchkit.opensearch`) both start from."""

    limit: int
    page: int
    fragments: int
    sort: str
    facets: tuple[str, ...]  # folded, each once
    since: DateSpan | None
    until: DateSpan | None
    where: dict[str, tuple[str, ...]]
    now: datetime


def search_options(
    *,
    limit: int,
    page: int,
    since: DateLike | None,
    until: DateLike | None,
    where: Where | None,
    facets: Iterable[str],
    sort: str,
    fragments: int,
    now: datetime | None,
) -> SearchOptions:
    """`Index.search`'s options checked (a `UsageError` naming the bad one) and normalised."""
    limit, page = positive_number(limit, "limit"), positive_number(page, "page")
    if not isinstance(fragments, int) or isinstance(fragments, bool) or fragments < 0:
        raise UsageError(f"fragments must be 0 or more, not {fragments!r}")
    if sort not in SORTS:
        raise UsageError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if isinstance(facets, str):
        facets = (facets,)
    now = now or utc_now()
    return SearchOptions(
        limit=limit,
        page=page,
        fragments=fragments,
        sort=sort,
        facets=tuple(dict.fromkeys(str(f).strip().lower() for f in facets)),
        since=to_span(since, now=now) if since is not None else None,
        until=to_span(until, now=now) if until is not None else None,
        where=parse_where(where),
        now=now,
    )


def check_facets(facets: Iterable[str], known: Iterable[str]) -> None:
    """A `UsageError` listing the index's fields when a facet is not one of them."""
    known = set(known)
    unknown = [f for f in facets if f not in known]
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise UsageError(f"no facet field {unknown[0]!r} in the index (fields: {names})")


# -- the searcher ----------------------------------------------------------------------------


class Searcher:
    """The open Whoosh searcher of an `Index`, kept current, and what searches it;
    thread-safe (one search at a time)."""

    def __init__(self, directory: IndexDirectory) -> None:
        self._directory = directory
        self._lock = threading.RLock()
        self._generation: str | None = None
        self._ix: Any = None  # whoosh.index.FileIndex (Whoosh has no type annotations)
        self._whoosh: Any = None  # whoosh.searching.Searcher
        self._parser: QueryParser | None = None
        self._fields: frozenset[str] = frozenset()
        self._scorer = Scorer()
        self._values = DocumentValues()
        self._highlighter: Highlighter | None = None
        self._speller: Speller | None = None

    def close(self) -> None:
        """Close the Whoosh searcher; the next search opens the index again."""
        with self._lock:
            if self._whoosh is not None:
                self._whoosh.close()
            self._whoosh = self._ix = None
            self._generation = None
            self._scorer.clear()
            self._values.clear()

    # -- keeping up with the index ---------------------------------------------------------

    def _current(self):
        """The Whoosh searcher of the live index, opened anew when the index changed.

        Two cheap checks per search: the pointer file (a rebuild swaps generations) and the
        generation's latest table of contents (an incremental commit). Whoosh's own
        `Searcher.refresh()` is not used: it reuses segment readers with their old deletions
        and keeps segments a merge removed (whoosh.index.FileIndex._reader).
        """
        meta = self._directory.read_meta()
        if self._whoosh is not None and meta.current == self._generation:
            try:
                if self._ix.latest_generation() == self._whoosh.reader().generation():
                    return self._whoosh
            except OSError:
                pass  # the generation's folder went away under us: open the live one
        reopen = meta.current != self._generation or self._ix is None
        for attempt in range(3):
            if reopen:
                # The pointer is read again with the open: rebuilds may have swapped it (and
                # removed the generation read above) meanwhile.
                meta, self._ix = self._directory.open_current()
                # Plain reads, not memory maps: a segment file cut short under a mapped
                # reader kills the whole process with SIGBUS (a long-lived searcher included),
                # where a read raises an error. They search as fast (Reuters, open + first
                # query: 3.6 + 46 ms against 4.6 + 43 ms mapped, with whoosh_fixes' BufferFile
                # patch; without that patch a mapped open copied 68 MB and took 58 ms).
                self._ix.storage.supports_mmap = False
            try:
                whoosh_searcher = self._ix.searcher(weighting=weighting())
                break
            except (OSError, IndexCorrupt):
                # The generation went away between reading the pointer and opening it.
                if attempt == 2:
                    raise
                reopen = True
        old = self._whoosh
        self._adopt(whoosh_searcher, meta.current)
        if old is not None:
            old.close()
        return self._whoosh

    def _adopt(self, whoosh_searcher, generation: str) -> None:
        self._whoosh = whoosh_searcher
        self._generation = generation
        live = segments(whoosh_searcher, generation, self._ix.storage.folder)
        self._scorer.follow(whoosh_searcher, live)
        self._values.follow(live, whoosh_searcher.stored_fields)
        reader = whoosh_searcher.reader()
        laid_out = read_document_arrays(live, reader.doc_count_all())
        if laid_out is not None:
            self._scorer.adopt_lengths(laid_out.lengths)
            self._values.adopt(laid_out.dates, laid_out.facets)
        metadata = {n for n in facet_fields(reader) if n not in DATE_FACETS}
        self._fields = frozenset(metadata | set(DATE_FACETS))
        self._parser = QueryParser(reader.schema, metadata)
        self._highlighter = Highlighter(reader.schema["body"].analyzer)
        self._speller = Speller(reader, self._highlighter.term_of)

    # -- the public operations -------------------------------------------------------------

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
        """See `Index.search`."""
        started = time.perf_counter()
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
        with self._lock:
            whoosh_searcher = self._current()
            # Wildcards, prefixes and fuzzy words become at most a bounded set of terms, with
            # a note when that cut what the query could match: every query has a bounded cost.
            assert self._parser is not None  # set by `_current()`
            parsed = bound_parsed(
                self._parser.parse(text, strict=strict, now=options.now),
                whoosh_searcher.reader(),
            )
            check_facets(options.facets, self._fields)
            spans = span_query(options.since, options.until)
            clauses = [
                c for c in (spans, where_query(options.where, self._fields)) if c is not None
            ]
            clauses += parsed.filters
            allow = None
            if clauses:
                allow = self._scorer.allowed(wq.And(clauses) if len(clauses) > 1 else clauses[0])
            results = self._run(
                parsed,
                allow,
                limit=options.limit,
                page=options.page,
                sort=options.sort,
                facets=options.facets,
                facet_limit=facet_limit,
                fragments=options.fragments,
                explain=explain,
                strict=strict,
            )
        return _with_time(results, time.perf_counter() - started)

    def get(self, doc_id: str) -> Document:
        """See `Index.get`."""
        doc_id = _document_id(doc_id)
        with self._lock:
            _, stored = _stored_document(self._current(), doc_id)
        return _document(stored)

    def documents(self):
        """See `Index.documents`."""
        with self._lock:
            # Read under the lock: the searcher may be replaced once it is released.
            everything = list(self._current().all_stored_fields())
        return (_document(stored) for stored in everything)

    def similar(
        self, doc_id: str, *, limit: int = DEFAULT_LIMIT, fragments: int = DEFAULT_FRAGMENTS
    ) -> Results:
        """See `Index.similar`."""
        started = time.perf_counter()
        doc_id, limit = _document_id(doc_id), positive_number(limit, "limit")
        with self._lock:
            whoosh_searcher = self._current()
            docnum, stored = _stored_document(whoosh_searcher, doc_id)
            source = f"{stored.get('title', '')}\n{stored.get('body', '')}"
            keys = whoosh_searcher.key_terms_from_text("body", source, numterms=SIMILAR_TERMS)
            words = [wq.Term(f, t, boost=w) for t, w in keys for f in TEXT_FIELDS]
            q = wq.Or(words) if words else wq.NullQuery
            label = f"similar to {doc_id}: " + " ".join(t for t, _ in keys)
            results = self._run(
                ParsedQuery(label, q),
                None,
                limit=limit,
                fragments=fragments,
                mask={docnum},
                label=label,
            )
        return _with_time(results, time.perf_counter() - started)

    # -- running a query -------------------------------------------------------------------

    def _run(
        self,
        parsed: ParsedQuery,
        allow: np.ndarray | None,
        *,
        limit: int,
        page: int = 1,
        sort: str = "relevance",
        facets: tuple[str, ...] = (),
        facet_limit: int | None = None,
        fragments: int = DEFAULT_FRAGMENTS,
        explain: bool = False,
        strict: bool = False,
        mask: set[int] | None = None,
        label: str | None = None,
    ) -> Results:
        # Set by `_current()`, which every caller holds the lock around.
        parser, highlighter, speller = self._parser, self._highlighter, self._speller
        assert parser is not None and highlighter is not None and speller is not None
        scorer = self._scorer
        q = parsed.query
        wanted = page * limit
        matched = scorer.matching(q, allow, mask)
        exact = matched.count()
        notes = list(parsed.notes)
        # Words typed without operators: a document matches when it holds any of them, and
        # those holding every word rank first. The same rule for every page and page size.
        counted, every_word, all_words = matched, None, None
        if parsed.relaxed is not None:
            wider = scorer.matching(parsed.relaxed, allow, mask)
            all_words = exact
            if wider.count() > exact:
                counted, q = wider, parsed.relaxed
                every_word = matched.hit
                if not exact:
                    notes.append("no document holds every word; documents with some of them")
        matches = counted.ids()
        ranked = _rank(self._values.dates, every_word, counted, matches, sort, wanted)
        terms = highlighter.query_terms(q, self._whoosh.reader())
        body_terms = terms.get("body", frozenset())
        finder = highlighter.finder(body_terms)
        first = (page - 1) * limit
        hits = []
        for i, (score, docnum) in enumerate(ranked[first:wanted]):
            stored = self._whoosh.stored_fields(docnum)
            body = stored.get("body", "") or ""
            text, highlights = highlighter.snippet(body, body_terms, finder, fragments)
            parts = scorer.explain(q, docnum) if explain else ()
            hits.append(_hit(first + i + 1, score, stored, Snippet(text, highlights), parts))
        facet_counts = {
            name: tuple(
                FacetCount(v, n)
                for v, n in self._values.count(name, counted.hit, matches, facet_limit)
            )
            for name in facets
        }
        suggestion = None
        if exact < SUGGEST_BELOW:

            def count(text: str) -> int:
                respelled = bound_parsed(
                    parser.parse(text, strict=strict), self._whoosh.reader()
                ).query
                return scorer.matching(respelled, allow).count()

            suggestion = speller.suggestion(parsed, exact, count)
        return Results(
            hits=tuple(hits),
            total=int(matches.size),
            facets=MappingProxyType(facet_counts),
            suggestion=suggestion,
            query=label or str(parsed),
            notes=tuple(notes),
            relaxed=every_word is not None,
            all_words=all_words,
            page=page,
            limit=limit,
        )


# -- helpers ---------------------------------------------------------------------------------


def _rank(dates, every_word, counted, doc, sort, wanted) -> list[tuple[float, int]]:
    """The first `wanted` (score, global docnum) of the matches (`counted`, whose document
    numbers are `doc`), in order.

    Relevance: the documents that hold every word (`every_word`: flags, None when that does
    not apply) first, then higher score first, then lower docnum (Whoosh's order). Date:
    older or newer first over all matches, undated last; one date's documents by the
    relevance order. `dates()` gives (date numbers, has a date) per document.
    """
    if not doc.size:
        return []
    score = counted.score[doc]
    keys = [doc, -score]
    if every_word is not None:
        keys.append(~every_word[doc])  # the documents holding every word first
    if sort == "relevance":
        # One number that orders as the keys do (ties aside), to cut the candidates with.
        primary = keys[1] if every_word is None else keys[1] + keys[2] * (np.ptp(score) + 1)
    else:
        numbers, has_date = dates()
        sign = -1 if sort == "-date" else 1
        dates_of, dated = sign * numbers[doc], has_date[doc]
        keys += [dates_of, ~dated]
        primary = np.where(dated, dates_of, np.iinfo(np.int64).max)
    order = _first(keys, primary, wanted)
    return list(zip(score[order].tolist(), doc[order].tolist(), strict=True))


def _first(keys: list[np.ndarray], primary: np.ndarray, wanted: int) -> np.ndarray:
    """Indexes of the `wanted` smallest rows by `keys` (the last key first, as in
    `np.lexsort`), in order; with many rows, cut first to the rows whose `primary` (a number
    that orders as the keys do, ties aside) is among the `wanted` smallest."""
    n = keys[0].size
    if n > 4 * wanted:
        # Ties of the primary key at the cut stay candidates: the order stays exact.
        candidates = np.flatnonzero(primary <= np.partition(primary, wanted - 1)[wanted - 1])
        if candidates.size < n:
            order = np.lexsort([k[candidates] for k in keys])[:wanted]
            return candidates[order]
    return np.lexsort(keys)[:wanted]


def _hit(rank: int, score: float, stored: dict, snippet: Snippet, parts) -> Hit:
    return Hit(
        rank=rank,
        id=stored["id"],
        score=float(score),
        title=stored.get("title", "") or "",
        date=stored.get("date_text"),
        path=stored.get("path", "") or "",
        fields=MappingProxyType(_meta(stored)),
        snippet=snippet,
        explanation=tuple(ScorePart(*p) for p in parts),
    )


def _meta(stored: dict) -> dict[str, tuple[str, ...]]:
    meta = stored.get("meta") or {}
    return {str(k): tuple(str(v) for v in vs) for k, vs in meta.items()}


def positive_number(value, name: str) -> int:
    """`value` when it is a whole number of 1 or more, else a `UsageError` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name} must be a whole number of 1 or more, not {value!r}")
    return value


def _document_id(value) -> str:
    # Whoosh fails inside on None or a number (TypeError). An empty string is a well-formed
    # id that no document has: DocumentNotFound, as tests/test_boundaries.py expects.
    if not isinstance(value, str):
        raise InvalidValue("doc_id", f"must be a string, not {value!r}")
    return value


def _with_time(results: Results, seconds: float) -> Results:
    return replace(results, seconds=seconds)


def _stored_document(whoosh_searcher, doc_id: str) -> tuple[int, dict]:
    """(document number, stored fields) of an indexed document; `DocumentNotFound` if none."""
    docnum = whoosh_searcher.document_number(id=doc_id)
    if docnum is None:
        raise DocumentNotFound(doc_id)
    return docnum, whoosh_searcher.stored_fields(docnum)


def _document(stored: dict):
    """The `Document` a stored record holds."""
    date_text = stored.get("date_text")
    return Document(
        id=stored["id"],
        title=stored.get("title", ""),
        body=stored.get("body", ""),
        date=PartialDate.parse(date_text) if date_text else None,
        path=stored.get("path", ""),
        fields=MappingProxyType(_meta(stored)),
    )
