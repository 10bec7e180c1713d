"""Running a query: ranked hits, snippets, facet counts, suggestions -> frozen dataclasses.

`SearchState` is what an open `Index` keeps between searches: one Whoosh searcher, opened
anew when the index changes (two cheap checks per search: the pointer file and the
generation's table of contents), and caches:

- matching and ranking: each term's postings are read a block at a time and scored with
  Whoosh's BM25F formula; AND / OR / NOT over them is done with dicts and sets, other
  queries (phrases, wildcards, ranges) run through their own Whoosh matchers. Scores equal
  Whoosh's exhaustive ones; Whoosh's own top-N collector is ~10x slower on Reuters and, with
  its block-quality skipping, drops true top hits of AND queries (`interest rates`: the
  second best of its own scores is missing from `searcher.search(limit=20)`);
- facet values: for each segment and field, an array docnum -> value ids, built once from the
  inverted index and counted over the matched document numbers (Whoosh's `groupedby` costs
  ~30-500 ms per search on Reuters; counting these arrays well under a millisecond for a
  typical query). Segments never change once written (a deletion only hides documents, and
  matches never include hidden ones), so an incremental commit builds arrays for its new
  segments only; field lengths and dates per segment are kept the same way;
- per searcher generation: scored postings, filter document sets (dates, `where`);
- the indexed form of each word met while highlighting, so snippets need no analyzer run.

Every result is built while the lock and the searcher are held, from plain Python values:
`Results` stay valid after the searcher is closed or replaced, and can be shared by threads.
"""

from __future__ import annotations

import heapq
import re
import struct
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from types import MappingProxyType

from whoosh import query as wq
from whoosh import scoring
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.columns import NumericColumn
from whoosh.matching.wrappers import FilterMatcher
from whoosh.util.numeric import byte_to_length

from .dates import PartialDate
from .errors import DocumentNotFound, IndexCorrupt, UsageError
from .query import (
    ParsedQuery,
    PeriodQuery,
    QueryParser,
    parse_where,
    span_query,
    to_span,
    utc_now,
    where_query,
)
from .schema import DATE_FACETS, TEXT_FIELDS, is_metadata_field
from .store import IndexDirectory

#: Ranking. B=0.9 (Whoosh's default is 0.75) was the best single setting on the judged
#: collections in ../shared/ir, at or above plain Whoosh on each; see bench/search_bench.py.
BM25_B = 0.9
BM25_K1 = 1.2
SORTS = ("relevance", "date", "-date")
DEFAULT_LIMIT = 10
DEFAULT_FRAGMENTS = 1
DEFAULT_FACET_LIMIT = 10
#: A snippet fragment: at most this many characters, starting up to LEAD before a match.
FRAGMENT_CHARS = 200
FRAGMENT_LEAD = 60
#: Below this many hits, look for a better-spelled query.
SUGGEST_BELOW = 5
#: Words seen in fewer documents than this may be misspellings.
RARE_WORD_DOCS = 5
#: Key terms taken from a document to find similar ones.
SIMILAR_TERMS = 12
#: Term expansions (wildcards, ranges) considered for highlighting, per query clause.
MAX_HIGHLIGHT_TERMS = 1000
_FILTER_CACHE_SIZE = 64
#: Scored postings kept between searches (about 100 bytes each).
_TERM_CACHE_POSTINGS = 2_000_000
_WORD_CACHE_SIZE = 200_000
_SPACES = re.compile(r"\s+")


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

    def __iter__(self):
        # So that `for value, count in results.facets["topics"]` reads naturally.
        return iter((self.value, self.count))


