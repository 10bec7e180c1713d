"""Matching and ranking: which documents a query matches, their BM25F scores, and why.

A query is evaluated over the whole index at once into dense numpy arrays (one flag and one
score per document), so that AND / OR / NOT, counting and ranking cost a few array operations
instead of a Python step per posting, and a query's Python work does not grow with the number
of segments (a checkpointed build of 500k articles leaves a hundred): only reading a term's
postings goes segment by segment, and its arrays are laid end to end at the segments' offsets.

Scores are BM25F (Robertson and Zaragoza, "The Probabilistic Relevance Framework: BM25 and
Beyond", 2009): a word's occurrences in the title and the body are combined *before* the
saturation, each normalised by its own field's length,

    tf~ = sum over fields f of w_f tf(f) / (1 - b + b len(f) / avglen(f))
    score = idf (k1 + 1) tf~ / (k1 + tf~),  idf = ln(1 + (N - df + 0.5) / (df + 0.5))

with df counted over the documents holding the word in either field, w_title = TITLE_BOOST.
A phrase is scored the same way, as if it were one word (its frequency is how often the
phrase occurs). A word typed n times weighs n (k3 + 1) / (n + k3), a boost the query parser
gives it (Whoosh's parser keeps one copy of a repeated word). Every setting was chosen
on the judged collections by bench/ranking_lab.py and checked by bench/quality_bench.py.
Other queries (ranges, ...) are matched by Whoosh's own matchers.

A `Scorer` follows one open searcher at a time: postings and filter flags are kept per
searcher generation (scores depend on deletions and collection statistics), field lengths per
segment for as long as the segment lives.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.scoring import BM25F

from ._whoosh.reading import Segment, field_lengths, live_flags, term_postings
from .date_query import PeriodQuery
from .schema import TEXT_FIELDS, TITLE_BOOST
from .term_arrays import TERM_ARRAYS_EXTENSION, TermArrays

#: BM25's term-frequency saturation and length normalisation (both fields).
BM25_K1 = 2.5
BM25_B = 0.75
#: Saturation of a word typed several times in the query (BM25's k3).
QUERY_K3 = 8.0
#: Weight of an occurrence in each full-text field (BM25F's w_f).
FIELD_WEIGHTS = {"title": TITLE_BOOST, "body": 1.0}

_FILTER_CACHE_SIZE = 64
#: A word's postings are added up field by field sparsely (sorted) below one per this many
#: documents of the index, densely above.
_SPARSE_BELOW = 64
#: Postings kept between searches (about 16 bytes each).
_CACHE_POSTINGS = 8_000_000


def weighting() -> BM25F:
    """Whoosh's BM25F with searchkit's settings, for the queries Whoosh's matchers score."""
    return BM25F(B=BM25_B, K1=BM25_K1)


def query_weight(times: int) -> float:
    """How much a word typed `times` times in a query weighs (BM25's query saturation: the
    tenth repeat of a word in a long request adds less than the second)."""
    return times * (QUERY_K3 + 1) / (times + QUERY_K3)


@dataclass(frozen=True)
class Flags:
    """What a query matches: a flag and a score per document of the index (0 unmatched),
    by global document number."""

    hit: np.ndarray  # bool, one per document
    score: np.ndarray  # float64, one per document

    def ids(self) -> np.ndarray:
        """The global document numbers that match, in order."""
        return np.flatnonzero(self.hit)

    def count(self) -> int:
        """How many documents match."""
        return int(np.count_nonzero(self.hit))


@dataclass(frozen=True)
class _Field:
    """One full-text field's part of a word: its postings over the whole index."""

    ids: np.ndarray  # int64 global document numbers, ascending
    tf: np.ndarray  # float64 frequencies


