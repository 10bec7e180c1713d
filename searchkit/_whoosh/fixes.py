"""Fixes to the pinned Whoosh (whoosh-reloaded 2.7.5), applied once on import of `_whoosh`.

Each fix names the measured reason. They touch Whoosh internals, which is safe only because
the Whoosh version is pinned exactly (pyproject.toml); re-measure before changing the pin
(tests/test_whoosh_internals.py checks each assumption).
"""

from __future__ import annotations

import os
import struct

import numpy as np
from whoosh.codec import whoosh3
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.filedb import filetables, structfile
from whoosh.filedb.filetables import FileFormatError
from whoosh.util.numeric import byte_to_length

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


_LENGTH_OF_BYTE = [byte_to_length(b) or None for b in range(256)]


def _doc_field_length(self, docnum, fieldname, default=0):
    # Writing a segment asks this for every posting (to keep each block's shortest and longest
    # document), and Whoosh answers each time by slicing and unpacking one byte of the length
    # column through three calls: 1.8 s of a 20 s profiled build of 3,000 Usenet posts. The
    # column is read once per field instead; answers are Whoosh's own (None for zero).
    if docnum > self._doccount:
        raise IndexError(f"Asked for docnum {docnum!r} of {self._doccount}")
    try:
        cache = self._searchkit_lengths
    except AttributeError:
        cache = self._searchkit_lengths = {}
    lengths = cache.get(fieldname)
    if lengths is None:
        reader = self._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
        if reader is None:
            lengths = cache[fieldname] = False
        elif isinstance(reader, NumericColumn.Reader) and reader._typecode == "B":
            lengths = cache[fieldname] = reader._dbfile.get(reader._basepos, reader._count)
        else:
            lengths = cache[fieldname] = reader  # another layout: ask it each time
    if lengths is False:
        return default
    if isinstance(lengths, bytes):
        return _LENGTH_OF_BYTE[lengths[docnum]] if docnum < len(lengths) else None
    lbyte = lengths[docnum]
    return byte_to_length(lbyte) if lbyte else None


whoosh3.W3PerDocReader.doc_field_length = _doc_field_length

#: Posting lists shorter than this are kept inside the term's entry of the term table
#: (`.trm`) instead of a zlib block of their own in the postings file (`.pst`).
INLINE_LIMIT = 2


def writer_codec() -> whoosh3.W3Codec:
    """The codec searchkit writes segments with: Whoosh's own, with short posting lists inlined.

    Most terms of a news index occur in one document of a segment (names, numbers, typos,
    spelling words). Whoosh gave each of them a block of its own (pickle + zlib + header):
    22,600 blocks for 200 Usenet posts, most of the write time of a small update. Segments
    record their codec, so any reader (plain Whoosh included) reads them back.
    """
    return whoosh3.W3Codec(inlinelimit=INLINE_LIMIT)


def _finish_postings(self):
    # Whoosh's default limit (1) never inlines (`len < 1`), and a larger one reaches an inline
    # path that cannot work: it calls `set_inline` (the term info has `set_inlined`), and its
    # values for formats without values come back as the str "" that Whoosh's merge, which
    # re-adds every posting, rejects. Here: `set_inlined`, b"" for empty values, and values of
    # fixed-size formats cut to that size as the block writer's layout does (Whoosh posts
    # spelling words with a leftover value of the document's last term).
    terminfo = self._terminfo
    count = len(self._ids)
    # Empty values are not buffered, so values line up with ids only if all or none are.
    if not self.written() and count < self._inlinelimit and len(self._values) in (0, count):
        terminfo.add_block(self)
        size = self._format.fixed_value_size()
        if not self._values:
            values = [b""] * count
        elif size is not None and size > 0:
            values = [v[:size] for v in self._values]
        else:
            values = self._values
        terminfo.set_inlined(self._ids, self._weights, values)
    else:
        if self._ids:
            self._write_block(last=True)
        startoffset = self._startoffset
        terminfo.set_extent(startoffset, self._postfile.tell() - startoffset)
    self._terminfo = None
    return terminfo


whoosh3.W3PostingsWriter.finish_postings = _finish_postings