@dataclass(frozen=True)
class Results:
    """One page of hits, the total, facet counts, a spelling suggestion, the query as parsed.

    `relaxed` is True when too few documents held every word and documents holding some of
    them follow (their number is in `total`); `notes` say what else leniency changed.
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

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):
        return iter(self.hits)

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {
            "query": self.query,
            "total": self.total,
            "page": self.page,
            "limit": self.limit,
            "relaxed": self.relaxed,
            "hits": [h.as_dict() for h in self.hits],
            "facets": {
                name: [{"value": c.value, "count": c.count} for c in counts]
                for name, counts in self.facets.items()
            },
            "suggestion": self.suggestion,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 6),
        }


# -- the searcher and its caches -------------------------------------------------------------


@dataclass
class _FacetColumn:
    """One facet field of one segment: value names, each document's first value id (-1:
    none) and its further value ids (most documents have one value, or none)."""

    names: list[str]
    first: list[int]
    more: dict[int, list[int]]


@dataclass
class _Leaf:
    """One segment of the open searcher."""

    searcher: object
    offset: int
    key: tuple[str, str]  # (generation, segment id): what segment caches are keyed by


class SearchState:
    """The open searcher of an `Index` and its caches; thread-safe (one search at a time)."""

    def __init__(self, directory: IndexDirectory) -> None:
        self._directory = directory
        self._lock = threading.RLock()
        self._generation: str | None = None
        self._ix = None
        self._searcher = None
        self._leaves: list[_Leaf] = []
        self._parser: QueryParser | None = None
        self._fields: frozenset[str] = frozenset()
        self._segment_cache: dict[tuple, object] = {}
        self._filters: OrderedDict = OrderedDict()
        self._terms: OrderedDict = OrderedDict()
        self._terms_size = 0
        self._words: dict[str, str | None] = {}
        self._weighting = scoring.BM25F(B=BM25_B, K1=BM25_K1)
        self._tokens = None
        self._analyzer = None

    def close(self) -> None:
        """Close the searcher; the next search opens the index again."""
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
            self._searcher = self._ix = None
            self._generation = None
            self._segment_cache.clear()
            self._filters.clear()

    # -- keeping up with the index ---------------------------------------------------------

    def _current(self):
        """The searcher for the live index, opened anew when the index changed.

        Two cheap checks per search: the pointer file (a rebuild swaps generations) and the
        generation's latest table of contents (an incremental commit). Whoosh's own
        `Searcher.refresh()` is not used: it reuses segment readers with their old deletions
        and keeps segments a merge removed (whoosh.index.FileIndex._reader).
        """
        meta = self._directory.read_meta()
        if self._searcher is not None and meta.current == self._generation:
            try:
                if self._ix.latest_generation() == self._searcher.reader().generation():
                    return self._searcher
            except OSError:
                pass  # the generation's folder went away under us: open the live one
        reopen = meta.current != self._generation or self._ix is None
        for attempt in range(3):
            if reopen:
                # The pointer is read again with the open: rebuilds may have swapped it (and
                # removed the generation read above) meanwhile.
                meta, self._ix = self._directory.open_current()
                # Whoosh would map each segment file and copy it whole into a BytesIO
                # (measured on Reuters: 70 ms to open and +170 MB); plain reads search as fast.
                self._ix.storage.supports_mmap = False
            try:
                searcher = self._ix.searcher(weighting=self._weighting)
                break
            except (OSError, IndexCorrupt):
                # The generation went away between reading the pointer and opening it.
                if attempt == 2:
                    raise
                reopen = True
        old = self._searcher
        self._adopt(searcher, meta.current)
        if old is not None:
            old.close()
        return self._searcher

    def _adopt(self, searcher, generation: str) -> None:
        self._searcher = searcher
        self._generation = generation
        # Filters and scores depend on deletions and collection statistics: per generation.
        self._filters.clear()
        self._terms.clear()
        self._terms_size = 0
        self._leaves = [
            _Leaf(sub, offset, (generation, _segment_id(sub.reader())))
            for sub, offset in searcher.leaf_searchers()
        ]
        live = {leaf.key for leaf in self._leaves}
        for key in [k for k in self._segment_cache if k[:2] not in live]:
            del self._segment_cache[key]
        reader = searcher.reader()
        names = set(reader.indexed_field_names())
        metadata = {n for n in names if is_metadata_field(n) and n in reader.schema}
        self._fields = frozenset(metadata | set(DATE_FACETS))
        self._parser = QueryParser(reader.schema, metadata)
        analyzer = reader.schema["body"].analyzer
        self._analyzer = analyzer
        tokenizer = getattr(analyzer, "items", [analyzer])[0]
        self._tokens = getattr(tokenizer, "expression", None) or re.compile(r"\w+(\.?\w+)*")

    # -- the public operations -------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        limit: int = DEFAULT_LIMIT,
        page: int = 1,
        since=None,
        until=None,
        where=None,
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
        limit, page, fragments = _positive(limit, "limit"), _positive(page, "page"), fragments
        if not isinstance(fragments, int) or fragments < 0:
            raise UsageError(f"fragments must be 0 or more, not {fragments!r}")
        if sort not in SORTS:
            raise UsageError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        if isinstance(facets, str):
            facets = (facets,)
        facets = tuple(dict.fromkeys(str(f).strip().lower() for f in facets))
        now = now or utc_now()
        since_span = to_span(since, now=now) if since is not None else None
        until_span = to_span(until, now=now) if until is not None else None
        where_map = parse_where(where)
        with self._lock:
            self._current()
            parsed = self._parser.parse(text, strict=strict, now=now)
            unknown = [f for f in facets if f not in self._fields]
            if unknown:
                names = ", ".join(sorted(self._fields)) or "none"
                raise UsageError(f"no facet field {unknown[0]!r} in the index (fields: {names})")
            clauses = [
                c
                for c in (span_query(since_span, until_span), where_query(where_map, self._fields))
                if c is not None
            ]
            clauses += parsed.filters
            allow = None
            if clauses:
                allow = self._filter(wq.And(clauses) if len(clauses) > 1 else clauses[0])
            results = self._run(
                parsed,
                allow,
                limit=limit,
                page=page,
                sort=sort,
                facets=facets,
                facet_limit=facet_limit,
                fragments=fragments,
                explain=explain,
                strict=strict,
            )
        return _with_time(results, time.perf_counter() - started)

    def get(self, doc_id: str):
        """See `Index.get`."""
        # Imported here: documents.py loads the readers of every file format (YAML...),
        # which a search from the command line does not need.
        from .documents import Document

        with self._lock:
            _, stored = _stored_document(self._current(), doc_id)
        date_text = stored.get("date_text")
        return Document(
            id=stored["id"],
            title=stored.get("title", ""),
            body=stored.get("body", ""),
            date=PartialDate.parse(date_text) if date_text else None,
            path=stored.get("path", ""),
            fields=MappingProxyType(_meta(stored)),
        )

    def similar(
        self, doc_id: str, *, limit: int = DEFAULT_LIMIT, fragments: int = DEFAULT_FRAGMENTS
    ):
        """See `Index.similar`."""
        started = time.perf_counter()
        limit = _positive(limit, "limit")
        with self._lock:
            searcher = self._current()
            docnum, stored = _stored_document(searcher, doc_id)
            source = f"{stored.get('title', '')}\n{stored.get('body', '')}"
            keys = searcher.key_terms_from_text("body", source, numterms=SIMILAR_TERMS)
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

    def _filter(self, q: wq.Query) -> set[int]:
        """Global numbers of the documents a filter query allows, cached per generation.

        It restricts what a query matches before anything is ranked or counted, as Whoosh's
        `filter=` does (its FilterCollector checks each match against such a set).
        """
        key = repr(q)
        cached = self._filters.get(key)
        if cached is not None:
            self._filters.move_to_end(key)
            return cached
        docs = {d + leaf.offset for leaf in self._leaves for d in q.docs(leaf.searcher)}
        self._filters[key] = docs
        if len(self._filters) > _FILTER_CACHE_SIZE:
            self._filters.popitem(last=False)
        return docs

    def _matching(self, q, allow, mask=None) -> list[dict[int, float]]:
        """Per segment, {local docnum: score} of the documents `q` matches within the filter."""
        out = []
        for leaf in self._leaves:
            scores = self._evaluate(q, leaf)
            off = leaf.offset
            if allow is not None or mask:
                scores = {
                    d: s
                    for d, s in scores.items()
                    if (allow is None or d + off in allow) and not (mask and d + off in mask)
                }
            out.append(scores)
        return out

    def _run(
        self,
        parsed: ParsedQuery,
        allow: set[int] | None,
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
        q = parsed.query
        wanted = page * limit
        matched = self._matching(q, allow, mask)
        exact = sum(map(len, matched))
        notes = list(parsed.notes)
        relaxed = False
        counted = matched
        if parsed.relaxed is not None and exact < wanted:
            wider = self._matching(parsed.relaxed, allow, mask)
            if sum(map(len, wider)) > exact:
                relaxed, counted, q = True, wider, parsed.relaxed
                holds = "document holds" if exact == 1 else "documents hold"
                notes.append(f"{exact} {holds} every word; documents with some of them follow")
        ranked = self._rank(matched if relaxed else None, counted, sort, wanted)
        terms = self._highlight_terms(q)
        finder = self._finder(terms.get("body", frozenset()))
        first = (page - 1) * limit
        hits = tuple(
            self._hit(
                first + i + 1,
                docnum,
                score,
                terms,
                finder,
                fragments,
                self._explain(q, docnum) if explain else (),
            )
            for i, (score, docnum) in enumerate(ranked[first:wanted])
        )
        facet_counts = {name: self._facet(name, counted, facet_limit) for name in facets}
        suggestion = None
        if exact < SUGGEST_BELOW:
            suggestion = self._suggest(parsed, allow, exact, strict)
        return Results(
            hits=hits,
            total=sum(map(len, counted)),
            facets=MappingProxyType(facet_counts),
            suggestion=suggestion,
            query=label or str(parsed),
            notes=tuple(notes),
            relaxed=relaxed,
            page=page,
            limit=limit,
        )

    def _rank(self, every_word, counted, sort, wanted) -> list[tuple[float, int]]:
        """The first `wanted` (score, global docnum), best first.

        Relevance: higher score first, then lower docnum (Whoosh's order). Date: older or
        newer first, undated last. With `every_word` (a relaxed query), the documents that
        hold every word come before the others in either order.
        """
        keyed = []
        for i, (leaf, scores) in enumerate(zip(self._leaves, counted, strict=True)):
            off = leaf.offset
            first = every_word[i] if every_word is not None else None
            if sort == "relevance":
                for d, s in scores.items():
                    tier = 0 if first is None or d in first else 1
                    keyed.append((tier, -s, d + off))
            else:
                dates = self._dates(leaf)
                sign = -1 if sort == "-date" else 1
                for d, s in scores.items():
                    tier = 0 if first is None or d in first else 1
                    value = dates[d]
                    if value is None:
                        keyed.append((tier, 1, 0, d + off, s))
                    else:
                        keyed.append((tier, 0, sign * value, d + off, s))
        best = heapq.nsmallest(wanted, keyed)
        if sort == "relevance":
            return [(-k[1], k[2]) for k in best]
        return [(k[4], k[3]) for k in best]

    # -- evaluating queries ----------------------------------------------------------------

    def _evaluate(self, q, leaf: _Leaf) -> dict[int, float]:
        """{local docnum: score} for one segment, scored as Whoosh's matchers would.

        Boolean structure over terms is computed here with dictionaries and sets (Whoosh's
        matcher trees step through every posting in Python: ~10x slower on Reuters); any
        other query (phrases, wildcards, ranges...) runs through its own Whoosh matcher.
        """
        kind = type(q)
        if kind is wq.Term:
            return self._term_scores(leaf, q.fieldname, q.text, q.boost)
        if kind is wq.And:
            positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
            negative = [c.query for c in q.subqueries if isinstance(c, wq.Not)]
            if not positive:
                return self._everything_but(leaf, negative)
            parts = sorted((self._evaluate(c, leaf) for c in positive), key=len)
            out = _intersect(parts)
            for c in negative:
                out = _subtract(out, self._evaluate(c, leaf))
            return _boosted(out, q.boost)
        if kind is wq.Or and not q.scale:
            out: dict[int, float] = {}
            for c in q.subqueries:
                if isinstance(c, wq.Not):
                    return self._whoosh_scores(q, leaf)
                part = self._evaluate(c, leaf)
                if not out:
                    out = dict(part)
                    continue
                get = out.get
                for d, s in part.items():
                    out[d] = get(d, 0.0) + s
            return _boosted(out, q.boost)
        if kind is wq.Not:
            return self._everything_but(leaf, [q.query])
        if kind is wq.AndNot:
            return _subtract(self._evaluate(q.a, leaf), self._evaluate(q.b, leaf))
        if kind is wq.AndMaybe:
            out = dict(self._evaluate(q.a, leaf))
            for d, s in self._evaluate(q.b, leaf).items():
                if d in out:
                    out[d] += s
            return out
        if kind is wq.Require:
            other = self._evaluate(q.b, leaf)
            return {d: s for d, s in self._evaluate(q.a, leaf).items() if d in other}
        if kind is PeriodQuery:
            return dict.fromkeys(self._docs(q.child, leaf), 1.0)
        if kind is wq.Every and q.fieldname is None:
            return dict.fromkeys(leaf.searcher.reader().all_doc_ids(), 1.0)
        if q is wq.NullQuery or kind is type(wq.NullQuery):
            return {}
        return self._whoosh_scores(q, leaf)

    def _docs(self, q, leaf: _Leaf) -> list[int]:
        return list(q.docs(leaf.searcher))

    def _everything_but(self, leaf: _Leaf, excluded) -> dict[int, float]:
        out = dict.fromkeys(leaf.searcher.reader().all_doc_ids(), 0.0)
        for c in excluded:
            for d in self._evaluate(c, leaf):
                out.pop(d, None)
        return out

    def _whoosh_scores(self, q, leaf: _Leaf) -> dict[int, float]:
        out = {}
        m = q.matcher(leaf.searcher)
        while m.is_active():
            out[m.id()] = m.score()
            m.next()
        return out

    def _term_scores(self, leaf: _Leaf, fieldname: str, text, boost: float) -> dict[int, float]:
        """BM25F scores of one term's postings in one segment, as Whoosh's BM25FScorer gives."""
        key = (leaf.key, fieldname, text)
        scores = self._terms.get(key)
        if scores is None:
            scores = self._score_postings(leaf, fieldname, text)
            self._terms[key] = scores
            self._terms_size += len(scores) + 1
            while self._terms_size > _TERM_CACHE_POSTINGS and len(self._terms) > 1:
                _, old = self._terms.popitem(last=False)
                self._terms_size -= len(old) + 1
        else:
            self._terms.move_to_end(key)
        if boost != 1.0:
            return {d: s * boost for d, s in scores.items()}
        return scores

    def _score_postings(self, leaf: _Leaf, fieldname: str, text) -> dict[int, float]:
        searcher = leaf.searcher
        reader = searcher.reader()
        schema = reader.schema
        if fieldname not in schema:
            return {}
        field_obj = schema[fieldname]
        try:
            btext = field_obj.to_bytes(text)
        except ValueError:
            return {}
        if (fieldname, btext) not in reader:
            return {}
        ids, weights = _read_postings(reader, fieldname, btext)
        if not field_obj.scorable:
            return dict(zip(ids, weights, strict=True))
        top = self._searcher
        idf = top.idf(fieldname, btext)
        avgfl = top.avg_field_length(fieldname) or 1
        lengths = self._lengths(leaf, fieldname)
        k1 = BM25_K1
        norm_a = k1 * (1 - BM25_B)
        norm_b = k1 * BM25_B / avgfl
        k1p1 = idf * (k1 + 1)
        # bm25() of whoosh.scoring, term by term: idf * tf (K1+1) / (tf + K1 (1-B + B fl/avgfl))
        return {
            d: k1p1 * w / (w + norm_a + norm_b * lengths[d])
            for d, w in zip(ids, weights, strict=True)
        }

    def _lengths(self, leaf: _Leaf, fieldname: str) -> list[int]:
        key = (*leaf.key, "#length", fieldname)
        lengths = self._segment_cache.get(key)
        if lengths is None:
            reader = leaf.searcher.reader()
            lengths = None
            perdoc = getattr(reader, "_perdoc", None)
            lenfield = f"_{fieldname}_len"  # whoosh.codec.whoosh3._lenfield
            if perdoc is not None and perdoc.has_column(lenfield):
                column = perdoc.column_reader(lenfield, LENGTHS_COLUMN)
                table = [byte_to_length(b) or 1 for b in range(256)]
                lengths = [table[b] for b in _column_values(column, reader.doc_count_all())]
            if lengths is None:
                length = reader.doc_field_length
                lengths = [length(d, fieldname, 1) or 1 for d in range(reader.doc_count_all())]
            self._segment_cache[key] = lengths
        return lengths

    # -- per-segment arrays ----------------------------------------------------------------

    def _dates(self, leaf: _Leaf) -> list[int | None]:
        """Each document's start date (Whoosh's number for it), None when undated."""
        key = (*leaf.key, "#date")
        values = self._segment_cache.get(key)
        if values is None:
            reader = leaf.searcher.reader()
            if not reader.doc_count_all():
                return []
            column = reader.column_reader("date", translate=False)
            missing = reader.schema["date"].column_type.default_value()
            values = [
                None if v == missing else v for v in _column_values(column, reader.doc_count_all())
            ]
            self._segment_cache[key] = values
        return values

    def _values(self, leaf: _Leaf, name: str) -> _FacetColumn:
        """A facet field's values per document of one segment, built once from its postings."""
        key = (*leaf.key, name)
        column = self._segment_cache.get(key)
        if column is None:
            reader = leaf.searcher.reader()
            first = [-1] * reader.doc_count_all()
            more: dict[int, list[int]] = {}
            names = []
            for i, term in enumerate(reader.lexicon(name)):
                names.append(term.decode("utf-8"))
                for d in _read_postings(reader, name, term)[0]:
                    if first[d] < 0:
                        first[d] = i
                    else:
                        more.setdefault(d, []).append(i)
            column = _FacetColumn(names, first, more)
            self._segment_cache[key] = column
        return column

    def _facet(self, name, counted, facet_limit) -> tuple[FacetCount, ...]:
        totals: Counter = Counter()
        for leaf, scores in zip(self._leaves, counted, strict=True):
            if not scores:
                continue
            column = self._values(leaf, name)
            if not column.names:
                continue
            docs = scores.keys()
            counts = Counter(map(column.first.__getitem__, docs))
            for d in column.more.keys() & docs:
                counts.update(column.more[d])
            counts.pop(-1, None)
            for vid, n in counts.items():
                totals[column.names[vid]] += n
        if name in DATE_FACETS:
            # A histogram: every value, in time order.
            return tuple(FacetCount(v, n) for v, n in sorted(totals.items()))
        items = sorted(totals.items(), key=lambda vn: (-vn[1], vn[0]))
        if facet_limit:
            items = items[:facet_limit]
        return tuple(FacetCount(v, n) for v, n in items)

    # -- hits, snippets, explanations ------------------------------------------------------

    def _hit(self, rank, docnum, score, terms, finder, fragments, explanation) -> Hit:
        stored = self._searcher.stored_fields(docnum)
        body = stored.get("body", "") or ""
        return Hit(
            rank=rank,
            id=stored["id"],
            score=float(score),
            title=stored.get("title", "") or "",
            date=stored.get("date_text"),
            path=stored.get("path", "") or "",
            fields=MappingProxyType(_meta(stored)),
            snippet=self._snippet(body, terms.get("body", frozenset()), finder, fragments),
            explanation=tuple(explanation),
        )

    def _highlight_terms(self, q) -> dict[str, frozenset[str]]:
        """Indexed terms per text field that the positive parts of `q` match."""
        reader = self._searcher.reader()
        found: dict[str, set[str]] = {}
        for leaf in _positive_leaves(q):
            try:
                fieldname = leaf.field()
            except (AttributeError, NotImplementedError):  # Whoosh nodes without one field
                continue
            if fieldname not in TEXT_FIELDS:
                continue
            for fname, text in islice(
                leaf.expanded_terms(reader, phrases=True), MAX_HIGHLIGHT_TERMS
            ):
                if isinstance(text, bytes):
                    text = text.decode("utf-8")
                found.setdefault(fname, set()).add(text)
        return {k: frozenset(v) for k, v in found.items()}

    def _term_of(self, word: str) -> str | None:
        """The indexed form of one surface word (None for a stop word), memoised."""
        words = self._words
        try:
            return words[word]
        except KeyError:
            pass
        term = None
        for token in self._analyzer(word):
            term = token.text
            break
        if len(words) > _WORD_CACHE_SIZE:
            words.clear()
        words[word] = term
        return term

    def _snippet(self, text: str, terms: frozenset[str], finder, fragments: int) -> Snippet:
        if fragments <= 0 or not text:
            return Snippet()
        matches = []
        if terms:
            term_of = self._term_of
            # ASCII text: only tokens starting like a query term are analysed (a term is its
            # word minus a changed ending); other text: every token, accents and all.
            tokens = finder if text.isascii() else self._tokens
            for m in tokens.finditer(text):
                t = term_of(m.group())
                if t is not None and t in terms:
                    matches.append((m.start(), m.end(), t))
        return render_snippet(text, choose_fragments(text, matches, fragments))

    def _finder(self, terms: frozenset[str]):
        """A pattern for the tokens that may be `terms`: the tokenizer's, anchored on prefixes."""
        if not terms:
            return None
        prefixes = "|".join(sorted({re.escape(t[: max(1, len(t) - 1)]) for t in terms}))
        start = r"(?<!\w)(?<!\w\.)(?=(?:" + prefixes + "))"
        return re.compile(start + self._tokens.pattern, re.IGNORECASE)

    def _explain(self, q, docnum: int) -> list[ScorePart]:
        """The score of each query term in one hit (what the sum of the hit's score is made of)."""
        leaf = next(x for x in reversed(self._leaves) if x.offset <= docnum)
        local = docnum - leaf.offset
        reader = leaf.searcher.reader()
        parts = {}
        for node in _positive_leaves(q):
            if type(node) is not wq.Term or node.fieldname not in TEXT_FIELDS:
                continue
            score = self._term_scores(leaf, node.fieldname, node.text, node.boost).get(local)
            if score is None:
                continue
            key = (node.fieldname, node.text)
            frequency = 0.0
            if key not in parts:
                m = reader.postings(node.fieldname, node.text)
                m.skip_to(local)
                frequency = float(m.weight()) if m.is_active() and m.id() == local else 0.0
                parts[key] = ScorePart(node.fieldname, node.text, frequency, round(score, 4))
        return sorted(parts.values(), key=lambda p: -p.score)

    # -- did you mean ----------------------------------------------------------------------

    def _suggest(self, parsed: ParsedQuery, allow, found: int, strict: bool) -> str | None:
        """The query with unknown (or, when nothing matched, rare) words replaced by frequent
        words of the index within two edits, if that query finds more documents."""
        text = parsed.text
        spans = {}
        for leaf in _positive_leaves(parsed.query):
            if not isinstance(leaf, wq.Term) or leaf.fieldname not in TEXT_FIELDS:
                continue
            start, end = getattr(leaf, "startchar", None), getattr(leaf, "endchar", None)
            if start is None or end is None or (start, end) in spans:
                continue
            spans[(start, end)] = leaf.text
        rare = RARE_WORD_DOCS if found == 0 else 1
        replacements = {}
        for (start, end), term in spans.items():
            frequency = self._doc_frequency(term)
            if frequency >= rare:
                continue
            better = self._correction(text[start:end].lower(), frequency)
            if better is not None:
                replacements[(start, end)] = better
        if not replacements:
            return None
        new = text
        for (start, end), word in sorted(replacements.items(), reverse=True):
            new = new[:start] + word + new[end:]
        q = self._parser.parse(new, strict=strict).query
        if sum(map(len, self._matching(q, allow))) <= found:
            return None
        return new

    def _doc_frequency(self, term: str) -> int:
        reader = self._searcher.reader()
        return max(reader.doc_frequency(f, term) for f in TEXT_FIELDS)

    def _correction(self, word: str, frequency: int) -> str | None:
        """The most frequent word of the index one (else two) edits away, if much more common."""
        reader = self._searcher.reader()
        spelling = self._searcher.schema["body"].spelling_fieldname("body")
        if spelling not in reader.schema:
            return None
        for distance in (1, 2):
            if distance == 2 and len(word) < 5:
                break  # two edits of a short word reach too many unrelated words
            # An unknown word takes any known one; a rare one only a far more common one.
            best, best_df = None, 10 * frequency if frequency else 0
            for candidate in reader.terms_within(spelling, word, distance, prefix=1):
                term = self._term_of(candidate) if candidate != word else None
                df = self._doc_frequency(term) if term else 0
                if df > best_df or (df == best_df and best is not None and candidate < best):
                    best, best_df = candidate, df
            if best is not None:
                return best
        return None


