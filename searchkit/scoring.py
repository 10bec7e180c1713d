"""Matching and ranking: which documents a query matches, with Whoosh's BM25F scores, and why.

Each term's postings are read a block at a time and scored with Whoosh's BM25F formula; AND /
OR / NOT over them is done with dicts and sets, other queries (phrases, wildcards, ranges) run
through their own Whoosh matchers. Scores equal Whoosh's exhaustive ones; Whoosh's own top-N
collector is ~10x slower on Reuters and, with its block-quality skipping, drops true top hits
of AND queries (`interest rates`: the second best of its own scores is missing from
`searcher.search(limit=20)`).

A `Scorer` follows one open searcher at a time: scored postings and filter document sets are
kept per searcher generation (they depend on deletions and collection statistics), field
lengths per segment for as long as the segment lives.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from whoosh import query as wq
from whoosh.scoring import BM25F

from ._whoosh.reading import Segment, field_lengths, read_postings
from .date_query import PeriodQuery
from .schema import TEXT_FIELDS

#: Ranking. B=0.9 (Whoosh's default is 0.75) was the best single setting on the judged
#: collections in ../shared/ir, at or above plain Whoosh on each; see bench/search_bench.py.
BM25_B = 0.9
BM25_K1 = 1.2
_FILTER_CACHE_SIZE = 64
#: Scored postings kept between searches (about 100 bytes each).
_TERM_CACHE_POSTINGS = 2_000_000


def weighting() -> BM25F:
    """Whoosh's BM25F with searchkit's settings: what searchers are opened with, so that
    queries run through Whoosh's own matchers score as the postings scored here do."""
    return BM25F(B=BM25_B, K1=BM25_K1)


