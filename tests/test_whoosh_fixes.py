"""The Whoosh fixes of `searchkit._whoosh.fixes`: short posting lists inlined into the term
table, and segment files read from their memory map instead of a copy.

The inlining tests build the same documents twice with plain Whoosh, once with searchkit's
codec and once with Whoosh's default `W3Codec`, and compare everything a reader or searcher
shows: the default codec is the independent answer. The file tests compare `_ViewFile` with
`io.BytesIO`, and `BufferFile` reads with the bytes on disk or the values written.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import struct
import tracemalloc
from array import array
from collections import Counter
from datetime import datetime
from itertools import pairwise

import pytest
import whoosh.index
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh.analysis import StemmingAnalyzer
from whoosh.codec.whoosh3 import STORED_COLUMN, W3Codec
from whoosh.fields import DATETIME, ID, KEYWORD, TEXT, Schema
from whoosh.filedb import filetables
from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.structfile import BufferFile, StructFile
from whoosh.qparser import QueryParser
from whoosh.util.numeric import byte_to_length, length_to_byte

from searchkit import Document, Index
from searchkit._whoosh import fixes as whoosh_fixes
from searchkit._whoosh.fixes import INLINE_LIMIT, _ViewFile
from searchkit.store import IndexDirectory

#: Three commits of four documents. `markets`, `bank` and `rates` occur in many documents of
#: every segment; `zanzibar`, `quokka`, `marmalade`, `tugboat` in one document only; `spice`
#: and `island` once per segment, next to each other only in d03.
BATCHES = (
    (
        ("d01", "economy,markets", "Markets rallied after the bank held rates; Zanzibar cheered."),
        ("d02", "economy", "Bond markets slipped as the bank signalled higher rates."),
        ("d03", "shipping,spice", "A spice island cargo of cloves reached the port."),
        ("d04", "economy,markets", "Currency markets were calm; the bank kept quiet."),
    ),
    (
        ("d05", "markets", "Stock markets rose on strong bank earnings."),
        ("d06", "weather", "A quokka was seen near the harbour while markets closed early."),
        ("d07", "shipping", "The island ferry carried spice merchants across the bay."),
        ("d08", "economy", "Rates fell and markets cheered the bank."),
    ),
    (
        ("d09", "markets", "Markets drifted; a marmalade maker listed its shares."),
        ("d10", "economy,weather", "Storms hit the harbour and the bank delayed rates."),
        ("d11", "markets", "Analysts said markets and the bank agree on rates."),
        ("d12", "shipping", "A tugboat towed the barge past the island lighthouse."),
    ),
)
DOCS = [doc for batch in BATCHES for doc in batch]
TEXTS = {doc_id: text for doc_id, _, text in DOCS}
DELETED = "d06"


def whoosh_schema() -> Schema:
    """Field formats with and without posting values: Existence (id, when), Frequency (tags,
    and the spell_text field a stemming analyzer with spelling=True adds), Positions (text)."""
    return Schema(
        id=ID(unique=True, stored=True),
        tags=KEYWORD(scorable=False, commas=True),
        text=TEXT(stored=True, spelling=True, analyzer=StemmingAnalyzer()),
        when=DATETIME(),
    )


def build(path, codec_factory):
    """The documents of BATCHES committed in three segments, each written by `codec_factory()`."""
    path.mkdir()
    ix = whoosh.index.create_in(str(path), whoosh_schema())
    for number, batch in enumerate(BATCHES):
        writer = ix.writer(codec=codec_factory())
        for day, (doc_id, tags, text) in enumerate(batch, 1):
            # Dates share their coarse trie terms (many postings) but not their fine ones.
            when = datetime(2020, number + 1, day, 12, 0)
            writer.add_document(id=doc_id, tags=tags, text=text, when=when)
        writer.commit(merge=False)
    return ix


@pytest.fixture
def twins(tmp_path):
    """(index written with searchkit's codec, the same written with Whoosh's default codec)."""
    inlined = build(tmp_path / "inlined", whoosh_fixes.writer_codec)
    return inlined, build(tmp_path / "plain", W3Codec)


def tokens(text: str) -> list[str]:
    """The indexed terms of `text`, in position order (stop words dropped, positions renumbered)."""
    return [t.text for t in whoosh_schema()["text"].analyzer(text)]


def postings(ix) -> dict:
    """Everything a reader shows about every term, keyed by (field, term bytes).

    Per term: doc frequency, total weight, each posting as (docnum, stored id, weight, value),
    and the statistics of its term info in each segment (what block-max scoring reads).
    """
    seen: dict = {}
    with ix.reader() as reader:
        ids = {docnum: fields["id"] for docnum, fields in reader.iter_docs()}
        for field, term in reader.all_terms():
            matcher = reader.postings(field, term)
            posts = []
            while matcher.is_active():
                value = matcher.value()
                # An Existence block yields None where an inlined list yields b"": Whoosh's own
                # FieldWriter.add_postings treats them as the same (None -> b"").
                value = b"" if value is None else value
                posts.append((matcher.id(), ids.get(matcher.id()), matcher.weight(), value))
                matcher.next()
            stats = []
            for segment, (leaf, _) in enumerate(reader.leaf_readers()):
                if (field, term) in leaf:
                    info = leaf.term_info(field, term)
                    stats.append(
                        (
                            segment,
                            info.weight(),
                            info.doc_frequency(),
                            info.min_length(),
                            info.max_length(),
                            info.max_weight(),
                            info.min_id(),
                            info.max_id(),
                        )
                    )
            seen[field, term] = (
                reader.doc_frequency(field, term),
                reader.frequency(field, term),
                posts,
                stats,
            )
    return seen


def inlined_terms(ix) -> Counter:
    """Per segment and term, check that the term info is inlined exactly when the posting list
    (counted from the postings, not the term info) is shorter than INLINE_LIMIT.

    Returns how many terms were short and long; raises AssertionError on a mismatch.
    """
    counts: Counter = Counter()
    with ix.reader() as reader:
        for leaf, _ in reader.leaf_readers():
            for field, term in leaf.all_terms():
                short = len(list(leaf.postings(field, term).all_ids())) < INLINE_LIMIT
                assert leaf.term_info(field, term).is_inlined() == short, (field, term)
                counts["short" if short else "long"] += 1
    return counts


def test_searchkit_codec_inlines_exactly_the_short_posting_lists(twins):
    """Guards the point of the fix: with `writer_codec()` a term of one posting in a segment
    lives in the term table, a longer one in the postings file; Whoosh's own codec inlines
    nothing (its inline path is dead code), so the difference is the fix's doing."""
    inlined, plain = twins
    assert INLINE_LIMIT >= 2  # else nothing is ever inlined
    counts = inlined_terms(inlined)
    assert counts["short"] > 0 and counts["long"] > 0
    zanzibar, market = tokens("Zanzibar markets")
    with inlined.reader() as reader:
        (first, _), _, _ = reader.leaf_readers()
        assert reader.doc_frequency("text", zanzibar) == 1
        assert first.term_info("text", zanzibar).is_inlined()
        assert first.doc_frequency("text", market) >= 2
        assert not first.term_info("text", market).is_inlined()
    with plain.reader() as reader:
        assert len(reader.leaf_readers()) == 3
        for leaf, _ in reader.leaf_readers():
            assert not any(leaf.term_info(f, t).is_inlined() for f, t in leaf.all_terms())