def _read_postings(reader, fieldname: str, btext: bytes) -> tuple[list[int], list[float]]:
    """The document numbers and weights of one term in one segment, deleted ones left out.

    Reads whole blocks of the pinned whoosh-reloaded 2.7.5 codec (`W3LeafMatcher`) instead of
    stepping posting by posting; any other matcher is stepped through.
    """
    m = reader.postings(fieldname, btext)
    deleted = None
    if isinstance(m, FilterMatcher):
        deleted = reader.deleted_docs_set  # what SegmentReader.postings filtered with
        m = m.child
    ids: list[int] = []
    weights: list[float] = []
    if isinstance(m, W3LeafMatcher):
        while m.is_active():
            m._read_ids()
            m._read_weights()
            ids.extend(m._ids)
            weights.extend(m._weights)
            m._next_block()
    else:
        while m.is_active():
            ids.append(m.id())
            weights.append(m.weight())
            m.next()
    if deleted:
        kept = [(d, w) for d, w in zip(ids, weights, strict=True) if d not in deleted]
        ids = [d for d, _ in kept]
        weights = [w for _, w in kept]
    return ids, weights


def _segment_id(reader) -> str:
    """What segment caches are keyed by; an index without documents has no segment."""
    segment = reader.segment()
    return segment.segment_id() if segment is not None else "(empty)"