class Scorer:
    """Matches and scores queries over the segments of the searcher it was last given."""

    def __init__(self) -> None:
        self._whoosh: Any = None  # the whoosh.searching.Searcher last given
        self.segments: list[Segment] = []
        self._filters: OrderedDict = OrderedDict()
        self._terms: OrderedDict = OrderedDict()
        self._terms_size = 0
        self._lengths: dict[tuple, list[int]] = {}

    def follow(self, whoosh_searcher, segments: list[Segment]) -> None:
        """Score against a newly opened searcher from now on, keeping what still holds."""
        self._whoosh = whoosh_searcher
        self.segments = segments
        self._filters.clear()
        self._terms.clear()
        self._terms_size = 0
        live = {s.key for s in segments}
        for key in [k for k in self._lengths if k[:2] not in live]:
            del self._lengths[key]

    def clear(self) -> None:
        """Forget everything (the searcher was closed)."""
        self._whoosh = None
        self.segments = []
        self._filters.clear()
        self._terms.clear()
        self._terms_size = 0
        self._lengths.clear()

    # -- matching --------------------------------------------------------------------------

    def allowed(self, q: wq.Query) -> set[int]:
        """Global numbers of the documents a filter query allows, cached per generation.

        It restricts what a query matches before anything is ranked or counted, as Whoosh's
        `filter=` does (its FilterCollector checks each match against such a set).
        """
        key = repr(q)
        cached = self._filters.get(key)
        if cached is not None:
            self._filters.move_to_end(key)
            return cached
        docs = {d + s.offset for s in self.segments for d in q.docs(s.searcher)}
        self._filters[key] = docs
        if len(self._filters) > _FILTER_CACHE_SIZE:
            self._filters.popitem(last=False)
        return docs

    def matching(self, q, allow, mask=None) -> list[dict[int, float]]:
        """Per segment, {local docnum: score} of the documents `q` matches within the filter."""
        out = []
        for segment in self.segments:
            scores = self._evaluate(q, segment)
            off = segment.offset
            if allow is not None or mask:
                scores = {
                    d: s
                    for d, s in scores.items()
                    if (allow is None or d + off in allow) and not (mask and d + off in mask)
                }
            out.append(scores)
        return out

    def explain(self, q, docnum: int) -> list[tuple[str, str, float, float]]:
        """(field, term, weighted frequency, score) of each query term in one hit, best first:
        what the hit's score is the sum of."""
        segment = next(s for s in reversed(self.segments) if s.offset <= docnum)
        local = docnum - segment.offset
        reader = segment.searcher.reader()
        parts = {}
        for node in positive_leaves(q):
            if type(node) is not wq.Term or node.fieldname not in TEXT_FIELDS:
                continue
            score = self._term_scores(segment, node.fieldname, node.text, node.boost).get(local)
            if score is None:
                continue
            key = (node.fieldname, node.text)
            frequency = 0.0
            if key not in parts:
                m = reader.postings(node.fieldname, node.text)
                m.skip_to(local)
                frequency = float(m.weight()) if m.is_active() and m.id() == local else 0.0
                parts[key] = (node.fieldname, node.text, frequency, round(score, 4))
        return sorted(parts.values(), key=lambda p: -p[3])

    # -- evaluating queries ----------------------------------------------------------------

    def _evaluate(self, q, segment: Segment) -> dict[int, float]:
        """{local docnum: score} for one segment, scored as Whoosh's matchers would.

        Boolean structure over terms is computed here with dictionaries and sets (Whoosh's
        matcher trees step through every posting in Python: ~10x slower on Reuters); any
        other query (phrases, wildcards, ranges...) runs through its own Whoosh matcher.
        """
        kind = type(q)
        if kind is wq.Term:
            return self._term_scores(segment, q.fieldname, q.text, q.boost)
        if kind is wq.And:
            positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
            negative = [c.query for c in q.subqueries if isinstance(c, wq.Not)]
            if not positive:
                return self._everything_but(segment, negative)
            parts = sorted((self._evaluate(c, segment) for c in positive), key=len)
            out = _intersect(parts)
            for c in negative:
                out = _subtract(out, self._evaluate(c, segment))
            return _boosted(out, q.boost)
        if kind is wq.Or and not q.scale:
            out = {}
            for c in q.subqueries:
                if isinstance(c, wq.Not):
                    return self._whoosh_scores(q, segment)
                part = self._evaluate(c, segment)
                if not out:
                    out = dict(part)
                    continue
                get = out.get
                for d, s in part.items():
                    out[d] = get(d, 0.0) + s
            return _boosted(out, q.boost)
        if kind is wq.Not:
            return self._everything_but(segment, [q.query])
        if kind is wq.AndNot:
            return _subtract(self._evaluate(q.a, segment), self._evaluate(q.b, segment))
        if kind is wq.AndMaybe:
            out = dict(self._evaluate(q.a, segment))
            for d, s in self._evaluate(q.b, segment).items():
                if d in out:
                    out[d] += s
            return out
        if kind is wq.Require:
            other = self._evaluate(q.b, segment)
            return {d: s for d, s in self._evaluate(q.a, segment).items() if d in other}
        if kind is PeriodQuery:
            return dict.fromkeys(q.child.docs(segment.searcher), 1.0)
        if kind is wq.Every and q.fieldname is None:
            return dict.fromkeys(segment.searcher.reader().all_doc_ids(), 1.0)
        if q is wq.NullQuery or kind is type(wq.NullQuery):
            return {}
        return self._whoosh_scores(q, segment)

    def _everything_but(self, segment: Segment, excluded) -> dict[int, float]:
        out = dict.fromkeys(segment.searcher.reader().all_doc_ids(), 0.0)
        for c in excluded:
            for d in self._evaluate(c, segment):
                out.pop(d, None)
        return out

    def _whoosh_scores(self, q, segment: Segment) -> dict[int, float]:
        out = {}
        m = q.matcher(segment.searcher)
        while m.is_active():
            out[m.id()] = m.score()
            m.next()
        return out

    # -- BM25F -----------------------------------------------------------------------------

    def _term_scores(self, segment: Segment, fieldname: str, text, boost: float):
        """BM25F scores of one term's postings in one segment, as Whoosh's BM25FScorer gives."""
        key = (segment.key, fieldname, text)
        scores = self._terms.get(key)
        if scores is None:
            scores = self._score_postings(segment, fieldname, text)
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

    def _score_postings(self, segment: Segment, fieldname: str, text) -> dict[int, float]:
        reader = segment.searcher.reader()
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
        ids, weights = read_postings(reader, fieldname, btext)
        if not field_obj.scorable:
            return dict(zip(ids, weights, strict=True))
        top = self._whoosh
        idf = top.idf(fieldname, btext)
        avgfl = top.avg_field_length(fieldname) or 1
        lengths = self.lengths(segment, fieldname)
        k1 = BM25_K1
        norm_a = k1 * (1 - BM25_B)
        norm_b = k1 * BM25_B / avgfl
        k1p1 = idf * (k1 + 1)
        # bm25() of whoosh.scoring, term by term: idf * tf (K1+1) / (tf + K1 (1-B + B fl/avgfl))
        return {
            d: k1p1 * w / (w + norm_a + norm_b * lengths[d])
            for d, w in zip(ids, weights, strict=True)
        }

    def lengths(self, segment: Segment, fieldname: str) -> list[int]:
        """Each document's length in a scored field of one segment (at least 1)."""
        key = (*segment.key, fieldname)
        lengths = self._lengths.get(key)
        if lengths is None:
            lengths = self._lengths[key] = field_lengths(segment.searcher.reader(), fieldname)
        return lengths


def positive_leaves(q):
    """Leaves of `q` outside any NOT (what a matching document contains)."""
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.AndNot):
        yield from positive_leaves(q.a)
        return
    if q.is_leaf():
        yield q
        return
    for child in q.children():
        yield from positive_leaves(child)


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
