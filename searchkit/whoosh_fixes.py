"""Fixes to the pinned Whoosh (whoosh-reloaded 2.7.5), applied once on import.

Each fix names the measured reason. They touch Whoosh internals, which is safe only because
the Whoosh version is pinned exactly (pyproject.toml); re-measure before changing the pin.
"""

from __future__ import annotations

from whoosh.codec import whoosh3

_MISSING = object()


def _cached_reader(self, fieldname, column):
    # Whoosh caches a column reader it found but not the absence of one, so writing a segment
    # stats the missing length file of every unscored field (ids, dates, keywords, spelling
    # words) once per posting: 270k stat calls, 22% of an indexing run, for 3,000 Reuters
    # articles. Caching the absence is safe: a segment's columns never change once written.
    reader = self._readers.get(fieldname, _MISSING)
    if reader is _MISSING:
        reader = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        self._readers[fieldname] = reader
    return reader


whoosh3.W3PerDocReader._cached_reader = _cached_reader
