"""Facet counts and date order: each segment's document values as arrays, written once.

For each segment and facet field, an array docnum -> value id (an ordinal) is made once from
the inverted index, when the segment is written (`write_ordinals`, run by the writer before
any table of contents names the segment), into a file beside the segment's own: a new process
maps that file instead of walking every value's postings (most of a fresh process's first
query at 100k documents, growing with the archive). A segment without the file (written by an
older searchkit) has its arrays made from its postings on first use, as before. Counting is a
bincount over the matched documents' ordinals (Whoosh's `groupedby` costs ~30-500 ms per search
on Reuters; these arrays well under a millisecond for a typical query). Each document's date,
which date sorting reads, is kept the same way from the date column. Segments never change once
written (a deletion only hides documents, and matches never include hidden ones), so an
incremental commit writes the arrays of its new segments only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._whoosh.reading import Segment, column_array, posting_arrays
from .array_files import read_array_file, write_array_file
from .schema import DATE_FACETS, WORD_MARK, fold_keyword, is_metadata_field

_MARK = WORD_MARK.encode("utf-8")

#: The ordinals file of a segment is named `<segment id><ORDINALS_EXTENSION>`: Whoosh's
#: clean-up deletes it with the segment's own files once no table of contents names it.
ORDINALS_EXTENSION = ".facets"
#: First bytes of an ordinals file (the version is in it: another one is not read).
_ORDINALS_MAGIC = b"SKFACET2"
_ORDINAL = np.dtype("<i4")
_PARTS = ("first", "more_docs", "more_vids", "more_owner")
_NO_KEYS = np.zeros(0, "S1")


@dataclass
class FacetColumn:
    """One facet field of one segment (or of the whole index): value names, each document's
    first value id (-1: none), and the further value ids of the documents that have several
    (most have one value, or none): `more_vids[i]` belongs to document
    `more_docs[more_owner[i]]`. The names are UTF-8 bytes in one fixed-width array (mapped
    from the ordinals file, merged across segments without a Python step per value). Such
    an array drops a value's trailing NUL bytes: the readers remove control characters from
    every value they read; a value given through the API is not cleaned (`Document`)."""

    keys: np.ndarray  # bytes (numpy "S"), one per value id
    first: np.ndarray  # int32 per document
    more_docs: np.ndarray  # int32, ascending
    more_vids: np.ndarray  # int32
    more_owner: np.ndarray  # int32 index into more_docs

    def example(self, vid: int) -> int | None:
        """A document of the segment with value `vid` (the first), or None."""
        found = np.flatnonzero(self.first == vid)
        if found.size:
            return int(found[0])
        found = np.flatnonzero(self.more_vids == vid)
        return int(self.more_docs[self.more_owner[found[0]]]) if found.size else None


def facet_fields(reader) -> list[str]:
    """The facet fields a Whoosh reader has values of: the date parts and every metadata
    field."""
    names = reader.indexed_field_names()
    return sorted(
        n for n in names if n in DATE_FACETS or (is_metadata_field(n) and n in reader.schema)
    )


def build_column(reader, name: str) -> FacetColumn:
    """A facet field's values per document of one segment, made from its postings (the
    whole values: the words of values, behind WORD_MARK, are left out)."""
    doccount = reader.doc_count_all()
    first = np.full(doccount, -1, _ORDINAL)
    more: dict[int, list[int]] = {}
    names: list[bytes] = []
    if name in reader.schema:
        for term in reader.lexicon(name):
            if term.startswith(_MARK):
                continue
            i = len(names)
            names.append(term)
            ids = posting_arrays(reader, name, term)[0]
            taken = first[ids] >= 0
            first[ids[~taken]] = i
            for d in ids[taken].tolist():
                more.setdefault(d, []).append(i)
    docs = sorted(more)
    return FacetColumn(
        np.array(names, bytes) if names else _NO_KEYS,
        first,
        np.array(docs, _ORDINAL),
        np.array([v for d in docs for v in more[d]], _ORDINAL),
        np.repeat(np.arange(len(docs)), [len(more[d]) for d in docs]).astype(_ORDINAL),
    )


def _no_values(doccount: int) -> FacetColumn:
    """The column of a field a segment has no values of."""
    none = np.zeros(0, _ORDINAL)
    return FacetColumn(_NO_KEYS, np.full(doccount, -1, _ORDINAL), none, none, none)


def write_ordinals(path: str, reader) -> None:
    """Write the ordinals file of a segment (every facet field's arrays) at `path`, from a
    Whoosh reader of the segment; the writer does it before the segment is committed."""
    doccount = reader.doc_count_all()
    columns = {name: build_column(reader, name) for name in facet_fields(reader)}
    arrays = {
        f"{name}/{part}": np.asarray(getattr(column, part), _ORDINAL)
        for name, column in columns.items()
        for part in _PARTS
    }
    for name, column in columns.items():
        arrays[f"{name}/keys"] = column.keys
    header = {"documents": doccount, "fields": sorted(columns)}
    write_array_file(path, _ORDINALS_MAGIC, header, arrays)


def read_ordinals(path: str, doccount: int) -> dict[str, FacetColumn] | None:
    """The facet columns of a segment's ordinals file, mapped (no copy, no work per
    document); None when there is no such file or it does not fit the segment."""
    found = read_array_file(path, _ORDINALS_MAGIC)
    if found is None:
        return None
    header, arrays = found
    try:
        if header["documents"] != doccount:
            return None
        columns = {}
        for name in header["fields"]:
            parts = {part: arrays[f"{name}/{part}"] for part in _PARTS}
            if parts["first"].size != doccount or parts["first"].dtype != _ORDINAL:
                return None
            columns[name] = FacetColumn(arrays[f"{name}/keys"], **parts)
        return columns
    except (KeyError, TypeError, AttributeError):
        return None  # not the layout this version writes: made from the postings instead


class DocumentValues:
    """Document values of the whole index (facet ordinals, dates) by global document number,
    laid end to end from each segment's arrays; a segment's arrays are kept while it lives,
    the index's for as long as the searcher is the same. Not thread-safe: its owner
    serialises searches."""

    def __init__(self) -> None:
        self.arrays: dict[tuple, Any] = {}  # (generation, segment id, what) -> array
        self.written: dict[tuple[str, str], str] = {}  # (field, folded value) -> as written
        self.segments: list[Segment] = []
        self._whole: dict[str, Any] = {}  # what -> array over the whole index
        self._stored_fields: Callable[[int], dict] | None = None

    def follow(self, segments: list[Segment], stored_fields: Callable[[int], dict]) -> None:
        """Serve the index these segments make up from now on (`stored_fields(docnum)`
        reads a document's stored fields); drop the arrays of segments no longer live."""
        self.segments = segments
        self._stored_fields = stored_fields
        self._whole.clear()
        live = {s.key for s in segments}
        for key in [k for k in self.arrays if k[:2] not in live]:
            del self.arrays[key]

    def adopt(self, dates: tuple[np.ndarray, np.ndarray], columns: dict[str, FacetColumn]) -> None:
        """Take the dates and facet columns of the whole index as the writer laid them end
        to end for the segments followed now (`document_arrays`), instead of assembling them."""
        self._whole["#date"] = dates
        self._whole.update(columns)

    def clear(self) -> None:
        """Drop every array."""
        self.arrays.clear()
        self.written.clear()
        self._whole.clear()
        self.segments = []
        self._stored_fields = None

    def dates(self) -> tuple[np.ndarray, np.ndarray]:
        """(each document's start date as Whoosh's number for it, whether it has a date)."""
        values = self._whole.get("#date")
        if values is None:
            parts = [self._segment_dates(s) for s in self.segments]
            if parts:
                numbers = np.concatenate([p[0] for p in parts])
                dated = np.concatenate([p[1] for p in parts])
            else:
                numbers, dated = np.zeros(0, np.int64), np.zeros(0, bool)
            values = self._whole["#date"] = (numbers, dated)
        return values

    def _segment_dates(self, segment: Segment) -> tuple[np.ndarray, np.ndarray]:
        key = (*segment.key, "#date")
        values = self.arrays.get(key)
        if values is None:
            reader = segment.searcher.reader()
            missing = reader.schema["date"].column_type.default_value()
            raw = column_array(reader, "date") if reader.doc_count_all() else np.zeros(0, np.uint64)
            dated = raw != missing
            numbers = np.where(dated, raw, 0).astype(np.int64)
            values = self.arrays[key] = (numbers, dated)
        return values

    def column(self, name: str) -> FacetColumn:
        """A facet field's values per document of the whole index (value ids numbered
        across segments)."""
        column = self._whole.get(name)
        if column is None:
            parts = [self._segment_column(segment, name) for segment in self.segments]
            keyed = [p.keys for p in parts if p.keys.size]
            keys, inverse = (
                np.unique(np.concatenate(keyed), return_inverse=True)
                if keyed
                else (_NO_KEYS, np.zeros(0, np.int64))
            )
            first, docs, vids, owners = [], [], [], []
            owned = at = 0
            for segment, part in zip(self.segments, parts, strict=True):
                remap = inverse[at : at + part.keys.size].astype(_ORDINAL)
                at += part.keys.size
                if remap.size:
                    global_first = remap[np.maximum(part.first, 0)]
                    first.append(np.where(part.first >= 0, global_first, -1).astype(_ORDINAL))
                else:
                    first.append(np.full(part.first.size, -1, _ORDINAL))
                if part.more_vids.size:
                    docs.append(part.more_docs.astype(np.int64) + segment.offset)
                    vids.append(remap[part.more_vids])
                    owners.append(part.more_owner.astype(np.int64) + owned)
                    owned += part.more_docs.size
            column = self._whole[name] = FacetColumn(
                keys,
                np.concatenate(first) if first else np.zeros(0, _ORDINAL),
                *(
                    np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
                    for arrays in (docs, vids, owners)
                ),
            )
        return column

    def _segment_column(self, segment: Segment, name: str) -> FacetColumn:
        """A facet field's values per document of one segment: from its ordinals file,
        else made from its postings once."""
        key = (*segment.key, name)
        column = self.arrays.get(key)
        if column is None:
            reader = segment.searcher.reader()
            stored = self._ordinals(segment, reader.doc_count_all())
            if stored is None:
                column = build_column(reader, name)
            else:
                column = stored.get(name) or _no_values(reader.doc_count_all())
            self.arrays[key] = column
        return column

    def _ordinals(self, segment: Segment, doccount: int) -> dict[str, FacetColumn] | None:
        key = (*segment.key, "#ordinals")
        if key not in self.arrays:
            path = segment.file(ORDINALS_EXTENSION)
            self.arrays[key] = read_ordinals(path, doccount) if path else None
        return self.arrays[key]

    def count(
        self, name: str, matched: np.ndarray, ids: np.ndarray, limit: int | None
    ) -> tuple[tuple[str, int], ...]:
        """(value, number of matched documents with it) of one facet field; `matched`
        flags the matched documents, `ids` are their numbers (read instead of the flags:
        the work follows the matches, not the size of the index).

        A date facet is a histogram: every value, in time order. Others: the most frequent
        first (ties by value), at most `limit` of them (None or 0: all), each value shown as
        a document wrote it (the index holds it case- and accent-folded).
        """
        if not ids.size:
            return ()
        column = self.column(name)
        if not column.keys.size:
            return ()
        # Value id + 1, so that "no value" (-1) is bin 0: one pass, no mask.
        counts = np.bincount(column.first[ids] + 1, minlength=column.keys.size + 1)[1:]
        if column.more_vids.size:
            taken = matched[column.more_docs][column.more_owner]
            counts += np.bincount(column.more_vids[taken], minlength=column.keys.size)
        found = np.flatnonzero(counts).tolist()
        totals = [(column.keys[vid].decode("utf-8"), int(counts[vid]), vid) for vid in found]
        if name in DATE_FACETS:
            return tuple((value, n) for value, n, _ in sorted(totals))
        totals.sort(key=lambda vnv: (-vnv[1], vnv[0]))
        if limit:
            totals = totals[:limit]
        return tuple((self._as_written(name, value, column, vid), n) for value, n, vid in totals)

    def _as_written(self, name: str, value: str, column: FacetColumn, vid: int) -> str:
        """A facet value as a document holding it wrote it ("Ivory Coast", not "ivory
        coast"); the folded value if none can be found."""
        key = (name, value)
        written = self.written.get(key)
        if written is None:
            written = value
            docnum = column.example(vid)
            if docnum is not None and self._stored_fields is not None:
                stored = self._stored_fields(docnum)
                for v in (stored.get("meta") or {}).get(name, ()):
                    if fold_keyword(str(v)) == value:
                        written = str(v)
                        break
            self.written[key] = written
        return written
