"""Snippets: the passages of a document that hold a query's words, with their offsets marked.

A query's highlight terms are the indexed terms its positive parts match (wildcards and
ranges expanded, up to a cap). Tokens of the stored text are mapped to their indexed form
through the index's own analyzer, memoised per word, so that a snippet needs no analyzer run
over the whole text; in ASCII text only tokens starting like a query term are looked at.
A snippet is a `(text, highlights)` pair: highlights are (start, end) offsets into its text.
"""

from __future__ import annotations

import re
from itertools import islice

from .schema import TEXT_FIELDS, cjk_pieces
from .scoring import positive_leaves

#: A snippet fragment: at most this many characters, starting up to LEAD before a match.
FRAGMENT_CHARS = 200
FRAGMENT_LEAD = 60
#: Term expansions (wildcards, ranges) considered for highlighting, per query clause.
MAX_HIGHLIGHT_TERMS = 1000
_WORD_CACHE_SIZE = 200_000
_SPACES = re.compile(r"\s+")

Marked = tuple[str, tuple[tuple[int, int], ...]]


class Highlighter:
    """Finds a query's words in stored text, as the index's analyzer `analyzer` indexed them."""

    def __init__(self, analyzer) -> None:
        self._analyzer = analyzer
        tokenizer = getattr(analyzer, "items", [analyzer])[0]
        self._tokens = getattr(tokenizer, "expression", None) or re.compile(r"\w+(\.?\w+)*")
        self._words: dict[str, str | None] = {}

    def term_of(self, word: str) -> str | None:
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

    def query_terms(self, q, reader) -> dict[str, frozenset[str]]:
        """Indexed terms per text field that the positive parts of `q` match."""
        found: dict[str, set[str]] = {}
        for leaf in positive_leaves(q):
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

    def finder(self, terms: frozenset[str]):
        """A pattern for the tokens that may be `terms`: the tokenizer's, anchored on prefixes."""
        if not terms:
            return None
        prefixes = "|".join(sorted({re.escape(t[: max(1, len(t) - 1)]) for t in terms}))
        start = r"(?<!\w)(?<!\w\.)(?=(?:" + prefixes + "))"
        return re.compile(start + self._tokens.pattern, re.IGNORECASE)

    def snippet(self, text: str, terms: frozenset[str], finder, fragments: int) -> Marked:
        """Up to `fragments` passages of `text` holding the most distinct `terms`, joined;
        `finder` is `self.finder(terms)`, made once per query."""
        if fragments <= 0 or not text:
            return "", ()
        matches: list[tuple[int, int, str]] = []
        if terms:
            term_of = self.term_of
            # ASCII text: only tokens starting like a query term are analysed (a term is its
            # word minus a changed ending); other text: every token, accents and all.
            tokens = finder if text.isascii() else self._tokens
            for m in tokens.finditer(text):
                word = m.group()
                if not word.isascii() and len(pieces := cjk_pieces(word)) > 1:
                    # CJK runs are indexed as overlapping pairs: mark the pairs found,
                    # joining overlapping ones into one highlight.
                    for a, b in pieces:
                        t = term_of(word[a:b])
                        if t is not None and t in terms:
                            start, end = m.start() + a, m.start() + b
                            if matches and matches[-1][1] > start:
                                matches[-1] = (matches[-1][0], end, matches[-1][2])
                            else:
                                matches.append((start, end, t))
                    continue
                t = term_of(word)
                if t is not None and t in terms:
                    matches.append((m.start(), m.end(), t))
        return render_snippet(text, choose_fragments(text, matches, fragments))


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


def render_snippet(text: str, windows: list) -> Marked:
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
    return "".join(parts), tuple(highlights)


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
    """The end of a window: at `limit` or the text's end, moved back to the start of the last
    run of spaces between the last match and `limit` (no further back than the match)."""
    if limit >= len(text):
        return len(text)
    # Scanned back from the limit (a space is usually a few characters away): running a
    # regex over the whole window for each candidate was a fifth of a snippet's time.
    k = limit - 1
    while k >= last_match_end and not text[k].isspace():
        k -= 1
    if k < last_match_end:
        return max(last_match_end, limit)
    while k > last_match_end and text[k - 1].isspace():
        k -= 1
    return k