def _column_values(column, doccount: int) -> list:
    """Every value of a Whoosh column, in document order.

    A numeric column of the pinned codec is one run of fixed-size records: it is unpacked
    at once (stepping through 21,578 documents one by one costs ~10 ms per column).
    """
    if isinstance(column, NumericColumn.Reader) and not column._reverse:
        count = min(column._count, doccount)
        raw = column._dbfile.get(column._basepos, count * column._fixedlen)
        values = list(struct.unpack(f"!{count}{column._typecode}", raw))
        return values + [column._default] * (doccount - count)
    return list(column)


def _intersect(parts: list[dict[int, float]]) -> dict[int, float]:
    """Documents in every part (smallest first), scores summed."""
    smallest, rest = parts[0], parts[1:]
    out = {}
    for d, s in smallest.items():
        for other in rest:
            t = other.get(d)
            if t is None:
                break
            s += t
        else:
            out[d] = s
    return out


def _subtract(scores: dict[int, float], excluded: dict[int, float]) -> dict[int, float]:
    return {d: s for d, s in scores.items() if d not in excluded}


def _boosted(scores: dict[int, float], boost: float) -> dict[int, float]:
    return scores if boost == 1.0 else {d: s * boost for d, s in scores.items()}


# -- snippets --------------------------------------------------------------------------------