def test_inlined_postings_read_back_like_the_default_codec(twins):
    """Guards correctness of the inlined lists: every term of every field has the same doc
    frequency, weight, postings (doc, weight, value bytes) and per-segment term statistics as
    under Whoosh's default codec, for formats with values (positions, frequencies) and
    without (existence)."""
    inlined, plain = twins
    expected = postings(plain)
    assert postings(inlined) == expected
    # The comparison covers every field, and values that are more than b"".
    assert {field for field, _ in expected} == {"id", "tags", "text", "spell_text", "when"}
    values = [
        value
        for (field, _), (_, _, posts, _) in expected.items()
        if field in ("text", "tags")
        for _, _, _, value in posts
    ]
    assert values and all(values)


def test_merge_with_a_deletion_keeps_inlined_postings_equal(twins):
    """Guards Whoosh's merge over inlined lists: it re-adds every posting and asserts values
    are bytes. After deleting one document and optimizing, both indexes still show the same
    postings, the deleted document is in none of them, and the merged segment (written by
    the patched writer again) still inlines its single-posting lists."""
    snapshots = []
    for ix, codec_factory in zip(twins, (whoosh_fixes.writer_codec, W3Codec), strict=True):
        writer = ix.writer(codec=codec_factory())
        assert writer.delete_by_term("id", DELETED) == 1
        writer.commit(optimize=True)
        with ix.reader() as reader:
            assert len(reader.leaf_readers()) == 1
            assert reader.doc_count() == len(DOCS) - 1
        snapshots.append(postings(ix))
    merged, plain = snapshots
    assert merged == plain
    for _, _, posts, _ in merged.values():
        assert DELETED not in {stored_id for _, stored_id, _, _ in posts}
    # The id field, computed from the documents: one posting per remaining document.
    id_postings = {t.decode(): [p[1] for p in v[2]] for (f, t), v in merged.items() if f == "id"}
    assert id_postings == {doc_id: [doc_id] for doc_id, _, _ in DOCS if doc_id != DELETED}
    (quokka,) = tokens("quokka")
    assert ("text", quokka.encode()) not in merged
    counts = inlined_terms(twins[0])
    assert counts["short"] > 0 and counts["long"] > 0


