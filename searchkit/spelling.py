"""Did you mean: a better-spelled query, built from the words of the index.

Unknown (or, when nothing matched, rare) words of a query are replaced by the most frequent
word of the index within one, else two, edits (Damerau-Levenshtein: a transposition is one
edit) that starts with the same letter; the new query is offered only if it finds more
documents than the one asked.

The cost is bounded whatever the query: as Elasticsearch's term suggester does, only the
first few words of a sensible length are looked at, and the edit distance is computed only
for index words whose length is within two of the word's (no other can be two edits away).
"""

from __future__ import annotations

from collections.abc import Callable

from whoosh import query as wq
from whoosh.support.levenshtein import damerau_levenshtein

from .query import ParsedQuery
from .schema import TEXT_FIELDS
from .scoring import positive_leaves

#: Below this many hits, look for a better-spelled query.
SUGGEST_BELOW = 5
#: Words seen in fewer documents than this may be misspellings.
RARE_WORD_DOCS = 5
#: Longer words get no suggestion: hardly a misspelling, and each costs a comparison with
#: every index word of a similar length (a 2,000-character word took 30-50 s on Reuters).
MAX_SUGGEST_WORD_CHARS = 30
#: Words corrected per query at most (the first ones): each is one pass over the index
#: words that share its first letter.
MAX_SUGGEST_WORDS = 8
_MAX_EDITS = 2


class Speller:
    """Suggests corrections from the index behind `reader`; `term_of` maps a surface word
    to its indexed form (None for a stop word)."""

    def __init__(self, reader, term_of: Callable[[str], str | None]) -> None:
        self._reader = reader
        self._term_of = term_of

    def suggestion(
        self, parsed: ParsedQuery, found: int, count: Callable[[str], int]
    ) -> str | None:
        """The query with unknown (or, when nothing matched, rare) words replaced by frequent
        words of the index within two edits, if that query finds more documents.

        `found`: what `parsed` found; `count(text)`: what a query text would find.
        """
        text = parsed.text
        spans = {}
        for leaf in positive_leaves(parsed.query):
            if not isinstance(leaf, wq.Term) or leaf.fieldname not in TEXT_FIELDS:
                continue
            start, end = getattr(leaf, "startchar", None), getattr(leaf, "endchar", None)
            if start is None or end is None or (start, end) in spans:
                continue
            spans[(start, end)] = leaf.text
        rare = RARE_WORD_DOCS if found == 0 else 1
        replacements = {}
        looked = 0
        for (start, end), term in spans.items():
            if end - start > MAX_SUGGEST_WORD_CHARS or looked == MAX_SUGGEST_WORDS:
                continue
            frequency = self._doc_frequency(term)
            if frequency >= rare:
                continue
            looked += 1
            better = self._correction(text[start:end].lower(), frequency)
            if better is not None:
                replacements[(start, end)] = better
        if not replacements:
            return None
        new = text
        for (start, end), word in sorted(replacements.items(), reverse=True):
            new = new[:start] + word + new[end:]
        if count(new) <= found:
            return None
        return new

    def _doc_frequency(self, term: str) -> int:
        reader = self._reader
        return max(reader.doc_frequency(f, term) for f in TEXT_FIELDS)

    def _correction(self, word: str, frequency: int) -> str | None:
        """The most frequent word of the index one (else two) edits away, if much more common."""
        reader = self._reader
        spelling = reader.schema["body"].spelling_fieldname("body")
        if spelling not in reader.schema:
            return None
        near = self._near_words(spelling, word)
        for distance in (1, 2):
            if distance == 2 and len(word) < 5:
                break  # two edits of a short word reach too many unrelated words
            # An unknown word takes any known one; a rare one only a far more common one.
            best, best_df = None, 10 * frequency if frequency else 0
            for candidate, edits in near:
                if edits > distance:
                    continue
                term = self._term_of(candidate) if candidate != word else None
                df = self._doc_frequency(term) if term else 0
                if df > best_df or (df == best_df and best is not None and candidate < best):
                    best, best_df = candidate, df
            if best is not None:
                return best
        return None

    def _near_words(self, spelling: str, word: str) -> list[tuple[str, int]]:
        """(index word, edits) of the words of the spelling field at most two edits from
        `word` that start with its first letter: one pass over those words."""
        near = []
        size = len(word)
        for btext in self._reader.expand_prefix(spelling, word[:1]):
            candidate = btext.decode("utf-8")
            if abs(len(candidate) - size) > _MAX_EDITS:
                continue  # each edit changes the length by one at most
            edits = damerau_levenshtein(candidate, word, limit=_MAX_EDITS)
            if edits <= _MAX_EDITS:
                near.append((candidate, edits))
        return near