def choose_fragments(text: str, matches: list, count: int) -> list:
    """Up to `count` windows (start, end, matches inside) holding the most distinct terms."""
    if not matches:
        start = _skip_space(text, 0)
        return [(start, _cut_end(text, start, start, start + FRAGMENT_CHARS), [])]
    candidates = []
    n = len(matches)
    for i, (s, _e, _t) in enumerate(matches):
        start = _word_start(text, max(0, s - FRAGMENT_LEAD), s)
        limit = start + FRAGMENT_CHARS
        j = i
        while j < n and matches[j][1] <= limit:
            j += 1
        inside = matches[i:j] or matches[i : i + 1]
        end = _cut_end(text, start, inside[-1][1], limit)
        distinct = len({t for *_, t in inside})
        candidates.append(((distinct, len(inside), -s), start, end, inside))
    candidates.sort(key=lambda c: c[0], reverse=True)
    chosen: list = []
    for _score, start, end, inside in candidates:
        if all(end <= s or start >= e for s, e, _ in chosen):
            chosen.append((start, end, inside))
            if len(chosen) == count:
                break
    chosen.sort()
    return chosen


def render_snippet(text: str, windows: list) -> Snippet:
    """Join the windows with ellipses, whitespace squeezed, recording highlight offsets."""
    parts: list[str] = []
    highlights = []
    length = 0

    def put(piece: str) -> None:
        nonlocal length
        parts.append(piece)
        length += len(piece)

    for k, (start, end, inside) in enumerate(windows):
        if k:
            put(" … ")
        elif start > 0:
            put("…")
        pos = start
        for s, e, _t in inside:
            if s < pos:
                continue
            put(_SPACES.sub(" ", text[pos:s]))
            highlights.append((length, length + (e - s)))
            put(text[s:e])
            pos = e
        put(_SPACES.sub(" ", text[pos:end]).rstrip())
    if windows and windows[-1][1] < len(text.rstrip()):
        put("…")
    return Snippet("".join(parts), tuple(highlights))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _word_start(text: str, pos: int, first_match: int) -> int:
    """`pos` moved forward to the start of a word, never past the first match."""
    if pos == 0:
        return _skip_space(text, 0)
    if text[pos - 1].isspace() and not text[pos].isspace():
        return pos
    m = _SPACES.search(text, pos, first_match)
    return _skip_space(text, m.end()) if m else first_match