def test_document_lengths_are_the_token_counts_whoosh_stores(twins):
    """The column-at-once `doc_field_length` answers what Whoosh's byte per document encodes:
    the document's token count, through Whoosh's lossy length byte (None for no tokens), in
    every segment and after a merge; a document number past the segment still raises."""
    for ix in twins:
        for merged in (False, True):
            if merged:
                ix.writer(codec=whoosh_fixes.writer_codec()).commit(optimize=True)
            with ix.reader() as reader:
                stored = {docnum: fields["id"] for docnum, fields in reader.iter_docs()}
                checked = 0
                for leaf, base in reader.leaf_readers():
                    perdoc = leaf._perdoc
                    for docnum in range(leaf.doc_count_all()):
                        count = len(tokens(TEXTS[stored[base + docnum]]))
                        expected = byte_to_length(length_to_byte(count)) if count else None
                        assert perdoc.doc_field_length(docnum, "text") == expected
                        # Unscored fields have no length column: the default comes back.
                        assert perdoc.doc_field_length(docnum, "tags", default=7) == 7
                        checked += 1
                    with pytest.raises(IndexError):
                        perdoc.doc_field_length(leaf.doc_count_all() + 1, "text")
                assert checked == len(DOCS)


def expected_or(words: str) -> set[str]:
    """Ids of the documents holding any of the (analyzed) words."""
    wanted = set(tokens(words))
    return {doc_id for doc_id, text in TEXTS.items() if wanted & set(tokens(text))}


def expected_phrase(words: str) -> set[str]:
    """Ids of the documents holding the (analyzed) words next to each other."""
    first, second = tokens(words)
    return {doc_id for doc_id, text in TEXTS.items() if (first, second) in pairwise(tokens(text))}


@pytest.mark.parametrize(
    "query, expected, highlighted",
    [
        ("zanzibar OR markets", expected_or("zanzibar markets"), "Zanzibar"),
        ('"spice island"', expected_phrase("spice island"), "island"),
    ],
)
def test_search_over_inlined_postings_ranks_and_highlights_the_same(
    twins, query, expected, highlighted
):
    """Guards searching: an OR of a rare (inlined) and a common term, and a phrase over
    inlined position lists (`spice` and `island` also occur apart, in another segment), find
    the documents computed from the texts, in the same order with the same scores and
    matched terms as under the default codec, and highlighting marks the rare term."""
    answers = []
    for ix in twins:
        with ix.searcher() as searcher:
            parsed = QueryParser("text", ix.schema).parse(query)
            results = searcher.search(parsed, limit=None, terms=True)
            hits = [(hit["id"], hit.score, sorted(hit.matched_terms())) for hit in results]
            rare = [hit for hit in results if highlighted.lower() in hit["text"].lower()]
            assert len(rare) == 1
            marks = rare[0].highlights("text")
            answers.append((hits, marks))
    (hits, marks), (plain_hits, plain_marks) = answers
    assert {doc_id for doc_id, _, _ in hits} == expected
    assert len(hits) == len(expected) and expected != set(TEXTS)
    assert hits == plain_hits
    assert all(score > 0 for _, score, _ in hits)
    assert re.search(rf'<b class="match term\d+">{highlighted}</b>', marks), marks
    assert marks == plain_marks


