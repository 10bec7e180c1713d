"""The Whoosh schema: analyzers, full-text fields, date and metadata facets, sync bookkeeping."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from whoosh.analysis import (
    CommaSeparatedTokenizer,
    Filter,
    LowercaseFilter,
    RegexTokenizer,
    StopFilter,
)
from whoosh.analysis.analyzers import CompositeAnalyzer
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.formats import Positions
from whoosh.support.charset import accent_map

from .documents import CORE_FIELDS, Document

#: Bumped whenever the schema changes in a way an old index cannot serve.
SCHEMA_VERSION = 2

#: Weight of a title occurrence against a body one in BM25F's combined term frequency, applied
#: at query time (postings hold true frequencies, which `--explain` shows).
TITLE_BOOST = 2.0

#: Metadata values are indexed whole (exact filters and facets) and word by word, each word
#: behind this mark, so that `author:jane` finds "Jane Doe" while facets list whole values. A
#: document's values cannot hold it (control characters are removed from every value).
WORD_MARK = "\x1f"

#: English stop words: NLTK's list (179 words, as bm25s ships it as STOPWORDS_EN_PLUS). Question-
#: style queries ("what are the effects of ...") lose their phrasing words with it; measured
#: against Whoosh's 34 words and Lucene's 33 in bench/ranking_lab.py (issue 11).
STOP_WORDS = frozenset(
    """
    a about above after again against ain all am an and any are aren aren't as at be because
    been before being below between both but by can couldn couldn't d did didn didn't do does
    doesn doesn't doing don don't down during each few for from further had hadn hadn't has
    hasn hasn't have haven haven't having he her here hers herself him himself his how i if
    in into is isn isn't it it's its itself just ll m ma me mightn mightn't more most mustn
    mustn't my myself needn needn't no nor not now o of off on once only or other our ours
    ourselves out over own re s same shan shan't she she's should should've shouldn shouldn't
    so some such t than that that'll the their theirs them themselves then there these they
    this those through to too under until up ve very was wasn wasn't we were weren weren't
    what when where which while who whom why will with won won't wouldn wouldn't y you you'd
    you'll you're you've your yours yourself yourselves
    """.split()
)

#: The Snowball stemmer's language (PyStemmer's `Stemmer.Stemmer(STEM_LANGUAGE)`: Porter2).
STEM_LANGUAGE = "english"

#: Full-text fields, searched by default.
TEXT_FIELDS = ("title", "body")

#: Date facets, each a sortable keyword column filled from the document's date.
DATE_FACETS = ("year", "month", "day")

#: Fields that are not metadata facets (`folder`, `author`, `topics`, ... are).
RESERVED_FIELDS = CORE_FIELDS - {"folder"}


class AccentFolder(Filter):
    """Accent folding ("città" -> "citta") that leaves plain ASCII tokens alone.

    Whoosh's CharsetFilter translates every token through a large table; most news tokens are
    ASCII, and skipping them made analysis about a fifth faster (measured on Reuters).
    """

    def __call__(self, tokens):
        for t in tokens:
            if not t.text.isascii():
                t.text = t.text.translate(accent_map)
            yield t


class SnowballStemmer(Filter):
    """The Snowball English stemmer (Porter2), through PyStemmer's C implementation.

    Measured against Whoosh's Porter stemmer on the judged collections (bench/ranking_lab.py):
    better on each. Picklable (the schema is stored in the index): the stemmer object is made
    again on first use after unpickling.
    """

    def __init__(self, language: str = STEM_LANGUAGE) -> None:
        self.language = language

    def __getstate__(self):
        return {"language": self.language}

    def __setstate__(self, state) -> None:
        self.language = state["language"]

    def stem_word(self) -> Callable[[str], str]:
        """The function that stems one word."""
        stem = self.__dict__.get("_stem")
        if stem is None:
            import Stemmer  # PyStemmer: imported on first use, not by every CLI start

            stem = self.__dict__["_stem"] = Stemmer.Stemmer(self.language).stemWord
        return stem

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.language == self.language

    def __hash__(self) -> int:
        return hash((type(self), self.language))

    def __call__(self, tokens):
        stem = self.stem_word()
        for t in tokens:
            if not t.stopped:
                t.text = stem(t.text)
            yield t


#: Chinese, Japanese and Korean characters (Han, kana, Hangul): written without spaces, so a
#: run of them is indexed as overlapping pairs (the approach of Lucene's CJK analyzer).
_CJK_RUN = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f]+"
)


def cjk_pieces(word: str) -> list[tuple[int, int]]:
    """(start, end) of the pieces one token is indexed as: each run of CJK characters as
    its overlapping pairs ("中国经济" -> 中国, 国经, 经济; a lone character alone), the rest of
    the token as it is. A token without CJK characters is one piece."""
    pieces: list[tuple[int, int]] = []
    at = 0
    for run in _CJK_RUN.finditer(word):
        if run.start() > at:
            pieces.append((at, run.start()))
        start, end = run.span()
        if end - start == 1:
            pieces.append((start, end))
        else:
            pieces.extend((i, i + 2) for i in range(start, end - 1))
        at = end
    if at < len(word):
        pieces.append((at, len(word)))
    return pieces


class CJKBigrams(Filter):
    """Each run of CJK characters in a token as overlapping pairs, one position each (after
    the stop filter: a pair is two characters, never too short); other tokens unchanged."""

    def __call__(self, tokens):
        shift = 0
        for t in tokens:
            if shift and t.positions:
                t.pos += shift
            text = t.text
            if text.isascii() or not _CJK_RUN.search(text):
                yield t
                continue
            pieces = cjk_pieces(text)
            first_pos = t.pos if t.positions else 0
            first_char = t.startchar if t.chars else 0
            for i, (start, end) in enumerate(pieces):
                t.text = text[start:end]
                if t.positions:
                    t.pos = first_pos + i
                if t.chars:
                    t.startchar, t.endchar = first_char + start, first_char + end
                yield t
            shift += len(pieces) - 1


class MetadataWords(Filter):
    """After each whole metadata value, its words behind `WORD_MARK` (at index time only: a
    query names a whole value or a word, and the query layer asks for both)."""

    def __call__(self, tokens):
        for t in tokens:
            yield t
            if t.mode == "index":
                whole = t.text
                for word in _METADATA_WORD.findall(whole):
                    if word != whole:  # a one-word value's exact term serves its word
                        t.text = WORD_MARK + word
                        yield t


_METADATA_WORD = re.compile(r"\w+")


def text_analyzer():
    """Tokenise on words (a hyphen separates two), case-fold, accent-fold ("citta" finds
    "città"), drop English stop words and one-letter words, split CJK runs into pairs, stem
    (Snowball English)."""
    return (
        RegexTokenizer()
        | LowercaseFilter()
        | AccentFolder()
        | StopFilter(stoplist=STOP_WORDS, minsize=2)
        | CJKBigrams()
        | SnowballStemmer()
    )


def keyword_analyzer():
    """Metadata values: one exact term per comma-separated value, case- and accent-folded,
    plus (when indexing) each value's words behind `WORD_MARK`."""
    return CommaSeparatedTokenizer() | LowercaseFilter() | AccentFolder() | MetadataWords()