class Scorer:
    """Matches and scores queries over the index of the searcher it was last given."""

    def __init__(self) -> None:
        self._whoosh: Any = None  # the whoosh.searching.Searcher last given
        self.segments: list[Segment] = []
        self._size = 0
        self._filters: OrderedDict = OrderedDict()
        self._postings: OrderedDict = OrderedDict()
        self._postings_size = 0
        self._segment_lengths: dict[tuple, np.ndarray] = {}
        #: (segment key, what) -> its live flags or its mapped term arrays
        self._per_segment: dict[tuple, Any] = {}
        self._lengths: dict[str, np.ndarray] = {}
        self._live: np.ndarray | None = None
        self._readers: list | None = None
        self._average: dict[str, float] = {}
        self._doc_count = 0

    def follow(self, whoosh_searcher, segments: list[Segment]) -> None:
        """Score against a newly opened searcher from now on, keeping what still holds."""
        self._whoosh = whoosh_searcher
        self.segments = segments
        self._size = whoosh_searcher.reader().doc_count_all()
        self._filters.clear()
        self._postings.clear()
        self._postings_size = 0
        self._lengths.clear()
        self._live = None
        self._readers = None
        self._average = {f: whoosh_searcher.avg_field_length(f) or 1.0 for f in TEXT_FIELDS}
        self._doc_count = whoosh_searcher.doc_count()
        live = {s.key for s in segments}
        for key in [k for k in self._segment_lengths if k[:2] not in live]:
            del self._segment_lengths[key]
        # Deletions change a live segment's flags: they are read again for each searcher.
        self._per_segment = {k: v for k, v in self._per_segment.items() if k[1] == "#terms"}
        for key in [k for k in self._per_segment if k[0] not in live]:
            del self._per_segment[key]

    def adopt_lengths(self, lengths: dict[str, np.ndarray]) -> None:
        """Take each scored field's lengths over the whole index as the writer laid them
        end to end for the segments followed now (`document_arrays`)."""
        self._lengths.update(lengths)

    def clear(self) -> None:
        """Forget everything (the searcher was closed)."""
        self._whoosh = None
        self.segments = []
        self._size = 0
        self._filters.clear()
        self._postings.clear()
        self._postings_size = 0
        self._segment_lengths.clear()
        self._per_segment.clear()
        self._lengths.clear()
        self._live = None
        self._readers = None

    # -- matching --------------------------------------------------------------------------

    def allowed(self, q: wq.Query) -> np.ndarray:
        """A flag per document: does the filter query allow it? Cached.

        It restricts what a query matches before anything is ranked or counted, as Whoosh's
        `filter=` does.
        """
        key = repr(q)
        cached = self._filters.get(key)
        if cached is not None:
            self._filters.move_to_end(key)
            return cached
        flag = self._constant(q).hit
        self._filters[key] = flag
        if len(self._filters) > _FILTER_CACHE_SIZE:
            self._filters.popitem(last=False)
        return flag

    def matching(self, q, allow: np.ndarray | None = None, mask: set[int] | None = None) -> Flags:
        """What `q` matches within the filter flags `allow`, less the document numbers in
        `mask`."""
        flags = self._evaluate(q)
        hit = flags.hit
        if allow is not None:
            hit = hit & allow
        if mask:
            hit = hit.copy() if hit is flags.hit else hit
            inside = [d for d in mask if 0 <= d < hit.size]
            hit[inside] = False
        if hit is not flags.hit:
            flags = Flags(hit, flags.score * hit)
        return flags

    def explain(self, q, docnum: int) -> list[tuple[str, str, float, float]]:
        """(field, term, frequency, score) parts of one hit's score, best first.

        A word's BM25F score is shared among the fields it occurs in, in proportion to each
        field's part of the combined frequency, so that the parts add up to the hit's score.
        """
        parts: list[tuple[str, str, float, float]] = []
        self._explain(q, docnum, 1.0, parts)
        return sorted(parts, key=lambda p: -p[3])

    # -- evaluating queries ----------------------------------------------------------------

    def _evaluate(self, q) -> Flags:
        kind = type(q)
        if _word_key(q) is not None:
            return self._word([q])
        if kind is wq.And or (kind is wq.Or and not q.scale):
            positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
            negative = [c.query for c in q.subqueries if isinstance(c, wq.Not)]
            if kind is wq.Or and negative:
                return self._whoosh_scores(q)
            if not positive:
                out = self._everything_but(negative)
            else:
                parts = [self._evaluate_group(group) for group in _groups(positive)]
                hit = parts[0].hit.copy()
                score = parts[0].score.copy()
                for p in parts[1:]:
                    if kind is wq.And:
                        hit &= p.hit
                    else:
                        hit |= p.hit
                    score += p.score
                for c in negative:
                    hit &= ~self._evaluate(c).hit
                if kind is wq.And:
                    score *= hit  # 0 where not every part matched (a multiply: 20x a mask)
                out = Flags(hit, score)
            return _scaled(out, q.boost)
        if kind is wq.Not:
            return self._everything_but([q.query])
        if kind is wq.AndNot:
            a = self._evaluate(q.a)
            hit = a.hit & ~self._evaluate(q.b).hit
            return Flags(hit, a.score * hit)
        if kind is wq.AndMaybe:
            a, b = self._evaluate(q.a), self._evaluate(q.b)
            return Flags(a.hit, a.score + b.score * a.hit)
        if kind is wq.Require:
            a = self._evaluate(q.a)
            hit = a.hit & self._evaluate(q.b).hit
            return Flags(hit, a.score * hit)
        if kind is PeriodQuery:
            return self._constant(q.child)
        if kind is wq.Every and q.fieldname is None:
            live = self._live_flags()
            return Flags(live, live.astype(float))
        if q is wq.NullQuery or kind is type(wq.NullQuery):
            return Flags(np.zeros(self._size, bool), np.zeros(self._size))
        if kind is wq.Term:
            return self._plain_term(q)
        return self._whoosh_scores(q)

    def _evaluate_group(self, group: list) -> Flags:
        """One word over several fields (scored together), or any other single query."""
        if _word_key(group[0]) is not None:
            return self._word(group)
        return self._evaluate(group[0])

    def _everything_but(self, excluded) -> Flags:
        hit = self._live_flags().copy()
        for c in excluded:
            hit &= ~self._evaluate(c).hit
        return Flags(hit, np.zeros(hit.size))

    def _constant(self, q) -> Flags:
        """Every document Whoosh's matcher of `q` matches, with the score 1."""
        hit = np.zeros(self._size, bool)
        for segment in self.segments:
            local = np.fromiter(q.docs(segment.searcher), np.int64)
            hit[local + segment.offset] = True
        return Flags(hit, hit.astype(float))

    def _plain_term(self, q: wq.Term) -> Flags:
        """A term of a field that is not scored by BM25F (metadata, id...): its weight."""
        field = self._postings_of(q.fieldname, q.text)
        hit = np.zeros(self._size, bool)
        score = np.zeros(self._size)
        hit[field.ids] = True
        score[field.ids] = field.tf * q.boost
        return Flags(hit, score)

    def _whoosh_scores(self, q) -> Flags:
        hit = np.zeros(self._size, bool)
        score = np.zeros(self._size)
        for segment in self.segments:
            m = q.matcher(segment.searcher)
            while m.is_active():
                hit[m.id() + segment.offset] = True
                score[m.id() + segment.offset] = m.score()
                m.next()
        return Flags(hit, score)

    # -- BM25F -----------------------------------------------------------------------------

    def _word(self, leaves: list) -> Flags:
        """BM25F flags of one word (or phrase) given as leaves over full-text fields."""
        ids, tf = self._combined(leaves)
        idf = self._idf(leaves)
        hit = np.zeros(self._size, bool)
        score = np.zeros(self._size)
        hit[ids] = True
        leaf_boost = max(leaf.boost for leaf in leaves)
        score[ids] = idf * (BM25_K1 + 1) * tf / (BM25_K1 + tf) * leaf_boost
        return Flags(hit, score)

    def _combined(self, leaves: list) -> tuple[np.ndarray, np.ndarray]:
        """(documents, combined frequency tf~) of a word; kept with the postings (the
        document frequency, the strict and the relaxed query all need it)."""
        key = ("combined", *sorted(_leaf_key(leaf) for leaf in leaves))
        combined = self._cached(key)
        if combined is None:
            parts = [(field, part) for leaf in leaves for field, part in self._leaf_parts(leaf)]
            parts = [(field, part) for field, part in parts if part.ids.size]
            if len(parts) == 1:  # one field: already in order, nothing to add up
                field, part = parts[0]
                combined = _Field(part.ids, self._normalised(field, part))
            elif parts and sum(p.ids.size for _, p in parts) * _SPARSE_BELOW < self._size:
                ids = np.concatenate([part.ids for _, part in parts])
                tf = np.concatenate([self._normalised(field, part) for field, part in parts])
                ids, where = np.unique(ids, return_inverse=True)
                combined = _Field(ids, np.bincount(where, tf, ids.size))
            elif parts:
                # Many postings: added up in a dense array (sorting them, as np.unique does,
                # cost 40 ms for a common word of a 500k-document index; this ~2 ms).
                dense = np.zeros(self._size)
                held = np.zeros(self._size, bool)  # nonzero() reads a bool array 3x faster
                for field, part in parts:
                    dense[part.ids] += self._normalised(field, part)  # ids distinct per field
                    held[part.ids] = True
                ids = np.flatnonzero(held)
                combined = _Field(ids, dense[ids])
            else:
                combined = _Field(np.zeros(0, np.int64), np.zeros(0))
            combined = self._store(key, combined)
        return combined.ids, combined.tf

    def _normalised(self, field: str, part: _Field) -> np.ndarray:
        """w_f tf / (1 - b + b len / avglen) of a field's postings."""
        lengths = self.lengths(field)[part.ids]
        norm = 1 - BM25_B + BM25_B * lengths / self._average[field]
        return FIELD_WEIGHTS[field] * part.tf / norm

    def _idf(self, leaves: list) -> float:
        df = self._combined(leaves)[0].size
        n = max(self._doc_count, df)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _leaf_parts(self, leaf) -> Iterator[tuple[str, _Field]]:
        if type(leaf) is wq.Term:
            yield leaf.fieldname, self._postings_of(leaf.fieldname, leaf.text)
        else:  # a phrase: its occurrences, counted by Whoosh's phrase matcher
            key = ("phrase", repr(leaf))
            part = self._cached(key)
            if part is None:

                def occurrences(segment: Segment) -> tuple[list[int], list[int]]:
                    ids, tf = [], []
                    m = leaf.matcher(segment.searcher)
                    while m.is_active():
                        ids.append(m.id())
                        tf.append(len(m.spans()) or 1)
                        m.next()
                    return ids, tf

                part = self._store(key, self._gather(occurrences))
            yield leaf.fieldname, part

    def _postings_of(self, fieldname: str, text) -> _Field:
        key = (fieldname, text)
        part = self._cached(key)
        if part is None:
            part = self._store(key, self._read_term(fieldname, text))
        return part

    def _read_term(self, fieldname: str, text) -> _Field:
        """A term's postings over the whole index: from each segment's term arrays, else
        its Whoosh postings. The loop over segments is the one per-segment step of a query
        (94 segments at 500k articles): what does not depend on the segment is done once."""
        schema = self._whoosh.schema
        try:
            btext = schema[fieldname].to_bytes(text) if fieldname in schema else None
        except ValueError:
            btext = None
        if btext is None:
            return _Field(np.zeros(0, np.int64), np.zeros(0))
        ids, tf = [], []
        for segment, mapped, deletions in self._segment_readers():
            found = mapped.postings(fieldname, btext) if mapped is not None else None
            if found is None:
                found = term_postings(segment.searcher.reader(), fieldname, btext)
            elif deletions:
                keep = self._segment_live(segment)[found[0]]
                found = found[0][keep], found[1][keep]
            if found[0].size:
                ids.append(found[0].astype(np.int64) + segment.offset)
                tf.append(found[1])
        if not ids:
            return _Field(np.zeros(0, np.int64), np.zeros(0))
        return _Field(np.concatenate(ids), np.concatenate(tf).astype(float))

    def _segment_readers(self) -> list[tuple[Segment, TermArrays | None, bool]]:
        """(segment, its mapped term arrays, whether it has deletions), per live segment."""
        if self._readers is None:
            self._readers = [
                (s, self._term_arrays(s), s.searcher.reader().has_deletions())
                for s in self.segments
            ]
        return self._readers

    def _gather(self, read: Callable[[Segment], tuple[Any, Any]]) -> _Field:
        """(ids, frequencies) read segment by segment, laid end to end as global numbers."""
        ids, tf = [], []
        for segment in self.segments:
            local_ids, local_tf = read(segment)
            if len(local_ids):
                ids.append(np.asarray(local_ids, np.int64) + segment.offset)
                tf.append(np.asarray(local_tf, float))
        if not ids:
            return _Field(np.zeros(0, np.int64), np.zeros(0))
        if len(ids) == 1:
            return _Field(ids[0], tf[0])
        return _Field(np.concatenate(ids), np.concatenate(tf))

    def _cached(self, key) -> _Field | None:
        part = self._postings.get(key)
        if part is not None:
            self._postings.move_to_end(key)
        return part

    def _store(self, key, part: _Field) -> _Field:
        self._postings[key] = part
        self._postings_size += part.ids.size + 1
        while self._postings_size > _CACHE_POSTINGS and len(self._postings) > 1:
            _, old = self._postings.popitem(last=False)
            self._postings_size -= old.ids.size + 1
        return part

    # -- per-document arrays ---------------------------------------------------------------

    def lengths(self, fieldname: str) -> np.ndarray:
        """Each document's length in a scored field (at least 1), by global number; made
        from the segments' length columns, each read once for as long as it lives."""
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            parts = []
            for segment in self.segments:
                key = (*segment.key, fieldname)
                part = self._segment_lengths.get(key)
                if part is None:
                    part = field_lengths(segment.searcher.reader(), fieldname)
                    self._segment_lengths[key] = part
                parts.append(part)
            lengths = np.concatenate(parts) if parts else np.zeros(0)
            self._lengths[fieldname] = lengths
        return lengths

    def _live_flags(self) -> np.ndarray:
        if self._live is None:
            parts = [self._segment_live(s) for s in self.segments]
            self._live = np.concatenate(parts) if parts else np.zeros(0, bool)
        return self._live

    def _segment_live(self, segment: Segment) -> np.ndarray:
        key = (segment.key, "#live")
        flags = self._per_segment.get(key)
        if flags is None:
            flags = self._per_segment[key] = live_flags(segment.searcher.reader())
        return flags

    def _term_arrays(self, segment: Segment) -> TermArrays | None:
        """The segment's file of frequent terms' postings, mapped once; None without."""
        key = (segment.key, "#terms")
        if key not in self._per_segment:
            doccount = segment.searcher.reader().doc_count_all()
            path = segment.file(TERM_ARRAYS_EXTENSION)
            self._per_segment[key] = TermArrays.open(path, doccount)
        return self._per_segment[key]

    # -- explaining ------------------------------------------------------------------------

    def _explain(self, q, docnum: int, factor: float, parts: list) -> None:
        """Add the score parts of `q` for one document (`factor`: boosts above it)."""
        kind = type(q)
        if _word_key(q) is not None:
            self._explain_word([q], docnum, factor, parts)
        elif kind is wq.And or (kind is wq.Or and not q.scale):
            positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
            for group in _groups(positive):
                weight = factor * q.boost
                if _word_key(group[0]) is not None:
                    self._explain_word(group, docnum, weight, parts)
                else:
                    self._explain(group[0], docnum, weight, parts)
        elif kind is wq.AndNot:
            self._explain(q.a, docnum, factor, parts)
        elif kind in (wq.AndMaybe, wq.Require):
            self._explain(q.a, docnum, factor, parts)
            if kind is wq.AndMaybe:
                self._explain(q.b, docnum, factor, parts)
        elif kind is not wq.Not:
            flags = self._evaluate(q)
            if flags.hit[docnum] and flags.score[docnum]:
                label = "*" if kind is wq.Every else str(q)
                field = getattr(q, "fieldname", None) or "*"
                parts.append((field, label, 1.0, round(float(flags.score[docnum]) * factor, 4)))

    def _explain_word(self, leaves, docnum: int, factor: float, parts: list) -> None:
        shares = []
        for leaf in leaves:
            for field, part in self._leaf_parts(leaf):
                at = np.searchsorted(part.ids, docnum)
                if at < part.ids.size and part.ids[at] == docnum:
                    one = _Field(part.ids[at : at + 1], part.tf[at : at + 1])
                    share = float(self._normalised(field, one)[0])
                    shares.append((field, _leaf_label(leaf), float(part.tf[at]), share))
        tf = sum(s[3] for s in shares)
        if not tf:
            return
        leaf_boost = max(leaf.boost for leaf in leaves)
        score = self._idf(leaves) * (BM25_K1 + 1) * tf / (BM25_K1 + tf) * factor * leaf_boost
        for field, label, frequency, share in shares:
            parts.append((field, label, frequency, round(score * share / tf, 4)))