def test_an_index_written_by_searchkit_is_read_by_plain_whoosh(tmp_path):
    """Guards "segments record their codec, so any reader reads them back": the live
    generation of a searchkit index opens with `whoosh.index.open_dir`, its single-posting
    terms really are inlined, and their postings and a search name the right document."""
    documents = [
        Document(id="n1", title="Harbour news", body="A quokka visited the harbour market."),
        Document(id="n2", title="Market report", body="The market rose and the harbour was busy."),
        Document(id="n3", title="Market close", body="The market fell at the close."),
    ]
    with Index(tmp_path / "ix") as index:
        index.add(documents[:1])
        index.add(documents[1:])
    current = json.loads((tmp_path / "ix" / "searchkit.json").read_text())["current"]
    ix = whoosh.index.open_dir(str(tmp_path / "ix" / current))
    analyze = ix.schema["body"].analyzer
    (quokka,) = [t.text for t in analyze("quokka")]
    (market,) = [t.text for t in analyze("market")]
    with ix.searcher() as searcher:
        reader = searcher.reader()
        # Whatever segments the indexer left: in each, a term is inlined when it is short.
        inlined = Counter()
        for leaf, _ in reader.leaf_readers():
            for term in (quokka, market):
                if ("body", term) in leaf:
                    short = len(list(leaf.postings("body", term).all_ids())) < INLINE_LIMIT
                    assert leaf.term_info("body", term).is_inlined() == short
                    inlined[term, short] += 1
        assert inlined[quokka, True] == 1 and inlined[market, False] >= 1

        def ids_of(term):
            docnums = reader.postings("body", term).all_ids()
            return sorted(reader.stored_fields(n)["id"] for n in docnums)

        assert ids_of(quokka) == [d.id for d in documents if "quokka" in d.body]
        assert ids_of(market) == [d.id for d in documents if "market" in d.body]
        hits = searcher.search(QueryParser("body", ix.schema).parse("quokka"))
        assert [hit["id"] for hit in hits] == ["n1"]


# -- _ViewFile and BufferFile -------------------------------------------------------------

#: Bytes rich in newlines, so that readline and iteration meet short, empty and last lines.
FILE_DATA = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.sampled_from([b"\n", b"a", b"bc\n", b"\n\n", b"\x00\xff", b"xyz"]), max_size=40
    ).map(b"".join),
)
SIZES = st.one_of(st.integers(0, 80), st.just(-1), st.none())
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), SIZES),
        st.tuples(st.just("readline"), SIZES),
        st.tuples(st.just("readinto"), st.integers(0, 80)),
        st.tuples(st.just("seek"), st.integers(-300, 300), st.sampled_from([0, 1, 2])),
        st.tuples(st.just("tell")),
        st.tuples(st.just("iterate")),
    ),
    max_size=30,
)


def sliced_view(data: bytes, before: bytes, after: bytes) -> memoryview:
    """`data` as a slice of a larger buffer, as CompoundStorage hands out a segment's files."""
    return memoryview(before + data + after)[len(before) : len(before) + len(data)]


def apply(f, operation):
    """Run one operation on file `f`; return what a caller would see."""
    name, *args = operation
    if name == "read":
        return f.read() if args[0] is None else f.read(args[0])
    if name == "readline":
        return f.readline() if args[0] is None else f.readline(args[0])
    if name == "readinto":
        buffer = bytearray(b"?" * args[0])
        return f.readinto(buffer), bytes(buffer)
    if name == "seek":
        return f.seek(*args)
    if name == "tell":
        return f.tell()
    return list(f)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=FILE_DATA, before=st.binary(max_size=8), after=st.binary(max_size=8), ops=OPERATIONS)
def test_view_file_behaves_like_bytesio(data, before, after, ops):
    """Guards `_ViewFile` as a drop-in for the `BytesIO` Whoosh used: every read, readline,
    readinto, seek (within and past the end), tell and iteration gives the same result and
    leaves the same position, on a view that is a slice of a larger buffer."""
    view, reference = _ViewFile(sliced_view(data, before, after)), io.BytesIO(data)
    for operation in ops:
        if operation[0] == "seek":
            # Keep the position >= 0: BytesIO refuses a negative absolute seek.
            _, offset, whence = operation
            base = (0, reference.tell(), len(data))[whence]
            operation = ("seek", max(offset, -base), whence)
        assert apply(view, operation) == apply(reference, operation), operation
        assert view.tell() == reference.tell(), operation


