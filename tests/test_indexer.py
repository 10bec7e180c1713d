"""The incremental indexer: the index holds exactly the corpus after every change."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers import Corpus, indexed, write_lock_held_elsewhere

from searchkit import Document, Index, IndexLocked
from searchkit import indexer as indexer_module
from searchkit.dates import PartialDate
from searchkit.errors import CorpusNotFound, NotAnIndex
from searchkit.store import IndexDirectory


def segment_count(index_path: Path) -> int:
    _, ix = IndexDirectory(index_path).open_current()
    with ix.reader() as r:
        return len(r.leaf_readers())


@pytest.fixture(params=["single-segment", "multi-segment"])
def segment_mode(request, monkeypatch):
    if request.param == "multi-segment":
        monkeypatch.setattr(indexer_module, "MERGE_SEGMENTS", False)
    return request.param


def test_incremental_sequence_keeps_index_equal_to_corpus(tmp_path, segment_mode):
    corpus = Corpus(tmp_path / "corpus")
    index_path = tmp_path / "index"
    for i in range(10):
        corpus.write_text_article(f"a/{i}.txt", f"Alpha article {i}", f"alpha body v0 n{i}")
    feed = [{"id": f"feed-{i}", "title": f"Feed {i}", "body": f"feed body n{i}"} for i in range(6)]
    corpus.write_jsonl("feed.jsonl", feed)

    def check(report, **counts):
        if segment_mode == "single-segment":
            with Index(index_path) as ix:
                ix.optimize()
            assert segment_count(index_path) == 1
        assert indexed(index_path) == corpus.as_index_sees_it()
        got = {k: getattr(report, k) for k in counts}
        assert got == counts
        assert report.documents == len(corpus.expected)

    with Index(index_path) as ix:
        check(ix.update([corpus.root]), added=16, updated=0, deleted=0, unchanged=0)

        # Add 5.
        for i in range(5):
            corpus.write_text_article(f"b/{i}.txt", f"Beta article {i}", f"beta body n{i}")
        check(ix.update(), added=5, updated=0, deleted=0, unchanged=16)

        # Modify 2: one grows, one is rewritten with the same size and its mtime restored.
        corpus.write_text_article("a/1.txt", "Alpha article 1", "alpha body v1 n1 and more words")
        same = corpus.root / "a/2.txt"
        before = same.stat()
        corpus.write_text_article("a/2.txt", "Alpha article 2", "alpha body v9 n2")
        os.utime(same, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert same.stat().st_size == before.st_size
        assert same.stat().st_mtime_ns == before.st_mtime_ns
        check(ix.update(), added=0, updated=2, deleted=0, unchanged=19)

        # Delete 3.
        for rel in ("a/3.txt", "a/4.txt", "b/0.txt"):
            corpus.delete(rel)
        check(ix.update(), added=0, updated=0, deleted=3, unchanged=18)

        # Split the JSON Lines file: 3 lines stay, 2 move to a new file, 1 is gone.
        corpus.write_jsonl("feed.jsonl", feed[:3])
        corpus.write_jsonl("feed2.jsonl", feed[3:5])
        # feed-3 and feed-4 keep their ids but now come from another file: updated, not added.
        check(ix.update(), added=0, updated=2, deleted=1, unchanged=15)

        # A run with nothing to do changes nothing.
        check(ix.update(), added=0, updated=0, deleted=0, unchanged=17)

    if segment_mode == "multi-segment":
        assert segment_count(index_path) > 1


def test_dry_run_lists_changes_and_writes_nothing(tmp_path):
    corpus = Corpus(tmp_path / "corpus")
    corpus.write_text_article("one.txt", "One", "first body")
    corpus.write_text_article("two.txt", "Two", "second body")
    index_path = tmp_path / "index"
    with Index(index_path) as ix:
        ix.update([corpus.root])
        corpus.write_text_article("three.txt", "Three", "third body")
        corpus.delete("one.txt")
        listing = sorted(os.listdir(index_path / IndexDirectory(index_path).read_meta().current))
        report = ix.update(dry_run=True)
    assert report.dry_run
    assert (report.added, report.deleted) == (1, 1)
    assert report.changed_files == (str(corpus.root / "three.txt"),)
    assert report.deleted_files == (str(corpus.root / "one.txt"),)
    current = IndexDirectory(index_path).read_meta().current
    assert sorted(os.listdir(index_path / current)) == listing
    assert set(indexed(index_path)) == {"one.txt", "two.txt"}


def test_rebuild_swaps_in_a_new_generation_and_old_searchers_keep_working(tmp_path):
    corpus = Corpus(tmp_path / "corpus")
    for i in range(5):
        corpus.write_text_article(f"{i}.txt", f"Story {i}", f"harbour crane n{i}")
    index_path = tmp_path / "index"
    with Index(index_path) as ix:
        ix.update([corpus.root])
        old_gen = IndexDirectory(index_path).read_meta().current
        _, old_ix = IndexDirectory(index_path).open_current()
        old_searcher = old_ix.searcher()
        corpus.write_text_article("5.txt", "Story 5", "harbour crane n5")
        report = ix.update(rebuild=True)
    try:
        assert report.rebuilt and report.added == 6
        new_gen = IndexDirectory(index_path).read_meta().current
        assert new_gen != old_gen
        assert indexed(index_path) == corpus.as_index_sees_it()
        # A searcher opened before the swap still answers from the old generation.
        from whoosh.query import Term

        assert len(old_searcher.search(Term("body", "harbour"), limit=None)) == 5
    finally:
        old_searcher.close()


def test_interrupted_rebuild_leaves_the_old_index_and_the_next_run_converges(tmp_path, monkeypatch):
    corpus = Corpus(tmp_path / "corpus")
    for i in range(4):
        corpus.write_text_article(f"{i}.txt", f"Story {i}", f"body n{i}")
    index_path = tmp_path / "index"
    with Index(index_path) as ix:
        ix.update([corpus.root])
    before = indexed(index_path)
    gen = IndexDirectory(index_path).read_meta().current
    corpus.write_text_article("4.txt", "Story 4", "body n4")

    real_fields = indexer_module.whoosh_fields
    calls = []

    def interrupted_after_two(doc):
        calls.append(doc.id)
        if len(calls) > 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of writing the new generation
        return real_fields(doc)

    monkeypatch.setattr(indexer_module, "whoosh_fields", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt), Index(index_path) as ix:
        ix.update(rebuild=True)
    assert IndexDirectory(index_path).read_meta().current == gen
    assert indexed(index_path) == before

    monkeypatch.setattr(indexer_module, "whoosh_fields", real_fields)
    with Index(index_path) as ix:
        report = ix.update()
    assert report.added == 1
    assert indexed(index_path) == corpus.as_index_sees_it()


def test_second_writer_waits_then_fails_with_index_locked(tmp_path):
    corpus = Corpus(tmp_path / "corpus")
    corpus.write_text_article("a.txt", "A", "body")
    index_path = tmp_path / "index"
    Index(index_path).update([corpus.root])
    with write_lock_held_elsewhere(index_path):
        started = time.monotonic()
        with pytest.raises(IndexLocked) as info:
            Index(index_path, lock_timeout=0.3).update()
        waited = time.monotonic() - started
        assert 0.25 <= waited < 5
        assert str(index_path) in str(info.value)
        # Readers are never blocked by the writer.
        assert set(indexed(index_path)) == {"a.txt"}
    # Once the lock is free the next writer proceeds.
    assert Index(index_path, lock_timeout=0).update().unchanged == 1


def test_api_documents_without_files(tmp_path):
    index_path = tmp_path / "index"
    docs = [
        Document(
            id="x1", title="Cocoa harvest", body="Rain in Bahia", fields={"topics": ("cocoa",)}
        ),
        Document(id="x2", title="Rates", body="The bank held rates"),
    ]
    with Index.create(index_path) as ix:
        assert ix.add(docs).added == 2
        assert ix.add([Document(id="x2", title="Rates", body="The bank cut rates")]).updated == 1
        assert ix.add(docs[:1]).changed is False  # same content: nothing rewritten
        assert ix.delete(["x1", "nope"]).deleted == 1
    assert {k: v[:2] for k, v in indexed(index_path).items()} == {
        "x2": ("Rates", "The bank cut rates")
    }


def test_deleting_a_file_document_by_hand_is_undone_by_the_next_sync(tmp_path):
    corpus = Corpus(tmp_path / "corpus")
    corpus.write_text_article("a.txt", "A", "alpha")
    corpus.write_text_article("b.txt", "B", "beta")
    index_path = tmp_path / "index"
    with Index(index_path) as ix:
        ix.update([corpus.root])
        ix.delete(["a.txt"])
        assert set(indexed(index_path)) == {"b.txt"}
        assert ix.update().added == 1
    assert indexed(index_path) == corpus.as_index_sees_it()


def test_missing_corpus_and_foreign_index_folder_are_errors(tmp_path):
    with pytest.raises(CorpusNotFound, match="corpus path not found"):
        Index(tmp_path / "index").update([tmp_path / "nowhere"])
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    corpus = Corpus(tmp_path / "corpus")
    corpus.write_text_article("a.txt", "A", "alpha")
    with pytest.raises(NotAnIndex, match="not a searchkit index"):
        Index(foreign).update([corpus.root])
    assert os.listdir(foreign) == ["cat.jpg"]


def test_default_roots_are_recorded_and_reused(tmp_path, monkeypatch):
    corpus = Corpus(tmp_path / "corpus")
    corpus.write_text_article("a.txt", "A", "alpha")
    other = Corpus(tmp_path / "other")
    other.write_text_article("z.txt", "Z", "zulu")
    monkeypatch.chdir(tmp_path)
    with Index() as ix:  # index/ and corpus/ relative to the current directory
        assert ix.update().added == 1
        assert ix.update([other.root]).added == 1
        other.write_text_article("y.txt", "Y", "yankee")
        corpus.write_text_article("b.txt", "B", "bravo")
        # No arguments: every recorded root is synced.
        assert ix.update().added == 2
        assert ix.stats().roots == (str(corpus.root), str(other.root))


def test_an_index_inside_the_corpus_root_is_not_indexed(tmp_path, monkeypatch):
    corpus = Corpus(tmp_path / "project")
    corpus.write_text_article("notes/a.txt", "A", "alpha")
    monkeypatch.chdir(corpus.root)
    with Index("index") as ix:  # ./index under the root being indexed
        assert ix.update(["."]).added == 1
        report = ix.update(["."])
    assert (report.added, report.unchanged) == (0, 1)
    assert set(indexed(corpus.root / "index")) == {"notes/a.txt"}


def test_each_bad_input_is_named_once_and_the_rest_is_indexed(tmp_path, monkeypatch):
    corpus = Corpus(tmp_path / "corpus")
    corpus.write_text_article("good.txt", "Good article", "fine words")
    root = corpus.root
    (root / "binary.dat").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "empty.txt").write_bytes(b"")
    (root / "huge.txt").write_bytes(b"Huge\n" + b"word " * 1000)
    (root / "latin1.txt").write_bytes("Caf\xe9 news\nLe caf\xe9 ouvre.\n".encode("latin-1"))
    (root / "feed.jsonl").write_text(
        '{"id": "f1", "title": "First", "body": "one"}\n'
        "{broken json\n"
        '{"id": "f3", "title": "Third", "body": "three"}\n',
        encoding="utf-8",
    )
    (root / "post.eml").write_text(
        "From: a@example.org\nSubject: Broken header\nthis line is no header\n\nBody.\n",
        encoding="utf-8",
    )
    (root / "secret-link.txt").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text("Outside\nsecret words\n", encoding="utf-8")
    (root / "locked.txt").write_text("Locked\nunreadable words\n", encoding="utf-8")

    real_open = open

    def open_refusing_locked(path, *args, **kwargs):
        # Tests run as root, for whom chmod 000 does not stop a read.
        if str(path).endswith("locked.txt"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", open_refusing_locked)
    seen = []
    with Index(tmp_path / "index") as ix:
        report = ix.update([root], max_file_size=2000, on_problem=seen.append)
    assert seen == list(report.problems)
    reasons = {Path(p.path).name: (p.reason, p.skipped) for p in report.problems}
    assert reasons["binary.dat"] == ("binary file", True)
    assert reasons["empty.txt"] == ("empty file", True)
    assert reasons["huge.txt"][1] and "over the 2,000-byte limit" in reasons["huge.txt"][0]
    assert reasons["latin1.txt"][1] is False and "not valid UTF-8" in reasons["latin1.txt"][0]
    assert reasons["feed.jsonl:2"][1] is True
    assert reasons["post.eml"][1] is False and "header" in reasons["post.eml"][0]
    assert reasons["secret-link.txt"] == (
        "symlink leads outside the corpus root, not followed",
        True,
    )
    assert reasons["locked.txt"] == ("cannot read: Permission denied", True)
    assert report.skipped == sum(1 for p in report.problems if p.skipped) == 6
    assert report.warnings == 2
    docs = indexed(tmp_path / "index")
    assert set(docs) == {"good.txt", "latin1.txt", "f1", "f3", "post.eml"}
    assert docs["latin1.txt"][0] == "Café news"
    assert not any("secret" in body for _, body, _ in docs.values())


def test_an_update_removes_the_half_built_generation_of_a_killed_rebuild(tmp_path):
    corpus = Corpus(tmp_path / "corpus")
    corpus.write_text_article("a.txt", "A", "alpha")
    index_path = tmp_path / "index"
    with Index(index_path) as ix:
        ix.update([corpus.root])
        ix.update(rebuild=True)  # gen 2 live, gen 1 kept for old searchers
        directory = IndexDirectory(index_path)
        live = directory.read_meta().current
        half_built = directory.generation_path("gen-000009")
        os.makedirs(half_built)  # what a rebuild killed mid-way leaves
        (Path(half_built) / "MAIN_x.seg").write_bytes(b"partial")
        ix.update()
    assert directory.generations() == ["gen-000001", live]


def test_an_article_of_stop_words_only_is_indexed(tmp_path):
    # Found by the long fuzz run: spelling words but no index terms crashed Whoosh's writer.
    corpus = Corpus(tmp_path / "corpus")
    corpus.write_text_article("a.txt", "FROM", "of the and")
    corpus.write_text_article("b.txt", "Harbour news", "cranes")
    with Index(tmp_path / "index") as ix:
        assert ix.update([corpus.root]).added == 2
    assert indexed(tmp_path / "index") == corpus.as_index_sees_it()


def test_stats_as_dict_reports_what_the_documents_hold(tmp_path):
    dates = ["1987-02-26", "1987-03-01", "1988", None, "1987-02"]
    topics = [("cocoa",), ("cocoa", "coffee"), ("grain",), (), ("cocoa",)]
    docs = [
        Document(
            id=f"d{i}",
            title=f"title {i}",
            body=f"body {i}",
            date=PartialDate.parse(when) if when else None,
            fields={"topics": tags} if tags else {},
        )
        for i, (when, tags) in enumerate(zip(dates, topics, strict=True))
    ]
    before = datetime.now(timezone.utc).replace(microsecond=0)
    with Index(tmp_path / "idx") as ix:
        ix.add(docs[:3])
        ix.add(docs[3:])
        stats = ix.stats()
    data = stats.as_dict()
    dated = [PartialDate.parse(d) for d in dates if d]
    keys = {
        "year": {d.year_key for d in dated},
        "month": {d.month_key for d in dated if d.month_key},
        "day": {d.day_key for d in dated if d.day_key},
        "topics": {t for tags in topics for t in tags},
    }
    folder = tmp_path / "idx" / IndexDirectory(tmp_path / "idx").read_meta().current
    assert data == {
        "path": str(tmp_path / "idx"),
        "documents": len(docs),
        "earliest": min(dated, key=lambda d: d.start).isoformat(),
        "latest": max(dated, key=lambda d: d.start).isoformat(),
        "fields": {name: len(keys[name]) for name in sorted(keys)},
        "size_bytes": sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
        "segments": 2,
        "roots": [],
        "last_update": data["last_update"],
        "generation": folder.name,
    }
    assert datetime.fromisoformat(data["last_update"]) >= before
    assert data["last_update"] == stats.last_update.isoformat()
    assert json.loads(json.dumps(data)) == data
    assert [f.as_dict() for f in stats.fields] == [
        {"name": name, "distinct": len(keys[name])} for name in sorted(keys)
    ]


def test_commits_merge_tiny_segments_and_never_rewrite_larger_ones(tmp_path, monkeypatch):
    # Whoosh's MERGE_SMALL merged every segment once there were enough of them (at 500k
    # articles: ~110,000 documents re-added in one commit). Scaled down: "tiny" is < 5.
    from searchkit._whoosh import writing

    monkeypatch.setattr(writing, "TINY_SEGMENT", 5)
    path = tmp_path / "index"

    def batch(name: str, size: int) -> list[Document]:
        return [Document(id=f"{name}-{i}", title=f"{name} {i}", body="words") for i in range(size)]

    with Index(path) as index:
        for k in range(8):
            index.add(batch(f"big{k}", 6))
        assert segment_count(path) == 8  # none is tiny: none merged
        for k in range(writing.MERGE_TINY_AT):
            index.add(batch(f"tiny{k}", 2))
            assert segment_count(path) == 9 + k
        index.add(batch("last", 2))  # MERGE_TINY_AT tiny ones: merged, with this commit's
        assert segment_count(path) == 9
        everything = {h.id for h in index.search("*", limit=1000).hits}
    expected = {d.id for k in range(8) for d in batch(f"big{k}", 6)}
    expected |= {d.id for k in range(writing.MERGE_TINY_AT) for d in batch(f"tiny{k}", 2)}
    expected |= {d.id for d in batch("last", 2)}
    assert everything == expected
