"""`searchkit._whoosh.reading`: each private assumption about the pinned Whoosh codec, checked
against Whoosh's public (slow) way of reading the same values, and shown to be the path taken.

If a Whoosh upgrade changes a layout, these fail here, by name, instead of search results
going quietly wrong (or quietly slow, through the fallbacks).
"""

from __future__ import annotations

import pytest
from whoosh.codec.whoosh3 import W3LeafMatcher, _lenfield
from whoosh.columns import NumericColumn
from whoosh.matching.wrappers import FilterMatcher

from searchkit import Document, PartialDate
from searchkit._whoosh import reading
from searchkit.store import IndexDirectory

WORDS = "cocoa sugar brazil ghana harvest rain port export strike market".split()
#: More documents than one posting block of the codec holds (128), so that "common" spans
#: three blocks.
COUNT = 300


def documents(count: int = COUNT, start: int = 0) -> list[Document]:
    docs = []
    for i in range(start, start + count):
        body = " ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 2 + i % 7))
        docs.append(
            Document(
                id=f"doc-{i:03d}",
                title="common " + " ".join(WORDS[i % 3 : i % 3 + 1 + i % 4]),
                body=f"common {body} " + "common " * (i % 4),
                date=PartialDate.parse(f"2020-{1 + i % 12:02d}") if i % 5 else None,
                fields={"topics": (WORDS[i % 3], WORDS[3 + i % 2])},
            )
        )
    return docs


def stepped(matcher) -> tuple[list[int], list[float]]:
    """Ids and weights through Whoosh's public matcher interface, one posting at a time."""
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return ids, weights


@pytest.fixture(params=[1, 3], ids=["one-segment", "three-segments"])
def whoosh_index(request, build_index):
    ix = build_index(documents(), segments=request.param)
    _, whoosh_ix = IndexDirectory(ix.path).open_current()
    return whoosh_ix


def leaf_readers(whoosh_ix):
    reader = whoosh_ix.reader()
    return reader, [sub for sub, _ in reader.leaf_readers()]


# -- postings --------------------------------------------------------------------------------


def test_read_postings_equal_stepping_whooshs_matcher(whoosh_index):
    reader, subs = leaf_readers(whoosh_index)
    with reader:
        for sub in subs:
            for field in ("title", "body", "topics"):
                for term in list(sub.lexicon(field)):
                    expected = stepped(sub.postings(field, term))
                    assert reading.read_postings(sub, field, term) == expected, (field, term)


def test_a_long_posting_list_is_read_in_blocks_of_the_codecs_leaf_matcher(build_index):
    ix = build_index(documents())
    _, whoosh_ix = IndexDirectory(ix.path).open_current()
    with whoosh_ix.reader() as reader:
        (sub,) = [s for s, _ in reader.leaf_readers()]
        matcher = sub.postings("body", b"common")
        # The block path is the one taken (the fallback would hide a changed matcher).
        assert isinstance(matcher, W3LeafMatcher)
        blocks = []
        while matcher.is_active():
            matcher._read_ids()
            matcher._read_weights()
            blocks.append((list(matcher._ids), list(matcher._weights)))
            matcher._next_block()
        assert len(blocks) == 3  # 300 postings, 128 to a block
        ids, weights = stepped(sub.postings("body", b"common"))
        assert [d for b in blocks for d in b[0]] == ids == list(range(COUNT))
        assert [w for b in blocks for w in b[1]] == weights
        assert reading.read_postings(sub, "body", b"common") == (ids, weights)


def test_deleted_documents_are_left_out_as_whoosh_filters_them(build_index):
    ix = build_index(documents())
    ix.delete([f"doc-{i:03d}" for i in range(0, COUNT, 7)])
    _, whoosh_ix = IndexDirectory(ix.path).open_current()
    with whoosh_ix.reader() as reader:
        (sub,) = [s for s, _ in reader.leaf_readers()]
        matcher = sub.postings("body", b"common")
        # Whoosh hides deletions behind a FilterMatcher over the segment's deleted set.
        assert isinstance(matcher, FilterMatcher)
        assert isinstance(matcher.child, W3LeafMatcher)
        assert sub.deleted_docs_set == frozenset(range(0, COUNT, 7))
        for field in ("title", "body", "topics"):
            for term in sub.lexicon(field):
                expected = stepped(sub.postings(field, term))
                assert reading.read_postings(sub, field, term) == expected
        assert reading.read_postings(sub, "body", b"common")[0] == [
            d for d in range(COUNT) if d % 7
        ]


def as_lists(arrays) -> tuple[list[int], list[float]]:
    ids, weights = arrays
    assert ids.dtype.kind == "i" and weights.dtype.kind == "f"
    return ids.tolist(), weights.tolist()


@pytest.mark.parametrize("deleting", [False, True], ids=["all-live", "some-deleted"])
def test_posting_arrays_equal_stepping_whooshs_matcher(build_index, deleting):
    ix = build_index(documents(), segments=2)
    if deleting:
        ix.delete([f"doc-{i:03d}" for i in range(0, COUNT, 7)])
    _, whoosh_ix = IndexDirectory(ix.path).open_current()
    reader, subs = leaf_readers(whoosh_ix)
    with reader:
        for sub in subs:
            for field in ("title", "body", "topics"):
                for term in list(sub.lexicon(field)):
                    expected = stepped(sub.postings(field, term))
                    got = as_lists(reading.posting_arrays(sub, field, term))
                    assert got == expected, (field, term)
                    # One lookup of the term's entry, inlined postings included.
                    got = as_lists(reading.term_postings(sub, field, term))
                    assert got == expected, (field, term)
            # A term or a field the segment does not have: nothing, without an error.
            for field, term in (("body", b"zzznotaword"), ("nosuchfield", b"common")):
                assert as_lists(reading.term_postings(sub, field, term)) == ([], [])


