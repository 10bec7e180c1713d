"""Reading an open Whoosh index fast: the only search-side code that touches Whoosh's private names.

Searching reads whole posting blocks, length columns and numeric columns straight from the
pinned codec (whoosh-reloaded 2.7.5, `whoosh.codec.whoosh3`) instead of stepping through them
one value at a time. Each private assumption made here is checked against Whoosh's public
behaviour by tests/test_whoosh_reading.py; anything laid out differently falls back to Whoosh's
public (slower) way of reading the same values.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3LeafMatcher,
    W3TermInfo,
    W3TermsReader,
    _lenfield,
)
from whoosh.columns import NumericColumn
from whoosh.matching.wrappers import FilterMatcher
from whoosh.util.numeric import byte_to_length

#: The field length Whoosh stores for each of the 256 length bytes (0 read as 1, as BM25F
#: would divide by it).
_LENGTH_OF_BYTE = [byte_to_length(b) or 1 for b in range(256)]


@dataclass(frozen=True)
class Segment:
    """One segment of an open searcher: its own searcher, the number of its first document
    in the whole index, the key its cached arrays are stored under, and the folder of its
    files (None for an index not in a folder)."""

    searcher: Any  # a whoosh.searching.Searcher (Whoosh has no type annotations)
    offset: int
    key: tuple[str, str]  # (generation, segment id)
    folder: str | None = None

    def file(self, extension: str) -> str | None:
        """The path of the file named after the segment with `extension` (one searchkit
        writes beside the segment's own files), or None without a folder."""
        return os.path.join(self.folder, self.key[1] + extension) if self.folder else None


def segments(searcher, generation: str, folder: str | None = None) -> list[Segment]:
    """The segments of a Whoosh searcher, in document number order.

    A segment never changes once written (a deletion only hides documents), so what is
    computed from one can be kept for as long as its key is among the live ones.
    """
    return [
        Segment(sub, offset, (generation, segment_id(sub.reader())), folder)
        for sub, offset in searcher.leaf_searchers()
    ]


def segment_id(reader) -> str:
    """A segment reader's segment id; an index without documents has no segment."""
    segment = reader.segment()
    return segment.segment_id() if segment is not None else "(empty)"


def read_postings(reader, fieldname: str, btext: bytes) -> tuple[list[int], list[float]]:
    """The document numbers and weights of one term in one segment, deleted ones left out.

    Reads whole blocks of the pinned codec's `W3LeafMatcher` instead of stepping posting by
    posting (~10x faster on Reuters); any other matcher is stepped through.
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


#: The pickled id deltas of a block: one opcode each (K: 1 byte, M: 2 bytes, J: 4 bytes).
_ID_OPCODES = re.compile(rb"(?:K.|M..|J....)*", re.S)
_MARK, _TUPLE, _BINPUT, _NONE, _BINFLOAT = 0x28, 0x74, 0x71, 0x4E, 0x47
_POSTINGS_MAGIC = WHOOSH3_HEADER_MAGIC


def term_postings(reader, fieldname: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
    """`posting_arrays` of a term that may not be in the segment (then empty arrays), from one
    lookup of its term-table entry: a rare word is looked for in every segment of the index,
    and Whoosh's way (a lookup to see it is there, another for its matcher, the matcher
    itself) cost ~100 us per segment and field, 20 ms a word at ~100 segments."""
    terms = getattr(reader, "_terms", None)
    index = getattr(terms, "_tindex", None)
    if index is None or not isinstance(terms, W3TermsReader):
        if (fieldname, btext) not in reader:
            return np.zeros(0, np.int64), np.zeros(0)
        return posting_arrays(reader, fieldname, btext)
    try:
        info = W3TermInfo.from_bytes(index[terms._keycoder(fieldname, btext)])
    except KeyError:
        return np.zeros(0, np.int64), np.zeros(0)
    found = _postings_of_entry(terms, info)
    if found is None:  # a layout not handled here: Whoosh's own reading
        return posting_arrays(reader, fieldname, btext)
    ids, weights = found
    if reader.has_deletions():
        keep = ~np.isin(ids, np.fromiter(reader.deleted_docs_set, np.int64))
        ids, weights = ids[keep], weights[keep]
    return ids, weights


def _postings_of_entry(terms, info) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids, weights) of a term from its term-table entry: inlined in it, or one read of its
    extent of the postings file; None for a layout not handled here. Deletions are not
    applied."""
    inlined = getattr(info, "_inlined", None)
    if inlined is not None:
        if not isinstance(inlined, tuple) or len(inlined) < 2:
            return None
        return np.array(inlined[0], np.int64), np.array(inlined[1], float)
    postfile = getattr(terms, "_postfile", None)
    if postfile is None:
        return None
    whole = _read_extent(postfile, getattr(info, "_offset", None), getattr(info, "_length", None))
    if whole is None:
        return None
    return np.concatenate(whole[0]), np.concatenate(whole[1])


