"""Frequent terms' postings written as arrays beside each segment (issue 10): they hold what
Whoosh's own matcher reads, searches read them instead, and deletions made after they were
written, or a file that is missing or damaged, change nothing in the answers.

Expected postings come from Whoosh's public matcher, stepped one posting at a time; expected
matches are computed in plain Python over the documents the test wrote.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import searchkit.scoring
from searchkit import Document, Index
from searchkit.store import IndexDirectory
from searchkit.term_arrays import MIN_DOCS, TERM_ARRAYS_EXTENSION, TERM_WIDTH, TermArrays

pytestmark = pytest.mark.timeout(120)

COMMON = ["cocoa", "grain", "harbour", "strike", "storm", "rates"]
# The last is longer than the term arrays hold: it is read from Whoosh's term table.
RARE = [f"word{i}" for i in range(40)] + ["counterrevolutionarinessesque"]


def make_documents(count: int, seed: int = 11) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        title = [rng.choice(COMMON) for _ in range(2)] + [rng.choice(RARE)]
        body = [rng.choice(COMMON + RARE) for _ in range(rng.randint(5, 30))]
        docs.append(Document(id=f"d{i:03d}", title=" ".join(title), body=" ".join(body)))
    return docs


def whoosh_segments(path: Path):
    _, ix = IndexDirectory(path).open_current()
    return ix, ix.storage.folder


def stepped(reader, field: str, term: bytes) -> tuple[list[int], list[float]]:
    """Whoosh's own reading of a term's postings, one posting at a time."""
    m = reader.postings(field, term)
    ids, weights = [], []
    while m.is_active():
        ids.append(m.id())
        weights.append(m.weight())
        m.next()
    return ids, weights


def test_the_files_hold_every_frequent_term_as_whoosh_reads_it(tmp_path):
    docs = make_documents(150)
    with Index(tmp_path / "ix") as index:
        index.add(docs[:70])
        index.add(docs[70:])
    ix, folder = whoosh_segments(tmp_path / "ix")
    with ix.reader() as top:
        leaves = top.leaf_readers()
        assert len(leaves) == 2
        checked = 0
        for reader, _ in leaves:
            segment_id = reader.segment().segment_id()
            arrays = TermArrays.open(
                str(Path(folder) / (segment_id + TERM_ARRAYS_EXTENSION)), reader.doc_count_all()
            )
            assert arrays is not None
            for field in ("title", "body"):
                for term in list(reader.lexicon(field)):
                    frequency = reader.doc_frequency(field, term)
                    found = arrays.postings(field, term)
                    if frequency < MIN_DOCS or len(term) > TERM_WIDTH:
                        assert found is None, (field, term)
                        continue
                    assert found is not None, (field, term)
                    ids, weights = stepped(reader, field, term)
                    assert found[0].tolist() == ids
                    assert found[1].astype(float).tolist() == weights
                    checked += 1
            # A term the segment does not have: known to be absent, without Whoosh.
            absent = arrays.postings("body", b"notaword")
            assert absent is not None and absent[0].size == 0
            # One longer than the file holds: the file cannot tell.
            assert arrays.postings("body", b"x" * (TERM_WIDTH + 1)) is None
        assert checked >= 12  # the common words, in both fields of both segments


def test_searches_read_the_files_and_answer_as_without_them(tmp_path, monkeypatch):
    docs = make_documents(150)
    with Index(tmp_path / "ix") as index:
        index.add(docs[:80])
        index.add(docs[80:])
        queries = ["cocoa", "storm rates", '"grain harbour"', "strike -cocoa", "word3 cocoa"]
        queries += ["counterrevolutionarinessesque", "word3 counterrevolutionarinessesque"]
        with_files = [index.search(q, limit=200) for q in queries]
    used = []
    real = TermArrays.postings

    def spy(self, field, term):
        found = real(self, field, term)
        used.append(found is not None)
        return found

    monkeypatch.setattr(TermArrays, "postings", spy)
    with Index(tmp_path / "ix") as fresh:
        again = [fresh.search(q, limit=200) for q in queries]
    assert any(used)
    for q, a, b in zip(queries, with_files, again, strict=True):
        assert [(h.id, h.score) for h in a.hits] == [(h.id, h.score) for h in b.hits], q
    _, folder = whoosh_segments(tmp_path / "ix")
    for path in Path(folder).glob("*" + TERM_ARRAYS_EXTENSION):
        path.unlink()
    with Index(tmp_path / "ix") as without:
        for q, a in zip(queries, with_files, strict=True):
            b = without.search(q, limit=200)
            assert [(h.id, round(h.score, 9)) for h in a.hits] == [
                (h.id, round(h.score, 9)) for h in b.hits
            ], q
        # And what they match is what plain Python says.
        for word in ("cocoa", "counterrevolutionarinessesque"):
            expected = {d.id for d in docs if word in (d.title + " " + d.body).split()}
            assert expected
            assert {h.id for h in without.search(word, limit=200).hits} == expected


def test_documents_deleted_after_the_files_were_written_never_match(tmp_path):
    docs = make_documents(120)
    with Index(tmp_path / "ix") as index:
        index.add(docs)
        gone = {d.id for d in docs[::4]}
        index.delete(gone)
        for word in COMMON:
            expected = {
                d.id for d in docs if d.id not in gone and word in (d.title + " " + d.body).split()
            }
            results = index.search(word, limit=200)
            assert {h.id for h in results.hits} == expected
            assert results.total == len(expected)


@pytest.mark.parametrize("damage", ["cut short", "not ours", "another segment's"])
def test_a_damaged_file_is_read_from_whooshs_postings_instead(tmp_path, damage, monkeypatch):
    docs = make_documents(140)
    with Index(tmp_path / "ix") as index:
        index.add(docs[:50])
        index.add(docs[50:])
    _, folder = whoosh_segments(tmp_path / "ix")
    small, large = sorted(
        Path(folder).glob("*" + TERM_ARRAYS_EXTENSION), key=lambda p: p.stat().st_size
    )
    if damage == "cut short":
        small.write_bytes(small.read_bytes()[:100])
    elif damage == "not ours":
        small.write_bytes(b"\1" * 2048)
    else:
        small.write_bytes(large.read_bytes())
    calls = []
    real = searchkit.scoring.term_postings
    monkeypatch.setattr(
        searchkit.scoring,
        "term_postings",
        lambda *a: calls.append(a[1:]) or real(*a),
    )
    with Index(tmp_path / "ix") as fresh:
        for word in COMMON:
            expected = {d.id for d in docs if word in (d.title + " " + d.body).split()}
            assert {h.id for h in fresh.search(word, limit=200).hits} == expected
    assert ("body", b"cocoa") in calls  # the damaged segment's, from Whoosh's postings


def test_an_older_segment_gets_its_file_at_the_next_commit_deletions_left_out(tmp_path):
    docs = make_documents(130)
    with Index(tmp_path / "ix") as index:
        index.add(docs[:100])
        gone = {d.id for d in docs[:100:3]}
        index.delete(gone)
        _, folder = whoosh_segments(tmp_path / "ix")
        for path in Path(folder).glob("*" + TERM_ARRAYS_EXTENSION):
            path.unlink()  # as an index written before the files existed
        index.add(docs[100:])
        ix, folder = whoosh_segments(tmp_path / "ix")
        with ix.reader() as top:
            (older, _), (newer, _) = top.leaf_readers()
            assert older.has_deletions()
            for reader in (older, newer):
                name = reader.segment().segment_id() + TERM_ARRAYS_EXTENSION
                assert TermArrays.open(str(Path(folder) / name), reader.doc_count_all())
            name = older.segment().segment_id() + TERM_ARRAYS_EXTENSION
            arrays = TermArrays.open(str(Path(folder) / name), older.doc_count_all())
            found = arrays.postings("body", b"cocoa")
            assert found is not None
            live = stepped(older, "body", b"cocoa")[0]  # the matcher leaves deletions out
            assert found[0].tolist() == live
        for word in COMMON:
            expected = {
                d.id for d in docs if d.id not in gone and word in (d.title + " " + d.body).split()
            }
            assert {h.id for h in index.search(word, limit=200).hits} == expected