def _scaled(flags: Flags, factor: float) -> Flags:
    return flags if factor == 1.0 else Flags(flags.hit, flags.score * factor)


def _word_key(q) -> tuple | None:
    """What makes a full-text leaf one word: ("term", text) or ("phrase", words); None for
    anything else (a leaf of another field, or not a term or phrase)."""
    kind = type(q)
    if kind is wq.Term and q.fieldname in TEXT_FIELDS:
        return ("term", q.text)
    if kind is wq.Phrase and q.fieldname in TEXT_FIELDS:
        return ("phrase", tuple(q.words), q.slop)
    return None


def _leaf_key(q) -> tuple:
    return (q.fieldname, *(_word_key(q) or ()))


def _leaf_label(q) -> str:
    return q.text if type(q) is wq.Term else '"' + " ".join(q.words) + '"'


def _groups(children: list) -> list[list]:
    """The children of an AND / OR in groups scored as one: the leaves of one word over the
    full-text fields (Whoosh flattens `a OR b` into four field leaves, and `a b` into an OR
    per word). Any other child is a group of one."""
    keyed: dict = {}
    for child in children:
        key: tuple = ("query", id(child))
        word = _word_key(child)
        if word is not None:
            key = ("word", word, child.boost)
        elif type(child) is wq.Or and child.subqueries and not child.scale:
            words = {_word_key(c) for c in child.subqueries}
            fields = [getattr(c, "fieldname", None) for c in child.subqueries]
            if len(words) == 1 and None not in words and len(set(fields)) == len(fields):
                key = ("word", words.pop(), child.boost)
        keyed.setdefault(key, []).append(child)
    out = []
    for key, members in keyed.items():
        if key[0] == "query":
            out.append(members)
            continue
        leaves: dict = {}
        for member in members:
            if type(member) is wq.Or:
                for leaf in member.subqueries:
                    leaves.setdefault(leaf.fieldname, _boosted(leaf, member.boost))
            else:
                leaves.setdefault(member.fieldname, member)
        out.append(list(leaves.values()))
    return out


def _boosted(leaf, boost: float):
    if boost == 1.0:
        return leaf
    copy = leaf.copy()
    copy.boost = leaf.boost * boost
    return copy


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