def posting_arrays(reader, fieldname: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
    """`read_postings` as numpy arrays (int64 document numbers, float64 weights).

    Blocks of the pinned codec are decoded without their positions: only the first bytes of
    each block (its ids and weights) are inflated, the weights read as one strided array
    (the layout is in ../shared/docs/SCALE.md; tests/test_whoosh_reading.py compares every
    term with Whoosh's own matcher). Anything else falls back to `read_postings`.
    """
    m = reader.postings(fieldname, btext)
    deleted = None
    if isinstance(m, FilterMatcher):
        deleted = reader.deleted_docs_set
        m = m.child
    if not isinstance(m, W3LeafMatcher) or m._byteids:
        plain_ids, plain_weights = read_postings(reader, fieldname, btext)
        return np.array(plain_ids, np.int64), np.array(plain_weights, float)
    id_parts: list[np.ndarray] = []
    weight_parts: list[np.ndarray] = []
    whole = _read_in_one_piece(m)
    if whole is not None:
        id_parts, weight_parts = whole
    while whole is None and m.is_active():
        if m._data is None:
            raw = m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset)
            block = _decode_block(raw, m._blocklength, m._compression)
        else:
            block = None
        if block is None:  # a layout not handled here: Whoosh's own reading
            m._read_ids()
            m._read_weights()
            block = (np.array(m._ids, np.int64), np.array(m._weights, float))
        id_parts.append(block[0])
        weight_parts.append(block[1])
        m._next_block()
    if not id_parts:
        return np.zeros(0, np.int64), np.zeros(0)
    ids, weights = np.concatenate(id_parts), np.concatenate(weight_parts)
    if deleted:
        keep = ~np.isin(ids, np.fromiter(deleted, np.int64))
        ids, weights = ids[keep], weights[keep]
    return ids, weights


def _read_in_one_piece(m) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """Every block of a term's postings from one read of its bytes (Whoosh reads each block's
    length, header and data with a dozen small reads: most of the time for a common word),
    or None when anything is laid out otherwise (then the caller steps block by block)."""
    return _read_extent(m._postfile, getattr(m, "_startoffset", None), getattr(m, "_length", None))


def _read_extent(postfile, start, length) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """`_read_in_one_piece` of the postings at (start, length) of the postings file."""
    if isinstance(length, tuple) and len(length) == 1:
        length = length[0]  # W3TermInfo.from_bytes keeps it as a 1-tuple (SCALE.md §3)
    if not isinstance(start, int) or not isinstance(length, int) or length <= 4:
        return None
    raw = bytes(postfile.get(start, length))
    if raw[:4] != _POSTINGS_MAGIC:
        return None
    stream = io.BytesIO(raw)
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    at = 4
    while True:
        if at + 4 > len(raw):
            return None
        (size,) = struct.unpack(">i", raw[at : at + 4])
        last = size < 0
        end = at + 4 + abs(size)
        stream.seek(at + 4)
        try:
            info = pickle.load(stream)
        except Exception:  # noqa: BLE001  # not the layout this reads: Whoosh's own way
            return None
        if not isinstance(info, tuple) or len(info) != 6 or end > len(raw):
            return None
        count, _, _, compression, _, _ = info
        block = _decode_block(raw[stream.tell() : end], count, compression)
        if block is None:
            return None
        ids.append(block[0])
        weights.append(block[1])
        at = end
        if last:
            return (ids, weights) if at == len(raw) else None


