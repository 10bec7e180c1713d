"""Multi-term query clauses -> a bounded set of terms.

Every query has a bounded cost: `bound_parsed` (and `bound_expansions` for one Whoosh query)
replaces each wildcard, prefix, regex, fuzzy term and text range with the terms it is searched
with, the most frequent first, within per-clause and per-query limits, with a note saying
what was limited. Date periods are filters and stay whole.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace

from whoosh import query as wq

from .date_query import PeriodQuery
from .query import ParsedQuery
from .schema import TEXT_FIELDS

#: Most edits a fuzzy term allows: `cocoa~5` is searched as `cocoa~2`. Lucene's Levenshtein
#: automata stop at 2 and Elasticsearch rejects more; on Reuters `cocoa~5` took 31 s and
#: matched 21,574 of 21,578 documents.
MAX_EDITS = 2

#: Fuzzy terms share at least this many first letters with the word (`cocoa~2/0` is searched
#: as `cocoa~2/1`, Whoosh's default): with none, every term of the field is compared (~1.5 s
#: per field on Reuters).
MIN_FUZZY_PREFIX = 1

#: Most terms one wildcard, prefix, fuzzy term or text range is searched with: those with the
#: highest document frequency (Elasticsearch's `max_expansions` default for fuzzy queries,
#: kept as Lucene's TopTermsRewrite keeps the top terms). `*e*` matches 13,489 Reuters terms.
MAX_EXPANSIONS = 50

#: Most terms all the expansions of one query add up to (Lucene's and Elasticsearch's
#: historical `max_clause_count`); a clause beyond it matches nothing, with a note.
MAX_EXPANDED_TERMS = 1024

#: Most term-dictionary entries one query's expansions may examine: a leading wildcard scans
#: a field's whole dictionary, about 80,000 entries for title and body on Reuters at 6-7 us
#: each (bench/hostile_bench.py: 100,000 entries cost `*e* *a* *o*` 1.2 s of CPU); a query of
#: hundreds of such patterns must not scan it hundreds of times.
MAX_TERMS_EXAMINED = 40_000

_WILDCARD_SPECIALS = frozenset("*?[")


def bound_expansions(
    q: wq.Query,
    reader,
    *,
    max_expansions: int = MAX_EXPANSIONS,
    max_terms: int = MAX_EXPANDED_TERMS,
    max_examined: int = MAX_TERMS_EXAMINED,
) -> tuple[wq.Query, tuple[str, ...]]:
    """`q` with every multi-term clause replaced by the terms it is searched with, and notes.

    Each wildcard, prefix, regex, fuzzy term, range over a text field and `title:*`-style
    field wildcard becomes an `Or` of at most `max_expansions` `Term`s: the matching terms of
    `reader` (an index reader, one segment or many) with the highest document frequency, ties
    by term. Fuzzy terms allow at most `MAX_EDITS` edits. Together the clauses add at most
    `max_terms` terms and examine at most `max_examined` dictionary entries. Each limit that
    changed what is searched adds a note. Date periods are left whole: they are filters.
    A query without such clauses comes back as it was.
    """
    bounder = _Bounder(reader, max_expansions, max_terms, max_examined)
    return bounder.rewrite(q), bounder.notes()


def bound_parsed(parsed: ParsedQuery, reader) -> ParsedQuery:
    """`parsed` with `bound_expansions` applied to its query and its relaxed form, notes added.

    The search calls this once per search, before evaluating: the two forms share one budget
    and each clause is expanded once.
    """
    bounder = _Bounder(reader, MAX_EXPANSIONS, MAX_EXPANDED_TERMS, MAX_TERMS_EXAMINED)
    query = bounder.rewrite(parsed.query)
    relaxed = bounder.rewrite(parsed.relaxed) if parsed.relaxed is not None else None
    notes = bounder.notes()
    if query is parsed.query and relaxed is parsed.relaxed and not notes:
        return parsed
    return replace(
        parsed,
        query=query,
        relaxed=relaxed,
        notes=(*parsed.notes, *notes),
        written=parsed.written if parsed.written is not None else parsed.query,
    )


class _Bounder:
    """One query's expansions: the budget left, expansions made (by clause), what was limited."""

    def __init__(self, reader, max_expansions: int, max_terms: int, max_examined: int) -> None:
        self.reader = reader
        self.leaves = [sub for sub, _ in reader.leaf_readers()]
        self.max_expansions = max_expansions
        self.terms_left = max_terms
        self.max_terms = max_terms
        self.examined_left = max_examined
        self.max_examined = max_examined
        self.done: dict[tuple, wq.Query] = {}
        # label -> the largest count of terms it matched in one field (when capped)
        self.capped: dict[str, int] = {}
        self.fuzzy: dict[str, str] = {}
        self.cut_short: list[str] = []
        self.squeezed: list[str] = []
        self.skipped: list[str] = []

    def notes(self) -> tuple[str, ...]:
        """What was limited, one note per limit and clause, in query order."""
        out = [
            f"{old!r} searched as {new!r}: fuzzy terms allow at most {MAX_EDITS} edits"
            for old, new in self.fuzzy.items()
        ]
        out += [
            f"{label!r} matches {count:,} terms; only the {self.max_expansions} most frequent "
            "were searched"
            for label, count in self.capped.items()
        ]
        out += [
            f"{label!r} was searched with the terms found in the first "
            f"{self.max_examined:,} dictionary entries the query examined"
            for label in dict.fromkeys(self.cut_short)
        ]
        out += [
            f"{label!r} was searched with fewer terms: the query reached its limit of "
            f"{self.max_terms:,} terms"
            for label in dict.fromkeys(self.squeezed)
        ]
        out += [
            f"{label!r} was not searched: the query already expands to {self.max_terms:,} terms"
            for label in dict.fromkeys(self.skipped)
        ]
        return tuple(out)

    def rewrite(self, q: wq.Query) -> wq.Query:
        """`q` with its multi-term clauses expanded (the same object when there are none)."""
        if isinstance(q, PeriodQuery):
            return q
        if isinstance(q, wq.FuzzyTerm) or (
            isinstance(q, wq.MultiTerm) and not self._other_field_range(q)
        ):
            return self._expand(q)
        if isinstance(q, wq.Every) and q.fieldname not in (None, "*"):
            if q.fieldname == "id":
                return wq.Every(boost=q.boost)  # every document has an id
            return self._expand(q)
        if q.is_leaf():
            return q
        rewritten = q.apply(self.rewrite)
        if all(a is b for a, b in zip(rewritten.children(), q.children(), strict=True)):
            return q  # nothing expanded: the very same query, cheap to compare
        return rewritten

    def _other_field_range(self, q: wq.Query) -> bool:
        # A range over a keyword field (`year:[1980 TO 1990]`, `day:[...]`) is a filter: every
        # term counts, and such fields hold a term or a few per document, not thousands.
        return isinstance(q, wq.TermRange) and q.fieldname not in TEXT_FIELDS

    def _expand(self, q: wq.Query) -> wq.Query:
        if isinstance(q, wq.FuzzyTerm) and (
            q.maxdist > MAX_EDITS or q.prefixlength < MIN_FUZZY_PREFIX
        ):
            label = _label(q)
            maxdist = min(q.maxdist, MAX_EDITS)
            prefix = max(q.prefixlength, MIN_FUZZY_PREFIX)
            capped = maxdist < q.maxdist
            q = wq.FuzzyTerm(q.fieldname, q.text, q.boost, maxdist, prefix)
            if capped:
                # Only a cut in edits changes what the user asked for; the first letter kept
                # is the documented meaning of `word~` (as Whoosh's own default), not a limit.
                self.fuzzy[label] = _label(q)
        key = (type(q).__name__, repr(q), q.boost)
        if key in self.done:
            return self.done[key]
        field = q.fieldname
        if field not in self.reader.schema:
            expanded = wq.NullQuery
        else:
            expanded = self._top_terms(q, field)
        self.done[key] = expanded
        return expanded

    def _top_terms(self, q: wq.Query, field: str) -> wq.Query:
        label = _label(q)
        wanted = min(self.max_expansions, self.terms_left)
        if wanted <= 0:
            self.skipped.append(label)
            return wq.NullQuery
        frequency: dict = {}
        for sub in self.leaves:
            for found in self._candidates(q, sub, field):
                if self.examined_left <= 0:
                    self.cut_short.append(label)
                    break
                self.examined_left -= 1
                if found is not None:
                    term, n = found
                    frequency[term] = frequency.get(term, 0) + n
        matched = [(-n, term) for term, n in frequency.items() if n > 0]
        if len(matched) > wanted:
            if wanted == self.max_expansions:
                self.capped[label] = max(self.capped.get(label, 0), len(matched))
            else:
                self.squeezed.append(label)
        kept = sorted(matched)[:wanted]
        self.terms_left -= len(kept)
        from_bytes = self.reader.schema[field].from_bytes
        terms = [wq.Term(field, from_bytes(t), boost=q.boost) for _, t in kept]
        if not terms:
            return wq.NullQuery
        return terms[0] if len(terms) == 1 else wq.Or(terms)

    def _candidates(self, q: wq.Query, sub, field: str):
        """(term, document frequency) for each term of one segment that `q` matches, and None
        for each dictionary entry examined without a match (it counts against the budget)."""
        if isinstance(q, (wq.Every, wq.Prefix, wq.Wildcard, wq.Regex)):
            prefix, pattern = _scan_of(q)
            from_bytes = sub.schema[field].from_bytes
            # One walk of the dictionary yields each term's frequency with it: a lookup per
            # matching term instead made `body:*` three times slower on Reuters.
            for btext, info in sub.iter_prefix(field, prefix):
                if pattern is None or pattern.match(from_bytes(btext)):
                    yield btext, info.doc_frequency()
                else:
                    yield None
        elif isinstance(q, wq.FuzzyTerm):
            # The field's own terms, compared one by one: on Reuters 4-6x faster than Whoosh's
            # automaton walk (`terms_within`), which also looks in the unstemmed spelling words.
            text, maxdist, size = q.text, q.maxdist, len(q.text)
            from_bytes = sub.schema[field].from_bytes
            for btext in sub.expand_prefix(field, text[: q.prefixlength]):
                word = from_bytes(btext)
                if (
                    abs(len(word) - size) <= maxdist
                    # each letter of the text missing from the word costs an edit: a cheap bound
                    and sum(ch not in word for ch in text) <= maxdist
                    and edit_distance(word, text, maxdist) <= maxdist
                ):
                    yield btext, sub.doc_frequency(field, btext)
                else:
                    yield None
        elif isinstance(q, wq.TermRange):
            # Walked in order with each term's frequency: a lookup per term instead took 70%
            # of `body:[a TO z]` (bench/hostile_bench.py).
            from_bytes = sub.schema[field].from_bytes
            start, end = q.start or "", q.end
            for btext, info in sub.iter_field(field, start):
                text = from_bytes(btext)
                if end is not None and (text > end or (q.endexcl and text == end)):
                    return
                if q.startexcl and text == start:
                    yield None
                    continue
                yield btext, info.doc_frequency()
        else:
            for _, btext in q.expanded_terms(sub):
                yield btext, sub.doc_frequency(field, btext)


