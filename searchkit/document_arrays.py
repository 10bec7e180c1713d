"""Every document's lengths, date and facet values over the whole index, in one file.

A searcher needs some values of every document before it can answer: each scored field's
length (BM25F), the date (date order) and the facet values (counts). Each segment holds its
own (Whoosh's length columns, the ordinals file beside it); a new searcher lays them end to
end, one segment at a time: ~50 ms of a fresh `searchkit search` at 500k articles (94
segments; 664 -> 611 ms with the file), paid by every process. So at the end of an
indexing run the writer lays them end to end once and writes the result in one file
(`write_document_arrays`), named after the segments it was made from; a new searcher with
the same segments maps it instead (`read_document_arrays`): one file opened, no step per
segment.

The file is an accelerator only: a searcher whose segments differ from the file's (a commit
since, through the API), or that finds none or a damaged one, assembles the arrays itself
as before, with the same values. Deletions do not change it: they hide documents from
matches, and these arrays are read for matched documents only.
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

from ._whoosh.reading import Segment, field_lengths, segments
from .array_files import read_array_file, write_array_file
from .facets import DocumentValues, FacetColumn, facet_fields
from .schema import TEXT_FIELDS

#: An index of fewer segments is not worth the file: a searcher lays its arrays out in a few
#: milliseconds (and a run then needs no process to write it).
MIN_SEGMENTS = 8
#: How long the process writing the file may take before it is stopped (3.2 s at 500k).
WRITE_TIMEOUT_SECONDS = 600.0

#: First bytes of a document arrays file (the version is in it: another one is not read).
_MAGIC = b"SKDOCS01"
_PREFIX = "documents-"
_EXTENSION = ".arrays"
_FACET_PARTS = ("keys", "first", "more_docs", "more_vids", "more_owner")


@dataclass(frozen=True)
class DocumentArrays:
    """The per-document arrays of a whole index, by global document number."""

    lengths: dict[str, np.ndarray]  # scored field -> each document's length (float)
    dates: tuple[np.ndarray, np.ndarray]  # (date as Whoosh's number, whether it has one)
    facets: dict[str, FacetColumn]  # facet field -> its values, numbered over the index


def file_path(folder: str, live: list[tuple[str, int]]) -> str:
    """The path of the file for these (segment id, documents) in document order: named
    after them, so that a searcher finds the file made from its own segments or none."""
    digest = hashlib.sha256(repr(live).encode("utf-8")).hexdigest()[:24]
    return os.path.join(folder, f"{_PREFIX}{digest}{_EXTENSION}")


def write_document_arrays(folder: str, whoosh_searcher, generation: str) -> None:
    """Write the file for the index `whoosh_searcher` reads (its folder: `folder`), made by
    the same code a searcher would run, and remove the files of earlier segment sets."""
    live = segments(whoosh_searcher, generation, folder)
    names = _segment_names(live)
    path = file_path(folder, names)
    if not os.path.exists(path):
        arrays, fields = _laid_out(whoosh_searcher, live)
        header = {
            "segments": names,
            "documents": whoosh_searcher.reader().doc_count_all(),
            "facets": fields,
        }
        write_array_file(path, _MAGIC, header, arrays)
    remove_document_arrays(folder, keep=path)


def _laid_out(whoosh_searcher, live: list[Segment]) -> tuple[dict[str, np.ndarray], list[str]]:
    """(the arrays of the file by name, the facet fields), as a searcher lays them out."""
    values = DocumentValues()
    values.follow(live, whoosh_searcher.stored_fields)
    arrays: dict[str, np.ndarray] = {}
    for field in TEXT_FIELDS:
        # As Scorer.lengths lays them out (scoring.py is a query-side module: not imported).
        parts = [field_lengths(s.searcher.reader(), field) for s in live]
        arrays[f"length/{field}"] = np.concatenate(parts) if parts else np.zeros(0)
    arrays["date/numbers"], arrays["date/dated"] = values.dates()
    fields = facet_fields(whoosh_searcher.reader())
    for name in fields:
        column = values.column(name)
        for part in _FACET_PARTS:
            arrays[f"facet/{name}/{part}"] = getattr(column, part)
    return arrays, fields


def remove_document_arrays(folder: str, keep: str | None = None) -> None:
    """Remove the files of other segment sets than `keep`'s from `folder` (searchers that
    mapped one keep reading it: a removed file lives on while it is mapped)."""
    for other in glob.glob(os.path.join(folder, f"{_PREFIX}*{_EXTENSION}")):
        if other != keep:
            try:
                os.remove(other)
            except OSError:
                pass  # removed by another writer meanwhile


def write_apart(folder: str) -> bool:
    """Write the file of the index committed in `folder` from a fresh Python process; True
    if that process ended well. The indexer calls it at the end of a run, holding the write
    lock, when the index has `MIN_SEGMENTS` or more.

    A fresh interpreter (`python -m searchkit.document_arrays FOLDER`, 126 MiB at its peak
    at 500k articles) so that what it needs does not add to the indexer's own peak (438 MiB
    there, with its manifest): not a fork, whose child counts the indexer's pages as its own, nor
    multiprocessing's "spawn", which would run the main script of a program that embeds
    searchkit again. The file only speeds searchers up: a failure leaves them laying the
    arrays out themselves, so it is not an error of the run.
    """
    if not sys.executable:
        return False  # embedded without a Python to start
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_parent, path) if p)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, folder],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=WRITE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _write_in_this_process(folder: str) -> None:
    from ._whoosh.storage import open_index

    searcher = open_index(folder).searcher()
    try:
        write_document_arrays(folder, searcher, "")
    finally:
        searcher.close()


def read_document_arrays(live: list[Segment], documents: int) -> DocumentArrays | None:
    """The arrays of the file made from exactly these segments (`documents` in all),
    mapped; None when there is none, or it does not parse or fit."""
    if not live or live[0].folder is None:
        return None
    names = _segment_names(live)
    found = read_array_file(file_path(live[0].folder, names), _MAGIC)
    if found is None:
        return None
    header, arrays = found
    try:
        if header["segments"] != [list(n) for n in names] or header["documents"] != documents:
            return None
        lengths = {field: arrays[f"length/{field}"] for field in TEXT_FIELDS}
        dates = (arrays["date/numbers"], arrays["date/dated"])
        facets = {
            name: FacetColumn(*(arrays[f"facet/{name}/{part}"] for part in _FACET_PARTS))
            for name in header["facets"]
        }
    except (KeyError, TypeError):
        return None  # not the layout this version writes
    per_document = [*lengths.values(), *dates, *(c.first for c in facets.values())]
    if any(a.size != documents for a in per_document):
        return None
    return DocumentArrays(lengths, dates, facets)


def _segment_names(live: list[Segment]) -> list[tuple[str, int]]:
    """(segment id, documents) of each segment, in document order."""
    return [(s.key[1], s.searcher.reader().doc_count_all()) for s in live]


if __name__ == "__main__":
    _write_in_this_process(sys.argv[1])