def _decode_block(raw, n: int, compression) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids, weights) of one block of `n` postings, or None for a layout not handled."""
    if n < 4:  # tuples of up to three are pickled without a MARK: the whole block, as is
        return _decode_small_block(raw, n, compression)
    data = zlib.decompressobj().decompress(raw, 14 * n + 32) if compression else bytes(raw)
    if len(data) < 4 or data[2] != _MARK:
        return None
    found = _ID_OPCODES.match(data, 3)
    end = found.end() if found else 3
    if end >= len(data) or data[end] != _TUPLE:
        return None
    if end - 3 == 2 * n:  # every delta in one byte: read them as an array
        deltas = np.frombuffer(bytes(data[4:end:2]), np.uint8).astype(np.int64)
    else:
        deltas = np.array(pickle.loads(bytes(data[: end + 1]) + b"."), np.int64)
    if deltas.size != n:
        return None
    p = end + 1
    if p < len(data) and data[p] == _BINPUT:
        p += 2
    elif p < len(data) and data[p] == 0x72:  # LONG_BINPUT
        p += 5
    else:
        return None
    if p >= len(data):
        return None
    if data[p] == _NONE:
        weights = np.ones(n)
    elif data[p] == _BINFLOAT:
        weights = np.full(n, struct.unpack(">d", data[p + 1 : p + 9])[0])
    elif data[p] == _MARK and len(data) >= p + 1 + 9 * n:
        records = np.frombuffer(data, np.uint8, 9 * n, p + 1).reshape(n, 9)
        if not (records[:, 0] == _BINFLOAT).all():
            return None
        weights = records[:, 1:].copy().view(">f8").ravel().astype(float)
    else:
        return None
    return np.cumsum(deltas), weights


def _decode_small_block(raw, n: int, compression) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids, weights) of a block of up to three postings, unpickled whole (small: the
    positions cost nothing here)."""
    try:
        block = pickle.loads(zlib.decompress(raw) if compression else bytes(raw))
    except Exception:  # noqa: BLE001  # not the layout this reads: Whoosh's own way
        return None
    if not isinstance(block, tuple) or len(block) != 3 or len(block[0]) != n:
        return None
    deltas, weights, _ = block
    ids = np.cumsum(np.array(deltas, np.int64))
    if weights is None:
        return ids, np.ones(n)
    if isinstance(weights, float | int):
        return ids, np.full(n, float(weights))
    return (ids, np.array(weights, float)) if len(weights) == n else None


_LENGTH_TABLE = np.array(_LENGTH_OF_BYTE, float)


def frequent_postings(
    reader, fieldname: str, min_docs: int
) -> Iterator[tuple[bytes, np.ndarray, np.ndarray]]:
    """(term, ids, weights) of every term of a field that at least `min_docs` documents of
    the segment hold, in term order: `posting_arrays` of each, read straight from the term
    table's entries (no lookup and no matcher per term: writing a segment's term arrays
    spent half its time making them)."""
    terms = getattr(reader, "_terms", None)
    for term, info in reader.iter_field(fieldname):
        if info.doc_frequency() < min_docs:
            continue
        found = None if reader.has_deletions() else _postings_of_entry(terms, info)
        if found is None:
            yield (term, *posting_arrays(reader, fieldname, term))
        else:
            yield (term, *found)


def field_lengths(reader, fieldname: str) -> np.ndarray:
    """Each document's length in a scored field (at least 1), as BM25F reads it (float64).

    The pinned codec keeps lengths as one byte per document in a column named by
    `_lenfield`; it is read as one array instead of through `doc_field_length` per document.
    """
    doccount = reader.doc_count_all()
    perdoc = getattr(reader, "_perdoc", None)
    lenfield = _lenfield(fieldname)
    if perdoc is not None and perdoc.has_column(lenfield):
        column = perdoc.column_reader(lenfield, LENGTHS_COLUMN)
        return _LENGTH_TABLE[_column_array(column, doccount)]
    length = reader.doc_field_length
    return np.array([length(d, fieldname, 1) or 1 for d in range(doccount)], float)


def column_values(reader, fieldname: str) -> list:
    """Every raw (untranslated) value of a field's column, in document number order."""
    column = reader.column_reader(fieldname, translate=False)
    return _column_values(column, reader.doc_count_all())


def column_array(reader, fieldname: str) -> np.ndarray:
    """`column_values` of a numeric column as one numpy array (its default where unset)."""
    column = reader.column_reader(fieldname, translate=False)
    return _column_array(column, reader.doc_count_all())


def _column_array(column, doccount: int) -> np.ndarray:
    if isinstance(column, NumericColumn.Reader) and not column._reverse:
        count = min(column._count, doccount)
        raw = column._dbfile.get(column._basepos, count * column._fixedlen)
        values = np.frombuffer(raw, ">" + column._typecode, count)
        if count < doccount:
            rest = np.full(doccount - count, column._default, values.dtype)
            values = np.concatenate([values, rest])
        return values.astype(values.dtype.newbyteorder("="))
    return np.array(list(column))


def _column_values(column, doccount: int) -> list:
    # A numeric column of the pinned codec is one run of fixed-size records: unpacked at
    # once (stepping through 21,578 documents one by one costs ~10 ms per column).
    if isinstance(column, NumericColumn.Reader) and not column._reverse:
        count = min(column._count, doccount)
        raw = column._dbfile.get(column._basepos, count * column._fixedlen)
        values = list(struct.unpack(f"!{count}{column._typecode}", raw))
        return values + [column._default] * (doccount - count)
    return list(column)


def live_flags(reader) -> np.ndarray:
    """A flag per document of a segment reader: not deleted (Whoosh's `all_doc_ids` steps
    through every document in Python; a segment without deletions needs no step at all)."""
    count = reader.doc_count_all()
    flags = np.ones(count, bool)
    if reader.has_deletions():
        flags[np.fromiter(reader.deleted_docs_set, np.int64)] = False
    return flags