def _cut_end(text: str, start: int, last_match_end: int, limit: int) -> int:
    """The end of a window: at `limit` or the text's end, moved back to a space."""
    if limit >= len(text):
        return len(text)
    cut = max((m.start() for m in _SPACES.finditer(text, last_match_end, limit)), default=None)
    return cut if cut is not None else max(last_match_end, limit)


# -- helpers ---------------------------------------------------------------------------------


def _positive_leaves(q):
    """Leaves of `q` outside any NOT (what a matching document contains)."""
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.AndNot):
        yield from _positive_leaves(q.a)
        return
    if q.is_leaf():
        yield q
        return
    for child in q.children():
        yield from _positive_leaves(child)


def _meta(stored: dict) -> dict[str, tuple[str, ...]]:
    meta = stored.get("meta") or {}
    return {str(k): tuple(str(v) for v in vs) for k, vs in meta.items()}


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name} must be a whole number of 1 or more, not {value!r}")
    return value


def _with_time(results: Results, seconds: float) -> Results:
    return replace(results, seconds=seconds)


def _stored_document(searcher, doc_id: str) -> tuple[int, dict]:
    """(document number, stored fields) of an indexed document; `DocumentNotFound` if none."""
    docnum = searcher.document_number(id=doc_id)
    if docnum is None:
        raise DocumentNotFound(doc_id)
    return docnum, searcher.stored_fields(docnum)