def test_posting_blocks_are_decoded_as_arrays_not_through_whoosh(build_index, monkeypatch):
    """The array decoding is the path taken for full blocks (a changed layout would fall
    back to Whoosh's reading, slower: this says so by name)."""
    ix = build_index(documents())
    _, whoosh_ix = IndexDirectory(ix.path).open_current()
    decoded = []
    real = reading._decode_block

    def counting(raw, n, compression):
        block = real(raw, n, compression)
        decoded.append(block is not None)
        return block

    monkeypatch.setattr(reading, "_decode_block", counting)
    with whoosh_ix.reader() as reader:
        (sub,) = [s for s, _ in reader.leaf_readers()]
        ids, weights = as_lists(reading.posting_arrays(sub, "body", b"common"))
        assert (ids, weights) == stepped(sub.postings("body", b"common"))
        # All three blocks from one read of the term's bytes (not block by block).
        whole = reading._read_in_one_piece(sub.postings("body", b"common"))
        assert whole is not None and [b.size for b in whole[0]] == [128, 128, 44]
    assert decoded[:3] == [True, True, True]  # three blocks of the codec, each as arrays
    assert len(set(weights)) > 1  # the control: weights differ (not the all-equal shortcut)


# -- columns ---------------------------------------------------------------------------------


def test_field_lengths_come_from_the_codecs_length_column(whoosh_index):
    reader, subs = leaf_readers(whoosh_index)
    with reader:
        for sub in subs:
            for field in ("title", "body"):
                # The codec keeps lengths in a byte column named by `_lenfield`.
                assert _lenfield(field) == f"_{field}_len"
                assert sub._perdoc.has_column(_lenfield(field))
                expected = [
                    sub.doc_field_length(d, field, 1) or 1 for d in range(sub.doc_count_all())
                ]
                assert reading.field_lengths(sub, field).tolist() == expected
                assert len(set(expected)) > 1  # lengths that differ: a real comparison


def test_numeric_column_values_are_unpacked_from_one_run_of_records(whoosh_index):
    reader, subs = leaf_readers(whoosh_index)
    with reader:
        for sub in subs:
            column = sub.column_reader("date", translate=False)
            # The fast path is the one taken: a numeric column, in its natural order.
            assert isinstance(column, NumericColumn.Reader) and not column._reverse
            expected = list(sub.column_reader("date", translate=False))
            assert reading.column_values(sub, "date") == expected
            assert reading.column_array(sub, "date").tolist() == expected
            missing = sub.schema["date"].column_type.default_value()
            assert missing in expected and len(set(expected)) > 2


# -- segments --------------------------------------------------------------------------------


def test_segment_keys_are_stable_and_new_commits_add_new_ones(build_index):
    ix = build_index(documents(), segments=3)
    directory = IndexDirectory(ix.path)
    _, whoosh_ix = directory.open_current()
    with whoosh_ix.searcher() as searcher:
        before = reading.segments(searcher, "gen")
    assert [s.offset for s in before] == [0, 100, 200]
    assert len({s.key for s in before}) == 3
    _, whoosh_ix = directory.open_current()
    with whoosh_ix.searcher() as searcher:
        again = reading.segments(searcher, "gen")
        assert [s.key for s in again] == [s.key for s in before]  # the same on reopening
        assert [s.searcher.reader().segment().segment_id() for s in again] == [
            s.key[1] for s in before
        ]
    ix.add(documents(5, start=COUNT))
    _, whoosh_ix = directory.open_current()
    with whoosh_ix.searcher() as searcher:
        after = {s.key for s in reading.segments(searcher, "gen")}
    assert {s.key for s in before} <= after and len(after) == 4


def test_an_empty_index_has_one_keyed_segment(tmp_path):
    from searchkit import Index

    with Index.create(tmp_path / "empty") as ix:
        _, whoosh_ix = IndexDirectory(ix.path).open_current()
    with whoosh_ix.searcher() as searcher:
        (segment,) = reading.segments(searcher, "gen")
        assert segment.key == ("gen", "(empty)")


@pytest.mark.parametrize("deleting", [False, True], ids=["all-live", "some-deleted"])
def test_live_flags_are_the_documents_whoosh_lists(build_index, deleting):
    ix = build_index(documents(), segments=2)
    if deleting:
        ix.delete([f"doc-{i:03d}" for i in range(3, COUNT, 11)])
    _, whoosh_ix = IndexDirectory(ix.path).open_current()
    reader, subs = leaf_readers(whoosh_ix)
    with reader:
        for sub in subs:
            flags = reading.live_flags(sub)
            assert flags.tolist() == [
                d in set(sub.all_doc_ids()) for d in range(sub.doc_count_all())
            ]
            assert sub.has_deletions() == deleting