class _ViewFile:
    """A read-only file over a memoryview, without copying it."""

    def __init__(self, view) -> None:
        self._view = view
        self._pos = 0

    def read(self, size=-1):
        start = self._pos
        end = len(self._view) if size is None or size < 0 else min(start + size, len(self._view))
        self._pos = max(start, end)
        return bytes(self._view[start:end])

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size=-1):
        view, start = self._view, self._pos
        end = len(view) if size is None or size < 0 else min(start + size, len(view))
        pos = start
        while pos < end:  # in chunks: a slice of the view is a copy
            chunk = bytes(view[pos : min(pos + 256, end)])
            newline = chunk.find(b"\n")
            if newline >= 0:
                pos += newline + 1
                break
            pos += len(chunk)
        self._pos = pos
        return bytes(view[start:pos])

    def __iter__(self):
        while line := self.readline():
            yield line

    def seek(self, offset, whence=0):
        if whence not in (0, 1, 2) or (whence == 0 and offset < 0):
            raise ValueError(f"invalid seek: offset {offset}, whence {whence}")
        base = (0, self._pos, len(self._view))[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self):
        return self._pos

    def close(self):
        pass


def _buffer_file_init(self, buf, name=None, onclose=None):
    # Whoosh wraps each memory-mapped part of a segment in `BytesIO(memoryview)`, which copies
    # it: opening a reader of the 20news index copied 170 MB (77 ms, and the memory) before a
    # single term was read. Reads go straight to the map instead.
    self._buf = buf
    self._name = name
    self.file = _ViewFile(buf)
    self.onclose = onclose
    self.is_real = False
    self.is_closed = False


structfile.BufferFile.__init__ = _buffer_file_init


def _hash_reader_init(self, dbfile, length=None, magic=b"HSH3", startoffset=0):
    # Whoosh's `HashReader.__init__`, except that it read the 256 entries of a term table's
    # directory of hash tables with one small read each: ~1 ms per segment a searcher opens,
    # 100 ms for the ~100 segments a checkpointed build of 500k articles leaves, paid by every
    # `searchkit search`. Here: one read, unpacked at once; the rest is Whoosh's code as is.
    self.dbfile = dbfile
    self.startoffset = startoffset
    self.is_closed = False
    if length is None:
        dbfile.seek(0, os.SEEK_END)
        length = dbfile.tell() - startoffset
    dbfile.seek(startoffset)
    filemagic = dbfile.read(4)
    if filemagic != magic:
        raise FileFormatError(f"Unknown file header {filemagic!r}")
    self.hashtype = dbfile.read_byte()
    self.hashfn = filetables._hash_functions[self.hashtype]
    dbfile.read_int()  # two ints Whoosh reserves for future use
    dbfile.read_int()
    self.startofdata = dbfile.tell()
    exptr = startoffset + length - filetables._INT_SIZE
    exlen = dbfile.get_int(exptr)
    expos = exptr - exlen
    dbfile.seek(expos)
    self._read_extras()
    dbfile.seek(expos - filetables._directory_size)
    directory = dbfile.read(filetables._directory_size)
    self.tables = list(filetables._dir_entry.iter_unpack(directory))
    self.endofdata = self.tables[0][0]


filetables.HashReader.__init__ = _hash_reader_init


def _varbytes_offsets_and_lengths(self):
    # Whoosh's `_read_offsets_and_lengths`, except that a variable-length column (stored
    # fields, sortable ids) without stored offsets derived them from the lengths in a Python
    # loop over every document of the segment when first read: 1.7 ms per 5,000-document
    # segment, ~17 ms for a page of hits spread over ten segments of a 500k-article index.
    # Here one cumulative sum (the same values, as Python ints).
    dbfile, basepos, length, doccount = self._dbfile, self._basepos, self._length, self._doccount
    lastbyte = basepos + length - 1
    lens_code = chr(dbfile.get_byte(lastbyte))
    offsets = None
    if lens_code == "X":
        self.had_stored_offsets = True
        lens_code = chr(dbfile.get_byte(lastbyte - 2))
        offsets_code = chr(dbfile.get_byte(lastbyte - 1))
        itemsize = struct.calcsize(offsets_code)
        offsetstart = (lastbyte - 2) - doccount * itemsize
        offsets = dbfile.get_array(offsetstart, offsets_code, doccount)
        lastbyte = offsetstart
    itemsize = struct.calcsize(lens_code)
    lenstart = lastbyte - (itemsize * doccount)
    self._lengths = dbfile.get_array(lenstart, lens_code, doccount)
    if offsets is None:
        lengths = np.asarray(self._lengths, np.int64)
        offsets = (np.cumsum(lengths) - lengths).tolist()
    self._offsets = offsets


VarBytesColumn.Reader._read_offsets_and_lengths = _varbytes_offsets_and_lengths
