"""One test per assumption `searchkit._whoosh` makes about Whoosh's private names.

`searchkit._whoosh` is the only package that reaches into Whoosh's internals (the Whoosh
fixes themselves are tested in test_whoosh_fixes.py). When the pinned Whoosh changes, these
tests say which assumption broke, instead of a failure somewhere inside an indexing run.
Expected answers come from Whoosh's public API (a plain `FileIndex`, its own writer, its
searcher), never from the code under test.
"""

from __future__ import annotations

import inspect
import io
import os
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    W3Codec,
    W3PerDocReader,
    W3PostingsWriter,
    W3TermInfo,
    _lenfield,
)
from whoosh.columns import NumericColumn
from whoosh.fields import ID, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile, StructFile
from whoosh.formats import Positions
from whoosh.index import FileIndex
from whoosh.util.numeric import byte_to_length
from whoosh.writing import SegmentWriter

from searchkit._whoosh import fixes, storage, writing
from searchkit.errors import IndexCorrupt

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def schema() -> Schema:
    return Schema(id=ID(unique=True, stored=True), body=TEXT(stored=True))


def new_index(folder: Path) -> FileIndex:
    folder.mkdir()
    return FileStorage(str(folder)).create_index(schema())


def stored_ids(folder: Path) -> list[str]:
    """The ids a plain Whoosh searcher sees in the index in `folder`."""
    ix = FileStorage(str(folder)).open_index()
    with ix.searcher() as s:
        return sorted(d["id"] for d in s.all_stored_fields())


def body_doc(n: int) -> dict:
    return {"id": f"d{n}", "body": f"harbour cranes idle number{n} " * (n % 3 + 1)}


def test_the_installed_whoosh_is_the_pinned_one():
    """Every assumption below holds for one Whoosh: the exact pin in pyproject.toml."""
    pin = re.search(r'"whoosh-reloaded==([^"]+)"', PYPROJECT.read_text("utf-8"))
    assert pin is not None
    assert version("whoosh-reloaded") == pin.group(1)


# -- fixes.py: the methods it replaces, and the private state they use ----------------------


def test_the_fixes_are_installed_on_the_classes_whoosh_uses():
    assert W3PerDocReader._cached_reader is fixes._cached_reader
    assert W3PerDocReader.doc_field_length is fixes._doc_field_length
    assert W3PostingsWriter.finish_postings is fixes._finish_postings
    assert BufferFile.__init__ is fixes._buffer_file_init
    # The replacements keep the signatures Whoosh calls them with.
    assert list(inspect.signature(BufferFile.__init__).parameters) == [
        "self",
        "buf",
        "name",
        "onclose",
    ]


def test_the_length_column_is_one_byte_per_document_read_from_its_file(tmp_path):
    """`_doc_field_length` reads a field's lengths at once through `_lenfield`, the
    `NumericColumn.Reader`'s `_typecode`, `_dbfile`, `_basepos` and `_count`, and checks
    `_doccount`: the bytes it gets decode to the lengths Whoosh's public column gives."""
    ix = new_index(tmp_path / "ix")
    with ix.writer() as w:
        for n in range(7):
            w.add_document(**body_doc(n))
    with ix.reader() as reader:
        per_doc = reader._perdoc
        assert isinstance(per_doc, W3PerDocReader)
        assert per_doc._doccount == 7
        column = per_doc._cached_reader(_lenfield("body"), LENGTHS_COLUMN)
        assert isinstance(column, NumericColumn.Reader) and column._typecode == "B"
        raw = column._dbfile.get(column._basepos, column._count)
        public = [
            byte_to_length(b) for b in per_doc.column_reader(_lenfield("body"), LENGTHS_COLUMN)
        ]
        assert [byte_to_length(b) for b in raw] == public
        words = [len(body_doc(n)["body"].split()) for n in range(7)]
        assert [reader.doc_field_length(n, "body") for n in range(7)] == words
        # An unscored field has no length column: cached as None, asked once.
        assert per_doc._cached_reader(_lenfield("id"), LENGTHS_COLUMN) is None
        assert per_doc._readers[_lenfield("id")] is None


def test_the_postings_writer_has_the_state_finish_postings_reads(tmp_path):
    """`_finish_postings` replaces Whoosh's method using the writer's `_terminfo`, `_ids`,
    `_weights`, `_values`, `_format`, `_inlinelimit`, `_startoffset`, `_postfile`,
    `_write_block` and `written()`: a real postings writer fills them as assumed, and a short
    list comes back inlined, a longer one as a block in the postings file."""
    postfile = StructFile(io.BytesIO())
    writer = W3PostingsWriter(postfile, 128, inlinelimit=fixes.INLINE_LIMIT)
    assert writer._inlinelimit == fixes.INLINE_LIMIT and writer._postfile is postfile
    fmt = Positions()
    for ids, inlined in (([4], True), ([1, 2, 3], False)):
        terminfo = W3TermInfo()
        writer.start_postings(fmt, terminfo)
        assert writer._terminfo is terminfo and writer._format is fmt
        assert writer._startoffset == postfile.tell()
        for docnum in ids:
            writer.add_posting(docnum, 1.0, fmt.encode([docnum]))
        assert list(writer._ids) == ids and list(writer._weights) == [1.0] * len(ids)
        assert len(writer._values) == len(ids) and not writer.written()
        assert callable(writer._write_block)
        assert writer.finish_postings() is terminfo and writer._terminfo is None
        assert terminfo.is_inlined() is inlined
        assert terminfo.doc_frequency() == len(ids)
        if inlined:
            assert list(terminfo.inlined_postings()[0]) == ids
        else:
            assert terminfo.extent()[1] > 0  # a block of its own in the postings file


