"""The postings of each segment's terms as plain arrays, written once beside the segment.

Whoosh keeps a term's postings as zlib-compressed pickles of 128 postings with their positions,
and finding a term costs a table lookup and a matcher per segment. Reading a common word of a
100k-document index decoded thousands of blocks (most of a common-word query's time, growing
with the archive), and a rare word paid the per-segment lookups once per segment (94 of them
at 500k articles).

When a segment is written (`write_term_arrays`, run by the writer before any table of contents
names the segment), the document numbers and frequencies of its title and body terms (every
one up to `TERM_WIDTH` bytes) are written beside it in the smallest integer types that fit,
with the terms as one sorted array. A search maps the file and finds a term by binary search:
no Python work per posting or per term of the file, and a term the file does not hold is not
in the segment. Longer terms, and segments without the file (an older searchkit's), are read
from Whoosh's postings (`term_postings`); tests/test_term_arrays.py checks both give the same.
"""

from __future__ import annotations

import numpy as np

from ._whoosh.reading import frequent_postings
from .array_files import read_array_file, write_array_file
from .schema import TEXT_FIELDS

#: A term is written when at least this many documents of the segment hold it. Every term
#: (1): the term table is scanned whole anyway, so writing all of them costs what the ~12%
#: held by 16 or more documents cost (0.5 s per 2,500 articles, measured), and a word the
#: file does not hold is then known to be absent, without Whoosh's lookup (170 us per
#: segment and field: a third of a title query's time at 500k articles, 94 segments).
MIN_DOCS = 1
#: Terms longer than this (in UTF-8 bytes) are left to Whoosh's term table: the terms are one
#: array of fixed-width entries, as wide as the longest.
TERM_WIDTH = 24
#: The file of a segment is `<segment id><TERM_ARRAYS_EXTENSION>`: Whoosh's clean-up deletes
#: it with the segment's own files.
TERM_ARRAYS_EXTENSION = ".terms"
_MAGIC = b"SKTERMS2"


def write_term_arrays(path: str, reader) -> None:
    """Write the term arrays of a segment at `path`, from a Whoosh reader of the segment;
    the writer does it before the segment is committed."""
    doccount = reader.doc_count_all()
    id_type = np.dtype("<u2") if doccount <= 1 << 16 else np.dtype("<u4")
    arrays: dict[str, np.ndarray] = {}
    for field in TEXT_FIELDS:
        terms, ids, tfs = [], [], []
        indexed = field in reader.indexed_field_names()
        for term, term_ids, term_tf in (
            frequent_postings(reader, field, MIN_DOCS) if indexed else ()
        ):
            if len(term) > TERM_WIDTH or term.endswith(b"\0"):
                continue  # found in Whoosh's table (a NUL at the end would not survive)
            terms.append(term)
            ids.append(term_ids)
            tfs.append(term_tf)
        starts = np.zeros(len(terms) + 1, np.int64)
        np.cumsum([a.size for a in ids], out=starts[1:])
        tf = np.concatenate(tfs) if tfs else np.zeros(0)
        arrays[f"{field}/terms"] = np.array(terms, f"S{TERM_WIDTH}" if not terms else bytes)
        arrays[f"{field}/starts"] = starts
        arrays[f"{field}/ids"] = (np.concatenate(ids) if ids else np.zeros(0)).astype(id_type)
        arrays[f"{field}/tf"] = tf.astype(_frequency_type(tf))
    header = {"documents": doccount, "min_docs": MIN_DOCS, "width": TERM_WIDTH}
    write_array_file(path, _MAGIC, header, arrays)


def _frequency_type(tf: np.ndarray) -> np.dtype:
    """The smallest type that holds the frequencies exactly."""
    if tf.size and not np.array_equal(tf, np.round(tf)):
        return np.dtype("<f8")
    top = tf.max() if tf.size else 0
    return (
        np.dtype("<u1") if top < 1 << 8 else np.dtype("<u2") if top < 1 << 16 else np.dtype("<f8")
    )


class TermArrays:
    """The mapped file of one segment's terms and their postings."""

    def __init__(self, arrays: dict[str, np.ndarray], min_docs: int, width: int) -> None:
        # Per field: (terms, starts, ids, frequencies), looked up once here, not per search.
        self._fields = {
            field: tuple(arrays[f"{field}/{part}"] for part in ("terms", "starts", "ids", "tf"))
            for field in TEXT_FIELDS
            if f"{field}/terms" in arrays
        }
        self._min_docs = min_docs
        self._width = width

    @classmethod
    def open(cls, path: str | None, doccount: int) -> TermArrays | None:
        """The file at `path` if it is whole and made for a segment of `doccount`
        documents, else None."""
        found = read_array_file(path, _MAGIC) if path else None
        if found is None:
            return None
        header, arrays = found
        min_docs, width = header.get("min_docs"), header.get("width")
        if header.get("documents") != doccount or not isinstance(min_docs, int):
            return None
        return cls(arrays, min_docs, width if isinstance(width, int) else 0)

    def postings(self, field: str, term: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """(document numbers, frequencies) of a term; empty when the segment does not have
        it; None when the file cannot tell (a term rarer, or longer, than it holds)."""
        arrays = self._fields.get(field)
        if arrays is None or len(term) > self._width or term.endswith(b"\0"):
            return None
        terms, starts, ids, tf = arrays
        at = int(terms.searchsorted(term))
        # A stored term is padded with NUL bytes: equal only if the term is the same.
        if at >= terms.size or terms[at] != term:
            return None if self._min_docs > 1 else (ids[:0], tf[:0])
        start, end = int(starts[at]), int(starts[at + 1])
        return ids[start:end], tf[start:end]