PICKLABLE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objects=st.lists(PICKLABLE, min_size=1, max_size=5), protocol=st.sampled_from([2, 5]))
def test_pickles_load_back_to_back_from_a_view_file(objects, protocol):
    """Guards `read_pickle` on a view: pickles dumped one after another load back in order,
    each load stopping exactly where its pickle ends (as BytesIO does), then EOFError.
    Protocol 2 reads bytes through readline (its GLOBAL opcode); protocol 5 reads a large
    bytes object, which lies outside pickle's 64 KiB frames, with readinto."""
    objects = [*objects, bytes(range(256)) * 300]  # 76,800 bytes
    buffer = io.BytesIO()
    for obj in objects:
        pickle.dump(obj, buffer, protocol=protocol)
    data = buffer.getvalue()
    view, reference = _ViewFile(sliced_view(data, b"head", b"tail")), io.BytesIO(data)
    for obj in objects:
        assert pickle.load(view) == pickle.load(reference) == obj
        assert view.tell() == reference.tell()
    with pytest.raises(EOFError):
        pickle.load(view)


def test_buffer_file_does_not_copy_its_buffer():
    """Guards the measured reason for the fix: wrapping a buffer in a BufferFile allocates
    next to nothing, where Whoosh's `BytesIO(buffer)` copied it whole (the control shows the
    measurement sees such a copy)."""
    buffer = memoryview(bytes(4_000_000))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        wrapped = BufferFile(buffer)
        _, wrapped_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        copied = io.BytesIO(buffer)
        _, copied_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert copied_peak >= len(buffer)
    assert wrapped_peak < len(buffer) // 100
    assert wrapped.get(10, 5) == copied.getvalue()[10:15]


def test_segment_files_of_a_compound_index_are_views_of_the_file_on_disk(tmp_path):
    """Guards the reader side of a real multi-segment index: every file of every compound
    segment opens as a BufferFile over the memory map, not a BytesIO copy, and reads (whole,
    by line, at offsets) give the bytes that lie in the `.seg` file on disk; the term and
    postings files of an open reader are such views too."""
    ix = build(tmp_path / "ix", whoosh_fixes.writer_codec)
    with ix.reader() as reader:
        leaves = [leaf for leaf, _ in reader.leaf_readers()]
        assert len(leaves) == 3
        for leaf in leaves:
            for file in (leaf._terms._dbfile, leaf._terms._postfile):
                assert isinstance(file, BufferFile) and not isinstance(file.file, io.BytesIO)
        segments = [leaf.segment() for leaf in leaves]
    for segment in segments:
        assert segment.is_compound()
        on_disk = (tmp_path / "ix" / segment.make_filename(segment.COMPOUND_EXT)).read_bytes()
        storage = segment.open_compound_file(ix.storage)
        assert isinstance(storage, CompoundStorage)
        names = storage.list()
        assert any(name.endswith(".trm") for name in names)
        for name in names:
            offset, length = storage.range(name)
            expected = on_disk[offset : offset + length]
            f = storage.open_file(name)
            assert isinstance(f, BufferFile) and not isinstance(f.file, io.BytesIO)
            assert f.read() == expected
            f.seek(0)
            assert list(f) == [line + b"\n" for line in expected.split(b"\n")[:-1]] + (
                [expected.rsplit(b"\n", 1)[-1]] if not expected.endswith(b"\n") else []
            )
            middle = length // 2
            assert f.get(middle, 7) == expected[middle : middle + 7]
            f.close()
        storage.close()