# -- writing.py -------------------------------------------------------------------------------


def test_segment_writer_takes_no_whoosh_lock_and_uses_searchkit_codec(tmp_path):
    """`SegmentWriter(_lk=False, codec=...)`: no MAIN_WRITELOCK is taken, and segments are
    written with the inlining codec."""
    ix = new_index(tmp_path / "ix")
    writer = writing.segment_writer(ix, limitmb=16)
    try:
        assert writer.writelock is None
        lock = ix.lock("WRITELOCK")  # Whoosh's MAIN_WRITELOCK is free
        assert lock.acquire()
        lock.release()
        assert isinstance(writer.codec, W3Codec)
        assert writer.codec._inlinelimit == fixes.INLINE_LIMIT
        assert inspect.signature(SegmentWriter.__init__).parameters["_lk"].default is True
    finally:
        writer.cancel()


def test_commit_adds_segments_written_by_other_writers(tmp_path):
    """`commit` redoes `SegmentWriter.commit` through `_merge_segments`, `_added`,
    `_finalize_segment`, `_close_segment`, `_commit_toc` and `_finish`, adding segments a
    worker wrote with `write_segment`: Whoosh's own searcher then sees every document."""
    folder = tmp_path / "ix"
    ix = new_index(folder)
    with ix.writer() as w:
        w.add_document(**body_doc(0))
    before = FileStorage(str(folder)).open_index().latest_generation()
    writer = writing.segment_writer(ix, limitmb=16)
    writer.add_document(**body_doc(1))
    worker_docs = [body_doc(n) for n in (2, 3, 4)]
    segment = writing.write_segment(
        str(folder), worker_docs, fields_of=dict, start_segment=lambda: None, limitmb=16
    )
    writing.commit(writer, [segment], merge=False)
    assert stored_ids(folder) == ["d0", "d1", "d2", "d3", "d4"]
    ix = FileStorage(str(folder)).open_index()
    assert ix.latest_generation() == before + 1
    with ix.reader() as r:
        assert len(r.leaf_readers()) == 3  # merge=False: the old, the parent's, the worker's


def test_commit_with_nothing_added_by_the_parent_closes_its_segment(tmp_path):
    """The `_close_segment` branch: only deletions and a worker's segment."""
    folder = tmp_path / "ix"
    ix = new_index(folder)
    with ix.writer() as w:
        w.add_document(**body_doc(0))
        w.add_document(**body_doc(1))
    writer = writing.segment_writer(ix, limitmb=16)
    writer.delete_by_term("id", "d0")
    segment = writing.write_segment(
        str(folder), [body_doc(5)], fields_of=dict, start_segment=lambda: None, limitmb=16
    )
    writing.commit(writer, [segment], merge=True)
    assert stored_ids(folder) == ["d1", "d5"]
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]


@pytest.mark.parametrize("cancel_fails", [False, True])
def test_abandon_removes_uncommitted_segments_and_releases_the_writer(
    tmp_path, monkeypatch, cancel_fails
):
    """`abandon` cancels the writer (or, when cancelling fails too, destroys its
    `_tempstorage` and releases its `writelock`), and removes the files of segments no table
    of contents names through `clean_files` and `ix._segments()`."""
    folder = tmp_path / "ix"
    ix = new_index(folder)
    with ix.writer() as w:
        w.add_document(**body_doc(0))
    committed = set(os.listdir(folder))
    writer = writing.segment_writer(ix, limitmb=16)
    writer.add_document(**body_doc(1))
    writing.write_segment(
        str(folder), [body_doc(2)], fields_of=dict, start_segment=lambda: None, limitmb=16
    )
    assert set(os.listdir(folder)) > committed  # the worker's segment file is there
    if cancel_fails:

        def no_space(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(writer, "cancel", no_space)
    writing.abandon(writer, ix)
    assert set(os.listdir(folder)) == committed
    assert stored_ids(folder) == ["d0"]
    with ix.writer() as w:  # nothing left locked
        w.add_document(**body_doc(3))
    assert stored_ids(folder) == ["d0", "d3"]


# -- storage.py -------------------------------------------------------------------------------


def test_open_and_create_return_the_generation_index_class(tmp_path):
    """`FileStorage.create_index/open_index(indexclass=...)` honour the class given."""
    folder = tmp_path / "ix"
    folder.mkdir()
    created = storage.create_index(str(folder), schema())
    assert type(created) is storage.GenerationIndex
    with created.writer() as w:
        w.add_document(**body_doc(0))
    opened = storage.open_index(str(folder))
    assert type(opened) is storage.GenerationIndex
    assert inspect.signature(FileIndex.reader).parameters["reuse"].default is None
    with opened.reader() as r:
        assert r.doc_count() == 1


def test_a_damaged_segment_opens_as_index_corrupt(tmp_path):
    folder = tmp_path / "ix"
    folder.mkdir()
    ix = storage.create_index(str(folder), schema())
    with ix.writer() as w:
        w.add_document(**body_doc(0))
    (segment_file,) = [p for p in folder.iterdir() if p.suffix == ".seg"]
    segment_file.write_bytes(b"garbage")
    with pytest.raises(IndexCorrupt):
        storage.open_index(str(folder)).reader()