def metadata_words(value: str) -> list[str]:
    """The word terms (behind `WORD_MARK`) a metadata value's words are indexed as."""
    return [WORD_MARK + w for w in _METADATA_WORD.findall(_fold(value.lower()))]


def fold_keyword(value: str) -> str:
    """The indexed form of a metadata value, as `keyword_analyzer` produces it."""
    tokens = [t.text for t in keyword_analyzer()(value.replace(",", " "), mode="query")]
    return tokens[0] if tokens else ""


def _fold(word: str) -> str:
    return word if word.isascii() else word.translate(accent_map)


_WORD = re.compile(r"[^\W\d_]{2,}")
_MISSING = object()
_spelling_state = threading.local()


def start_spelling_segment() -> None:
    """Forget the spelling words posted so far: call before each new writer (segment)."""
    _spelling_state.seen = {}


def _fused_indexer(field: TEXT):
    """`field.index` for the `text_analyzer` chain in one loop, or None for any other field.

    Whoosh runs every token through five generators and a cached stemmer call, and positions
    through a dictionary per document: 30% of a profiled build of 3,000 Usenet posts. This
    gives the same terms, frequencies, weights and positions (tests compare it with Whoosh's
    own path) from the chain's own settings, with one loop per text.
    """
    analyzer, fmt = field.analyzer, field.format
    if not isinstance(analyzer, CompositeAnalyzer) or type(fmt) is not Positions:
        return None
    kinds = [type(item) for item in analyzer.items]
    chain = [RegexTokenizer, LowercaseFilter, AccentFolder, StopFilter, CJKBigrams, SnowballStemmer]
    if kinds != chain:
        return None
    tokenizer, _, _, stop, _, stemmer = analyzer.items
    if tokenizer.gaps or not stop.renumber:
        return None
    finditer = tokenizer.expression.finditer
    stops, minsize, maxsize = stop.stops, stop.min, stop.max
    stem = stemmer.stem_word()
    cjk_search = _CJK_RUN.search
    encode, boost = fmt.encode, fmt.field_boost
    stems: dict[str, str] = {}

    def index(value: str):
        positions: dict[str, list[int]] = {}
        pos = -1
        for number, match in enumerate(finditer(value)):
            text = match.group().lower()
            if not text.isascii():
                text = text.translate(accent_map)
            size = len(text)
            if size < minsize or (maxsize is not None and size > maxsize) or text in stops:
                continue
            # StopFilter renumbers: the first kept word keeps its place, the next follow it.
            pos = number if pos < 0 else pos + 1
            if text.isascii() or not cjk_search(text):
                words: tuple[str, ...] | list[str] = (text,)
            else:  # CJKBigrams: a position for each piece
                words = [text[a:b] for a, b in cjk_pieces(text)]
            for i, word in enumerate(words):
                if i:
                    pos += 1
                stemmed = stems.get(word)
                if stemmed is None:
                    if len(stems) > 200_000:
                        stems.clear()
                    stemmed = stems[word] = stem(word)
                found = positions.get(stemmed)
                if found is None:
                    positions[stemmed] = [pos]
                else:
                    found.append(pos)
        for word, places in positions.items():
            yield word.encode("utf-8"), len(places), float(len(places)) * boost, encode(places)

    return index


