"""A parsed searchkit query and the search options -> an OpenSearch search request body.

The query text is parsed by searchkit's own `QueryParser` (the same leniency, notes and dates
as a local search); the Whoosh query it builds is walked here and never leaves this module.

- Words in `title` and `body` become `combined_fields` clauses over `title^TITLE_BOOST` and
  `body`: OpenSearch's BM25F, the model searchkit scores with (fields combined before the term
  frequency saturates). A word goes as the user typed it and is analysed by the index's
  analyzer, built from the same names as searchkit's (`mapping.index_body`).
- The default query (words without operators) matches documents holding ANY of the words,
  documents holding EVERY word first: the words OR'ed, plus a named constant-score clause
  (`every_word`) of `tier_boost(...)` for documents holding all of them, larger than any
  score a document can reach without it; `response.results_from` takes it off again.
- `date:`, `--since` and `--until` become `range` clauses over the `date` range field with
  `relation: within` (the document's whole period inside the range); `--where` and
  `field:value` on metadata become `term` clauses on normalised keyword fields.

What cannot be said exactly in the query DSL is said in `Translation.notes`. The other
search bodies are here too: `similar_body` (a `more_like_this` query) and `stats_body` (the
aggregations behind `OpenSearchIndex.stats`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from whoosh import query as wq

from ..date_query import PeriodQuery
from ..dates import DateSpan
from ..errors import DateError, UsageError
from ..expansion import MAX_EDITS
from ..query import ParsedQuery, split_words, word_of
from ..schema import DATE_FACETS, TEXT_FIELDS, TITLE_BOOST, WORD_MARK, fold_keyword
from ..search import SIMILAR_TERMS
from .mapping import SORT_DATE, TEXT_FIELDS_WEIGHTED, TEXT_SUBFIELD, iso

#: The name of the every-word clause, found again in each hit's `matched_queries`.
EVERY_WORD = "every_word"
#: Facet aggregations are named `facet:FIELD`; the every-word count is `every_word`.
FACET_PREFIX = "facet:"
#: Values asked for when a facet shows all of them (year/month/day, or `facet_limit` None).
ALL_VALUES = 10_000
#: The highlight marks: private-use characters, so that a `<em>` in an article stays text.
MARK_START = "\ue000"
MARK_END = "\ue001"
#: Characters of one snippet fragment, as `highlight.FRAGMENT_CHARS` in a local search.
FRAGMENT_CHARS = 200
#: Highest BM25 score one word can reach in one document: idf is at most ln(1 + N) (about 17.2
#: for 30 million documents) and the saturated frequency at most k1 + 1 (3.5 for k1 2.5);
#: 64 leaves room for 10^9 documents and a k1 up to 2.7.
MAX_WORD_SCORE = 64.0


@dataclass(frozen=True)
class Translation:
    """A search request body, what it leaves out or changes (`notes`), and how to read the
    answer: `tier` is the score added to every-word documents (0: the query is not tiered)."""

    body: dict[str, Any]
    notes: tuple[str, ...] = ()
    tier: float = 0.0
    facets: tuple[str, ...] = ()
    query: str = ""


def tier_boost(words: int, boost: float = 1.0) -> float:
    """A constant larger than any score `words` query words can give (a power of two, so that
    adding and removing it keeps the score's float32 bits below it)."""
    top = max(1.0, words * boost * MAX_WORD_SCORE)
    return float(2 ** math.ceil(math.log2(top)))


def search_body(
    parsed: ParsedQuery,
    *,
    limit: int,
    page: int = 1,
    since: DateSpan | None = None,
    until: DateSpan | None = None,
    where: Mapping[str, tuple[str, ...]] | None = None,
    facets: Iterable[str] = (),
    facet_limit: int | None = 10,
    sort: str = "relevance",
    fragments: int = 1,
    explain: bool = False,
    phrases: Mapping[tuple[str, ...], str] | None = None,
) -> Translation:
    """The search request body for a parsed query and the options of `Index.search` (already
    checked and normalised by the caller). `phrases` maps a phrase's analysed words to the
    text typed between its quotes (`typed_phrases`)."""
    walker = _Walker(parsed.text, phrases or {})
    filters: list[dict] = [walker.clause(f) for f in parsed.filters]
    if since is not None or until is not None:
        start = since.start if since else None
        end = until.end if until else None
        if start is not None and end is not None and start > end:
            raise DateError(str(since), f"it is after the end of the range ({until})")
        filters.append(_within(start, end))
    for name, values in (where or {}).items():
        folded = [v.strip() if name in DATE_FACETS else fold_keyword(v) for v in values]
        filters.append({"terms": {name: list(dict.fromkeys(folded))}})

    tier = 0.0
    every_word: dict | None = None
    q = parsed.query
    if parsed.relaxed is not None and isinstance(q, wq.And):
        main, every_word, words = walker.tiered(q)
        tier = tier_boost(words, max(walker.boosts or [1.0]) * (TITLE_BOOST + 1))
    elif q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
        main = {"match_none": {}}
    else:
        main = walker.clause(q)

    body: dict[str, Any] = {}
    if every_word is not None and sort != "relevance":
        # Ordered by date, every-word documents first: the tier is the only score that counts.
        main = _bool(
            filter=[main], should=[_named_constant(every_word, 1.0)], minimum_should_match=0
        )
        tier = 0.0  # nothing to take off: the score is the tier, and the note says so
        walker.notes.append(
            "sorted by date on OpenSearch, the hits' scores are 1 (every word) or 0"
        )
    elif every_word is not None:
        main = _bool(should=[main, _named_constant(every_word, tier)], minimum_should_match=1)
    body["query"] = _bool(must=[main], filter=filters) if filters else main
    body["from"] = (page - 1) * limit
    body["size"] = limit
    body["track_total_hits"] = True
    # The body is not shown in a hit; asking without it saves most of the answer's bytes.
    body["_source"] = {"excludes": ["body"]}
    if sort != "relevance":
        order = "asc" if sort == "date" else "desc"
        keys: list = [{SORT_DATE: {"order": order, "missing": "_last"}}, {"id": "asc"}]
        if every_word is not None:
            keys.insert(0, {"_score": {"order": "desc"}})
        else:
            body["track_scores"] = True
        body["sort"] = keys
    aggs: dict[str, Any] = {}
    facets = tuple(facets)
    for name in facets:
        terms: dict[str, Any] = {"field": name}
        if name in DATE_FACETS:
            # A histogram, every value in time order, as in a local search.
            terms.update(size=ALL_VALUES, order={"_key": "asc"})
        else:
            # Most frequent first, ties by value: OpenSearch's default order says the same.
            terms["size"] = facet_limit or ALL_VALUES
        aggs[FACET_PREFIX + name] = {"terms": terms}
    if every_word is not None:
        aggs[EVERY_WORD] = {"filter": every_word}
    if aggs:
        body["aggs"] = aggs
    if fragments:
        body["highlight"] = _highlight(fragments)
    notes = list(walker.notes)
    if explain:
        notes.append("score parts (--explain) are not available from OpenSearch")
    return Translation(body, tuple(dict.fromkeys(notes)), tier, facets, str(parsed))


def similar_body(index_name: str, doc_id: str, *, limit: int, fragments: int) -> Translation:
    """The search request body for the documents like the one with `doc_id` (a
    `more_like_this` query over title and body, the document itself left out)."""
    query = {
        "more_like_this": {
            "fields": list(TEXT_FIELDS),
            "like": [{"_index": index_name, "_id": doc_id}],
            # As a local `similar`: its SIMILAR_TERMS key terms, a word seen once in a short
            # article included (the defaults, 2 and 5, leave a short article no terms).
            "max_query_terms": SIMILAR_TERMS,
            "min_term_freq": 1,
            "min_doc_freq": 1,
            "minimum_should_match": "1",
            "include": False,
        }
    }
    body: dict[str, Any] = {
        "query": query,
        "from": 0,
        "size": limit,
        "track_total_hits": True,
        "_source": {"excludes": ["body"]},
    }
    if fragments:
        body["highlight"] = _highlight(fragments)
    note = (
        "similar documents on OpenSearch come from its more_like_this query: its key terms "
        "and scores differ from a local `similar`, and the title is not weighted"
    )
    return Translation(body, (note,), 0.0, (), f"similar to {doc_id}")


#: Aggregation names of the statistics request.
EARLIEST, LATEST, DISTINCT_PREFIX = "earliest", "latest", "distinct:"
#: The most values a `cardinality` aggregation counts (almost) exactly; OpenSearch's maximum.
PRECISION_THRESHOLD = 40_000


def stats_body(fields: Iterable[str]) -> dict[str, Any]:
    """The search request body for the index's statistics: the first and last dated
    documents' dates as written, and the distinct values of each of `fields`."""

    def first(order: str) -> dict:
        # The document itself, not a `min`/`max` of the date: the date as written ("2020-03"),
        # as a local `stats` gives it. Undated documents sort last either way; ties by id, so
        # that the same one comes back each time.
        return {
            "top_hits": {
                "size": 1,
                "sort": [{SORT_DATE: {"order": order, "missing": "_last"}}, {"id": "asc"}],
                "_source": {"includes": ["date_text"]},
            }
        }

    aggs: dict[str, Any] = {EARLIEST: first("asc"), LATEST: first("desc")}
    for name in fields:
        # HyperLogLog++: approximate above the threshold (the README says so).
        aggs[DISTINCT_PREFIX + name] = {
            "cardinality": {"field": name, "precision_threshold": PRECISION_THRESHOLD}
        }
    return {"size": 0, "track_total_hits": False, "query": {"match_all": {}}, "aggs": aggs}


def _highlight(fragments: int) -> dict[str, Any]:
    return {
        "pre_tags": [MARK_START],
        "post_tags": [MARK_END],
        "fields": {
            # The default highlighter, `unified`, reads the offsets the mapping stores.
            "body": {
                "number_of_fragments": fragments,
                "fragment_size": FRAGMENT_CHARS,
                "no_match_size": FRAGMENT_CHARS,
            }
        },
    }


def typed_phrases(text: str, analyse) -> dict[tuple[str, ...], str]:
    """Each quoted phrase of `text` by its analysed words (`analyse(text)` -> words, as the
    text fields' analyzer in query mode): the parser keeps no position for a phrase."""
    found: dict[tuple[str, ...], str] = {}
    for match in re.finditer(r'"([^"]+)"', text):
        found.setdefault(tuple(analyse(match.group(1))), match.group(1))
    return found


def _within(start: datetime | None, end: datetime | None) -> dict:
    bounds: dict[str, Any] = {"relation": "within"}
    if start is not None:
        bounds["gte"] = iso(start)
    if end is not None:
        bounds["lte"] = iso(end)
    return {"range": {"date": bounds}}


def _bool(**parts) -> dict:
    body = {k: v for k, v in parts.items() if v not in (None, [])}
    return {"bool": body}


def _named_constant(query: dict, boost: float) -> dict:
    return {"constant_score": {"filter": query, "boost": boost, "_name": EVERY_WORD}}


def _boosted(clause: dict, boost: float) -> dict:
    if boost == 1.0:
        return clause
    (kind, spec), *_ = clause.items()
    if kind in ("bool", "constant_score", "combined_fields", "match_all", "exists"):
        return {kind: {**spec, "boost": boost}}
    if kind in ("match_phrase", "fuzzy", "prefix", "wildcard", "range"):
        # Field-keyed queries carry their boost beside the field's parameters.
        (name, params), *_ = spec.items()
        return {kind: {name: {**params, "boost": boost}}}
    return _bool(must=[clause], boost=boost)


@dataclass(frozen=True)
class _Word:
    """A plain word: the text fields it is searched in, its analysed and typed forms."""

    fields: tuple[str, ...]
    text: str
    boost: float
    original: str


class _Walker:
    """Turns one Whoosh query into query DSL; `notes` collects what differs."""

    def __init__(self, text: str, phrases: Mapping[tuple[str, ...], str]) -> None:
        self.text = text
        self.phrases = phrases
        self.notes: list[str] = []
        self.boosts: list[float] = []

    # -- the default query: any word, every word first ------------------------------------

    def tiered(self, q: wq.And) -> tuple[dict, dict, int]:
        """(any word, every word, the number of words) of an implicit AND, as
        `query._relax` splits it: clauses on other fields stay required."""
        words, required = split_words(q)
        self.boosts = [w.boost for w in words]
        must = [self.clause(r) for r in required if not _unscored(r)]
        filters = [self.clause(r) for r in required if _unscored(r)]
        any_word = self._group(words, "or")
        every_word = self._group(words, "and")
        if must or filters:
            any_word = _bool(must=[any_word, *must], filter=filters)
            every_word = _bool(must=[every_word, *must], filter=filters)
        return any_word, every_word, len(words)

    # -- any clause --------------------------------------------------------------------------

    def clause(self, q: wq.Query) -> dict:
        """The query DSL of one Whoosh query."""
        if isinstance(q, PeriodQuery):
            return _within(q.start, q.end)
        if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            return {"match_none": {}}
        if isinstance(q, wq.Every):
            if q.fieldname in (None, "*"):
                return _boosted({"match_all": {}}, q.boost)
            return _boosted({"exists": {"field": q.fieldname}}, q.boost)
        if isinstance(q, wq.And):
            return _boosted(self._and(q.subqueries), q.boost)
        if isinstance(q, wq.Or):
            if word_of(q) is not None:
                return self._group([q], "or")
            return _boosted(self._or(q.subqueries), q.boost)
        if isinstance(q, wq.Not):
            return _bool(must_not=[self.clause(q.query)])
        if isinstance(q, wq.AndNot):
            return _bool(must=[self.clause(q.a)], must_not=[self.clause(q.b)])
        if isinstance(q, wq.AndMaybe):
            return _bool(must=[self.clause(q.a)], should=[self.clause(q.b)])
        if isinstance(q, wq.Require):
            return _bool(must=[self.clause(q.a)], filter=[self.clause(q.b)])
        return self._leaf(q)

    def _and(self, subs) -> dict:
        words = [w for w in map(self._word, subs) if w is not None]
        rest = [s for s in subs if self._word(s) is None]
        must = [self._combine(words, "and")] if words else []
        must += [self.clause(s) for s in rest if not _unscored(s)]
        filters = [self.clause(s) for s in rest if _unscored(s)]
        return _bool(must=must, filter=filters)

    def _or(self, subs) -> dict:
        # Whoosh flattens `cocoa OR coffee` into four terms (title and body of each word):
        # the fields of one word, typed at one place, are gathered again. (Only under OR: under
        # AND, `title:x body:x` asks for the word in both fields.)
        words: dict[tuple, _Word] = {}
        should = []
        for sub in subs:
            word = self._word(sub)
            if word is None:
                should.append(self.clause(sub))
                continue
            key = (word.text, word.original, word.boost)
            if key in words:
                known = words[key]
                fields = known.fields + tuple(f for f in word.fields if f not in known.fields)
                words[key] = _Word(fields, known.text, known.boost, known.original)
            else:
                words[key] = word
        if words:
            should.insert(0, self._combine(list(words.values()), "or"))
        if len(should) == 1:
            return should[0]
        return _bool(should=should, minimum_should_match=1)

    def _group(self, subs, operator: str) -> dict:
        """Text clauses joined by `operator`: plain words in `combined_fields`, the others
        (phrases, wildcards, ...) beside them."""
        words = [w for w in map(self._word, subs) if w is not None]
        others = [self.clause(s) for s in subs if self._word(s) is None]
        clauses = [self._combine(words, operator)] if words else []
        clauses += others
        if len(clauses) == 1:
            return clauses[0]
        if operator == "and":
            return _bool(must=clauses)
        return _bool(should=clauses, minimum_should_match=1)

    def _combine(self, words: list[_Word], operator: str) -> dict:
        """Plain words: one `combined_fields` per set of fields and boost."""
        groups: dict[tuple, list[str]] = {}
        for word in words:
            texts = groups.setdefault((word.fields, word.boost), [])
            if word.original not in texts:
                texts.append(word.original)
        clauses = []
        for (fields, boost), texts in groups.items():
            spec: dict[str, Any] = {
                "query": " ".join(texts),
                "fields": [TEXT_FIELDS_WEIGHTED[f] for f in fields],
                "operator": operator,
            }
            if boost != 1.0:
                spec["boost"] = boost
            clauses.append({"combined_fields": spec})
        if len(clauses) == 1:
            return clauses[0]
        if operator == "and":
            return _bool(must=clauses)
        return _bool(should=clauses, minimum_should_match=1)

    def _word(self, q: wq.Query) -> _Word | None:
        found = word_of(q)
        if found is None:
            return None
        fields, text, boost = found
        return _Word(fields, text, boost, self._original(q, text))

    def _original(self, q: wq.Query, analysed: str) -> str:
        """The word as typed (the cluster analyses it as searchkit did); the analysed term
        where the parser kept no position (the parts of `covid-19`)."""
        leaf = next(iter(q.leaves()), q) if not q.is_leaf() else q
        start, end = getattr(leaf, "startchar", None), getattr(leaf, "endchar", None)
        if start is None or end is None:
            return analysed
        typed = self.text[start:end]
        return typed if typed.strip() else analysed

    def _leaf(self, q: wq.Query) -> dict:
        name = q.fieldname
        boost = q.boost
        if isinstance(q, wq.Phrase):
            slop = max(0, q.slop - 1)  # Whoosh's 1 is Lucene's 0: the words side by side
            typed = self.phrases.get(tuple(q.words))
            if typed is not None:
                # As typed, analysed by the index: a stop word inside ("bank of japan") keeps
                # its place, as it does in the indexed text.
                spec: dict[str, Any] = {"query": typed, "slop": slop}
            else:
                # searchkit's analysed terms, which `searchkit_terms` keeps as they are.
                spec = {"query": " ".join(q.words), "analyzer": "searchkit_terms", "slop": slop}
            return self._per_field(name, lambda f: {"match_phrase": {f: dict(spec)}}, boost)
        if isinstance(q, wq.FuzzyTerm):
            edits = q.maxdist
            if edits > MAX_EDITS:
                self.notes.append(f"'{q.text}~{edits}' searched as '{q.text}~{MAX_EDITS}'")
                edits = MAX_EDITS
            return self._per_field(
                name,
                lambda f: {
                    "fuzzy": {
                        f: {
                            "value": q.text,
                            "fuzziness": str(edits),
                            "prefix_length": max(1, q.prefixlength),
                        }
                    }
                },
                boost,
            )
        if isinstance(q, wq.Prefix):
            self._constant_note()
            return self._per_field(name, lambda f: {"prefix": {f: {"value": q.text}}}, boost)
        if isinstance(q, wq.Wildcard):
            self._constant_note()
            return self._per_field(name, lambda f: {"wildcard": {f: {"value": q.text}}}, boost)
        if isinstance(q, wq.TermRange):
            bounds: dict[str, Any] = {}
            if q.start is not None:
                bounds["gt" if q.startexcl else "gte"] = q.start
            if q.end is not None:
                bounds["lt" if q.endexcl else "lte"] = q.end
            return _boosted({"range": {name: bounds}}, boost)
        if isinstance(q, wq.Term):
            if name in TEXT_FIELDS:
                return self._group([q], "and")
            if q.text.startswith(WORD_MARK):
                # A word of a metadata value (`author:jane` finds "Jane Doe"): the field's
                # text sub-field, analysed as the index analysed it.
                word = q.text[len(WORD_MARK) :]
                match = {"match": {f"{name}.{TEXT_SUBFIELD}": {"query": word}}}
                return {"constant_score": {"filter": match, "boost": 0.0}}
            # Metadata, id, path and date facets: exact values, which a local search does
            # not score; a constant score of 0 keeps them out of the ranking.
            return {"constant_score": {"filter": {"term": {name: q.text}}, "boost": 0.0}}
        raise UsageError(f"cannot translate {type(q).__name__} ({q}) for OpenSearch")

    def _per_field(self, name: str, make, boost: float) -> dict:
        clause = make(name)
        weight = TITLE_BOOST if name == "title" else 1.0
        return _boosted(clause, boost * weight)

    def _constant_note(self) -> None:
        self.notes.append(
            "wildcards and prefixes match every term they cover on OpenSearch, each with "
            "the same score (a local search takes the 50 most frequent, scored)"
        )


def _unscored(q: wq.Query) -> bool:
    """A clause that only restricts: dates, and exact values of non-text fields."""
    if isinstance(q, PeriodQuery):
        return True
    if type(q) is wq.Term and q.fieldname not in TEXT_FIELDS:
        return True
    # A metadata value or its words (`places:brazil`), or every word of a quoted value.
    if type(q) in (wq.Or, wq.And) and q.subqueries:
        return all(_unscored(c) for c in q.subqueries)
    return False
