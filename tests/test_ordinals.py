"""Facet ordinals written beside each segment at commit (issue 10): a new process counts facets
from them without reading any value's postings, and a segment without a usable file (an older
index, a file cut short) is counted from its postings with the same answers.

Expected counts are computed in plain Python over the documents the test wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import FACETS, expected_facets, make_documents

import searchkit.facets
import searchkit.indexer
from searchkit import Index
from searchkit.facets import ORDINALS_EXTENSION
from searchkit.store import IndexDirectory

pytestmark = pytest.mark.timeout(120)


def counted(index: Index, query: str) -> dict[str, list[tuple[str, int]]]:
    results = index.search(query, facets=FACETS, limit=3)
    return {name: [(c.value, c.count) for c in results.facets[name]] for name in FACETS}


def generation_folder(path: Path) -> Path:
    meta, ix = IndexDirectory(path).open_current()
    return Path(ix.storage.folder)


def live_segment_ids(path: Path) -> set[str]:
    _, ix = IndexDirectory(path).open_current()
    return {s.segment_id() for s in ix._segments()}


def ordinals_files(path: Path) -> set[str]:
    return {
        p.name[: -len(ORDINALS_EXTENSION)]
        for p in generation_folder(path).iterdir()
        if p.name.endswith(ORDINALS_EXTENSION)
    }


def refuse_postings_walk(monkeypatch) -> None:
    """From now on, counting facets from postings fails the test: the files must answer."""

    def refuse(reader, name):
        raise AssertionError(f"facet {name!r} was made from postings")

    monkeypatch.setattr(searchkit.facets, "build_column", refuse)


def test_every_live_segment_has_an_ordinals_file_and_dead_ones_lose_theirs(tmp_path):
    docs = make_documents(60)
    with Index(tmp_path / "ix") as index:
        for start in range(0, 60, 20):
            index.add(docs[start : start + 20])
        assert ordinals_files(tmp_path / "ix") == live_segment_ids(tmp_path / "ix")
        assert len(live_segment_ids(tmp_path / "ix")) == 3
        index.optimize()
        (only,) = live_segment_ids(tmp_path / "ix")
        assert ordinals_files(tmp_path / "ix") == {only}


def test_a_new_process_counts_facets_from_the_files_alone(tmp_path, monkeypatch):
    docs = make_documents(90)
    with Index(tmp_path / "ix") as index:
        for start in range(0, 90, 30):
            index.add(docs[start : start + 30])
    refuse_postings_walk(monkeypatch)
    with Index(tmp_path / "ix") as fresh:
        for word in (None, "cocoa", "storm"):
            assert counted(fresh, word or "*") == expected_facets(docs, word)


def test_parallel_writers_write_the_files_of_their_segments(tmp_path, monkeypatch):
    monkeypatch.setattr(searchkit.indexer, "PARALLEL_WRITE_THRESHOLD", 10)
    docs = make_documents(80)
    folder = tmp_path / "docs"
    folder.mkdir()
    with open(folder / "all.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            record = {"id": d.id, "title": d.title, "body": d.body, **dict(d.fields)}
            if d.date:
                record["date"] = d.date.isoformat()
            f.write(
                json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in record.items()})
                + "\n"
            )
    with Index(tmp_path / "ix") as index:
        index.update([folder], workers=2)
        assert len(live_segment_ids(tmp_path / "ix")) == 2
        assert ordinals_files(tmp_path / "ix") == live_segment_ids(tmp_path / "ix")
    refuse_postings_walk(monkeypatch)
    with Index(tmp_path / "ix") as fresh:
        assert counted(fresh, "grain") == expected_facets(docs, "grain")


@pytest.mark.parametrize("damage", ["missing", "cut short", "not ours", "another segment's"])
def test_a_missing_or_damaged_file_is_counted_from_postings_alike(tmp_path, damage):
    docs = make_documents(60)
    with Index(tmp_path / "ix") as index:
        index.add(docs[:25])
        index.add(docs[25:])
    folder = generation_folder(tmp_path / "ix")
    first, second = sorted(folder.glob("*" + ORDINALS_EXTENSION), key=lambda p: p.stat().st_size)
    if damage == "missing":
        first.unlink()
    elif damage == "cut short":
        first.write_bytes(first.read_bytes()[:40])
    elif damage == "not ours":
        first.write_bytes(b"\0" * 4096)
    else:  # documents of a different count: the file does not fit the segment
        first.write_bytes(second.read_bytes())
    with Index(tmp_path / "ix") as fresh:
        for word in (None, "crop"):
            assert counted(fresh, word or "*") == expected_facets(docs, word)


def test_deleted_documents_leave_the_counts(tmp_path, monkeypatch):
    docs = make_documents(50)
    with Index(tmp_path / "ix") as index:
        index.add(docs)
        gone = {d.id for d in docs[::3]}
        index.delete(gone)
    refuse_postings_walk(monkeypatch)
    kept = [d for d in docs if d.id not in gone]
    with Index(tmp_path / "ix") as fresh:
        assert counted(fresh, "*") == expected_facets(kept, None)
        assert counted(fresh, "harbour") == expected_facets(kept, "harbour")