class SpelledText(TEXT):
    """Full text whose unstemmed words feed "did you mean", posted once per segment.

    Whoosh's own `spelling=True` re-analyses every text and posts each of its words for every
    document: measured on 3,000 Reuters articles it made indexing 75% slower. Here a word is
    posted the first time a writer (one segment) meets it, found with one regular expression.
    Indexing runs the analyzer chain fused into one loop (`_fused_indexer`).
    """

    def index(self, value, **kwargs):
        fused = self.__dict__.get("_fused", _MISSING)
        if fused is _MISSING:
            fused = self.__dict__["_fused"] = _fused_indexer(self)
        if fused is None or kwargs or not isinstance(value, str):
            return super().index(value, **kwargs)
        return fused(value)

    def __getstate__(self):
        # The fused indexer is a closure (not picklable) and cheap to make again.
        return {k: v for k, v in self.__dict__.items() if k != "_fused"}

    def spellable_words(self, value):
        if getattr(_spelling_state, "seen", None) is None:
            start_spelling_segment()
        # One set per field: a word first met in a title must still reach the body's list.
        seen = _spelling_state.seen.setdefault(id(self), set())
        # Stop words out: they are never worth suggesting, and a text of stop words only
        # ("FROM") would give spelling words but no index terms, which Whoosh's add_document
        # does not survive (its spelling loop reuses a variable only the term loop sets).
        # Folded as the analyzer folds: "ìn" is the stop word "in", which gives no term.
        words = {w for w in _WORD.findall(value.lower()) if _fold(w) not in STOP_WORDS} - seen
        seen.update(words)
        return sorted(words)


def build_schema() -> Schema:
    """The schema every searchkit index is created with."""
    analyzer = text_analyzer()
    schema = Schema(
        id=ID(unique=True, stored=True, sortable=True),
        path=ID(stored=True),
        title=SpelledText(analyzer=analyzer, stored=True, spelling=True),
        body=SpelledText(analyzer=analyzer, stored=True, spelling=True),
        date=DATETIME(sortable=True),
        date_end=DATETIME(),
        date_text=STORED(),
        year=ID(sortable=True),
        month=ID(sortable=True),
        day=ID(sortable=True),
        meta=STORED(),
    )
    # Every other field name is a metadata facet (topics, places, newsgroups, folder, ...).
    schema.add(
        "*",
        KEYWORD(analyzer=keyword_analyzer(), scorable=False, lowercase=True, commas=True),
        glob=True,
    )
    return schema


def is_metadata_field(name: str) -> bool:
    """True for a metadata facet name (anything the schema does not reserve)."""
    return name not in RESERVED_FIELDS and not name.startswith("spell_")


def whoosh_fields(doc: Document) -> dict:
    """The keyword arguments for `writer.add_document` that store `doc`."""
    fields: dict = {
        "id": doc.id,
        "title": doc.title,
        "body": doc.body,
        "meta": {k: list(v) for k, v in doc.fields.items() if v},
    }
    if doc.path:
        fields["path"] = doc.path
    if doc.date is not None:
        d = doc.date
        fields["date"] = d.start
        fields["date_end"] = d.end
        fields["date_text"] = d.isoformat()
        fields["year"] = d.year_key
        if d.month_key:
            fields["month"] = d.month_key
        if d.day_key:
            fields["day"] = d.day_key
    for name, values in doc.fields.items():
        if values and is_metadata_field(name):
            fields[name] = ",".join(v.replace(",", " ") for v in values)
    return fields
