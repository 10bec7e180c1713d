"""The postings of each segment's frequent words as plain arrays, written once beside the segment.

Whoosh keeps a term's postings as zlib-compressed pickles of 128 postings with their positions,
and finding a term costs a table lookup and a matcher per segment. Reading a common word of a
100k-document index decoded thousands of blocks (most of a common-word query's time, growing
with the archive), and a mid-frequency word paid the per-segment lookups twenty times over.

When a segment is written (`write_term_arrays`, run by the writer before any table of contents
names the segment), the document numbers and frequencies of every full-text term that at
least `MIN_DOCS` of its documents hold (about 90% of its postings) are written beside it in
the smallest integer types that fit, with the terms as one sorted array. A search maps the
file and finds a term by binary search: no Python work per posting or per term of the file.
Rarer terms, and segments without the file (an older searchkit's), are read from Whoosh's
postings as before (`posting_arrays`); tests/test_term_arrays.py checks both give the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ._whoosh.reading import frequent_postings
from .array_files import read_array_file, write_array_file
from .schema import TEXT_FIELDS

#: A term is written when at least this many documents of the segment hold it (measured on
#: the 100k scale corpus: 16 keeps ~90% of the body's postings in ~12% of its terms, and
#: writing them costs ~0.15 ms per document, spread over the writer processes).
MIN_DOCS = 16
#: The file of a segment is `<segment id><TERM_ARRAYS_EXTENSION>`: Whoosh's clean-up deletes
#: it with the segment's own files.
TERM_ARRAYS_EXTENSION = ".terms"
_MAGIC = b"SKTERMS1"


def write_term_arrays(folder: str, segment_id: str, open_reader: Callable[[], Any]) -> None:
    """Write the frequent terms' postings of a segment unless its file exists (a
    `SegmentFinisher`)."""
    path = os.path.join(folder, segment_id + TERM_ARRAYS_EXTENSION)
    if os.path.exists(path):
        return
    reader = open_reader()
    try:
        doccount = reader.doc_count_all()
        id_type = np.dtype("<u2") if doccount <= 1 << 16 else np.dtype("<u4")
        arrays: dict[str, np.ndarray] = {}
        for field in TEXT_FIELDS:
            if field not in reader.indexed_field_names():
                continue
            terms, ids, tfs = [], [], []
            for term, term_ids, term_tf in frequent_postings(reader, field, MIN_DOCS):
                terms.append(term)
                ids.append(term_ids)
                tfs.append(term_tf)
            starts = np.zeros(len(terms) + 1, np.int64)
            np.cumsum([a.size for a in ids], out=starts[1:])
            tf = np.concatenate(tfs) if tfs else np.zeros(0)
            arrays[f"{field}/terms"] = np.array(terms, bytes)
            arrays[f"{field}/starts"] = starts
            arrays[f"{field}/ids"] = (np.concatenate(ids) if ids else np.zeros(0)).astype(id_type)
            arrays[f"{field}/tf"] = tf.astype(_frequency_type(tf))
    finally:
        reader.close()
    write_array_file(path, _MAGIC, {"documents": doccount}, arrays)


def _frequency_type(tf: np.ndarray) -> np.dtype:
    """The smallest type that holds the frequencies exactly."""
    if tf.size and not np.array_equal(tf, np.round(tf)):
        return np.dtype("<f8")
    top = tf.max() if tf.size else 0
    return (
        np.dtype("<u1") if top < 1 << 8 else np.dtype("<u2") if top < 1 << 16 else np.dtype("<f8")
    )


class TermArrays:
    """The mapped file of one segment's frequent terms."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self._arrays = arrays

    @classmethod
    def open(cls, path: str | None, doccount: int) -> TermArrays | None:
        """The file at `path` if it is whole and made for a segment of `doccount`
        documents, else None."""
        found = read_array_file(path, _MAGIC) if path else None
        if found is None or found[0].get("documents") != doccount:
            return None
        return cls(found[1])

    def postings(self, field: str, term: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """(document numbers, frequencies) of a frequent term; None for a term the file
        does not hold (a rarer one, or one the segment does not have)."""
        terms = self._arrays.get(f"{field}/terms")
        if terms is None or not terms.size or len(term) > terms.dtype.itemsize:
            return None
        at = int(np.searchsorted(terms, term))
        # A stored term is padded with NUL bytes: equal only if the term is the same.
        if at >= terms.size or terms[at] != term:
            return None
        starts = self._arrays[f"{field}/starts"]
        start, end = int(starts[at]), int(starts[at + 1])
        return self._arrays[f"{field}/ids"][start:end], self._arrays[f"{field}/tf"][start:end]