def _scan_of(q: wq.Query) -> tuple[str, re.Pattern[str] | None]:
    """(the literal prefix every match starts with, the pattern a term must match or None)."""
    if isinstance(q, wq.Every):
        return "", None
    if isinstance(q, wq.Prefix):
        return q.text, None
    if isinstance(q, wq.Regex):
        return "", re.compile(q.text)  # a regex's literal prefix is not worth guessing
    for i, ch in enumerate(q.text):
        if ch in _WILDCARD_SPECIALS:
            return q.text[:i], re.compile(fnmatch.translate(q.text))
    return q.text, re.compile(fnmatch.translate(q.text))


def _label(q: wq.Query) -> str:
    """A multi-term clause as the user wrote it, without the field the parser added."""
    if isinstance(q, wq.FuzzyTerm):
        # As typed: `word~` is one edit, `/N` a kept prefix (the parser's default is none).
        edits = "" if q.maxdist == 1 else str(q.maxdist)
        # The first letter always kept is what `word~` means here: not shown.
        prefix = f"/{q.prefixlength}" if q.prefixlength > MIN_FUZZY_PREFIX else ""
        return f"{q.text}~{edits}{prefix}"
    if isinstance(q, wq.Every):
        return f"{q.fieldname}:*"
    text = str(q)
    if q.field() in TEXT_FIELDS and text.startswith(f"{q.field()}:"):
        return text[len(q.field()) + 1 :]
    return text


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance of `a` and `b` (optimal string alignment), or `limit + 1`
    as soon as it is known to exceed `limit`: what a fuzzy term `b~limit` accepts."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[len(b)]