def test_struct_file_helpers_read_what_was_written_through_a_view(tmp_path):
    """Guards the StructFile helpers Whoosh reads segments with, on the patched BufferFile
    over a memoryview slice and on its `subset` (a BufferFile over bytes): ints, longs,
    varints, strings, pickles and arrays come back as written, at the offsets written."""
    values = {"pickle": {"terms": [1, 2.5, "x"], "blob": b"\n\x00\n"}, "int": -123456}
    values |= {"long": 2**40 + 5, "array": array("i", [1, -2, 3_000_000]), "varint": 300}
    sink = StructFile(io.BytesIO())
    at = {}
    at["int"] = sink.tell()
    sink.write_int(values["int"])
    at["pickle"] = sink.tell()
    sink.write_pickle(values["pickle"])
    at["long"] = sink.tell()
    sink.write_long(values["long"])
    at["array"] = sink.tell()
    sink.write_array(values["array"])
    at["varint"] = sink.tell()
    sink.write_varint(values["varint"])
    at["string"] = sink.tell()
    sink.write_string(b"line one\nline two")
    at["end"] = sink.tell()
    data = sink.file.getvalue()

    f = BufferFile(sliced_view(data, b"\n" * 11, b"junk"), name="test")
    assert not isinstance(f.file, io.BytesIO)
    f.seek(at["pickle"])
    assert f.read_pickle() == values["pickle"]
    assert f.tell() == at["long"]  # the pickle was consumed exactly
    assert f.read_long() == values["long"]
    assert f.read_array("i", 3) == values["array"]
    assert f.read_varint() == values["varint"]
    assert f.read_string() == b"line one\nline two"
    assert f.tell() == at["end"] == len(data)
    assert f.read() == b""
    f.seek(at["int"])
    assert f.read_int() == values["int"]
    assert f.get_int(at["int"]) == values["int"]
    assert f.get_long(at["long"]) == values["long"]
    assert f.get(at["string"], at["end"] - at["string"]) == data[at["string"] :]
    assert f.get_array(at["array"], "i", 3) == values["array"]

    part = f.subset(at["pickle"], at["varint"] - at["pickle"])
    assert not isinstance(part.file, io.BytesIO)
    assert part.read_pickle() == values["pickle"]
    assert part.read_long() == values["long"]
    assert part.get_array(at["array"] - at["pickle"], "i", 3) == values["array"]
    f.close()


def test_a_term_tables_directory_read_at_once_is_read_entry_by_entry_alike(tmp_path):
    # fixes._hash_reader_init reads the 256-entry directory of hash tables in one read;
    # Whoosh read it entry by entry just before the extras. Both, on a real term table.
    with Index(tmp_path / "ix") as index:
        index.add(
            [
                Document(id=f"d{i}", title=f"title {i}", body=f"body word{i % 7} x{i}")
                for i in range(40)
            ]
        )
        index.add([Document(id="last", title="one more", body="text")])
    _, ix = IndexDirectory(tmp_path / "ix").open_current()
    with ix.reader() as top:
        leaves = top.leaf_readers()
        assert len(leaves) == 2
        for reader, _ in leaves:
            table = reader._terms._tindex
            dbfile = table.dbfile
            dbfile.seek(0, 2)
            length = dbfile.tell() - table.startoffset
            exptr = table.startoffset + length - 4
            expos = exptr - struct.unpack("!i", bytes(dbfile.get(exptr, 4)))[0]
            first = expos - filetables._directory_size
            one_by_one = [
                struct.unpack("!qi", bytes(dbfile.get(first + 12 * k, 12))) for k in range(256)
            ]
            assert table.tables == one_by_one
            assert table.endofdata == one_by_one[0][0]
        # Lookups go through the tables: a word's document frequency, counted in Python.
        first_segment = leaves[0][0]
        assert first_segment.doc_frequency("body", b"word3") == sum(
            1 for i in range(40) if i % 7 == 3
        )


def test_variable_length_column_offsets_are_the_running_sum_of_lengths(tmp_path):
    # fixes._varbytes_offsets_and_lengths sums the lengths with numpy where Whoosh looped;
    # the offsets must be the running sum (computed here in Python) and every stored
    # document must read back as added.
    docs = [Document(id=f"d{i}", title=f"t{i}", body="x" * (i * 37 % 101)) for i in range(60)]
    with Index(tmp_path / "ix") as index:
        index.add(docs)
    _, ix = IndexDirectory(tmp_path / "ix").open_current()
    with ix.reader() as top:
        (reader, _), *_ = top.leaf_readers()
        column = reader._perdoc.column_reader("_stored", STORED_COLUMN)
        while not hasattr(column, "_lengths"):  # Pickle and CompressedBytes wrap VarBytes
            column = column._child
        lengths = list(column._lengths)
        running, offsets = 0, []
        for n in lengths:
            offsets.append(running)
            running += n
        assert list(column._offsets) == offsets
        assert all(type(o) is int for o in column._offsets)
    with ix.searcher() as s:
        assert {d["id"]: d["body"] for d in s.all_stored_fields()} == {d.id: d.body for d in docs}
