"""The file of every document's lengths, dates and facet values that an indexing run writes
for its searchers (issue 10): a new searcher answers from it alone, with the same results as
one that lays the arrays out segment by segment; a file that does not fit the searcher's
segments (a commit since, damage) is passed over.

Expected facet counts and totals are computed in plain Python over the documents written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import FACETS, expected_facets, make_documents

import searchkit.facets
import searchkit.scoring
from searchkit import Document, Index, document_arrays
from searchkit.facets import DocumentValues
from searchkit.store import IndexDirectory

pytestmark = pytest.mark.timeout(120)

QUERIES = ("*", "cocoa", "storm rates", "grain OR ship")


@pytest.fixture(autouse=True)
def two_segments_suffice(monkeypatch):
    # The file is written for indexes of MIN_SEGMENTS (8) or more: two keeps the tests small.
    monkeypatch.setattr(document_arrays, "MIN_SEGMENTS", 2)


def write_jsonl(path: Path, docs: list[Document]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            record: dict = {"id": d.id, "title": d.title, "body": d.body}
            record.update({k: list(v) for k, v in d.fields.items()})
            if d.date:
                record["date"] = d.date.isoformat()
            f.write(json.dumps(record) + "\n")


def build(tmp_path: Path, docs: list[Document], runs: int) -> Path:
    """An index of `docs` made by `runs` indexing runs, each adding its share as a segment."""
    corpus = tmp_path / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    share = -(-len(docs) // runs)
    for run in range(runs):
        write_jsonl(corpus / f"part-{run}.jsonl", docs[run * share : (run + 1) * share])
        with Index(tmp_path / "ix") as index:
            index.update([corpus])
    return tmp_path / "ix"


def generation_folder(path: Path) -> Path:
    _, ix = IndexDirectory(path).open_current()
    return Path(ix.storage.folder)


def arrays_files(path: Path) -> list[Path]:
    return sorted(generation_folder(path).glob("documents-*.arrays"))


def segment_count(path: Path) -> int:
    _, ix = IndexDirectory(path).open_current()
    return len(ix.segment_names())


def answers(index: Index) -> list:
    """Everything a search returns that the arrays decide: hits, scores, order, facets."""
    out = []
    for query in QUERIES:
        for sort in ("relevance", "date", "-date"):
            r = index.search(query, facets=FACETS, limit=15, sort=sort, fragments=0)
            out.append(
                (
                    query,
                    sort,
                    r.total,
                    [(h.id, round(h.score, 9)) for h in r.hits],
                    {name: [(c.value, c.count) for c in r.facets[name]] for name in FACETS},
                )
            )
    return out


def refuse_laying_out(monkeypatch) -> None:
    """From now on, laying an array out segment by segment fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("an array was laid out segment by segment")

    monkeypatch.setattr(searchkit.scoring, "field_lengths", refuse)
    monkeypatch.setattr(searchkit.facets, "read_ordinals", refuse)
    monkeypatch.setattr(searchkit.facets, "build_column", refuse)
    monkeypatch.setattr(DocumentValues, "_segment_dates", refuse)


def counted(index: Index, query: str) -> dict[str, list[tuple[str, int]]]:
    results = index.search(query, facets=FACETS, limit=3)
    return {name: [(c.value, c.count) for c in results.facets[name]] for name in FACETS}


def test_each_run_leaves_one_file_for_its_segments_written_by_another_process(
    tmp_path, monkeypatch
):
    def not_here(*args):
        raise AssertionError("the indexing process laid the arrays out itself")

    monkeypatch.setattr(document_arrays, "_laid_out", not_here)
    docs = make_documents(90)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seen = []
    for run in range(3):
        write_jsonl(corpus / f"part-{run}.jsonl", docs[run * 30 : (run + 1) * 30])
        with Index(tmp_path / "ix") as index:
            index.update([corpus])
        assert segment_count(tmp_path / "ix") == run + 1
        seen.append([p.name for p in arrays_files(tmp_path / "ix")])
    assert seen[0] == []  # one segment: below MIN_SEGMENTS
    assert len(seen[1]) == 1 and len(seen[2]) == 1
    assert seen[1] != seen[2]  # made for the new segments; the old one removed


def test_a_new_searcher_answers_from_the_file_alone(tmp_path, monkeypatch):
    docs = make_documents(120)
    path = build(tmp_path, docs, runs=3)
    assert len(arrays_files(path)) == 1
    refuse_laying_out(monkeypatch)
    with Index(path) as fresh:
        for word in (None, "cocoa", "storm"):
            assert counted(fresh, word or "*") == expected_facets(docs, word)
        dated = [d for d in docs if d.date and "grain" in f"{d.title} {d.body}".split()]
        r = fresh.search("grain", sort="date", limit=len(docs), fragments=0)
        by_id = {d.id: d for d in docs}
        hit_dates = [by_id[h.id].date.start for h in r.hits if by_id[h.id].date]
        assert hit_dates == sorted(d.date.start for d in dated)


def test_the_results_are_those_laid_out_segment_by_segment(tmp_path):
    path = build(tmp_path, make_documents(150, seed=3), runs=3)
    with Index(path) as fresh:
        from_file = answers(fresh)
    for f in arrays_files(path):
        f.unlink()
    with Index(path) as fresh:
        assert answers(fresh) == from_file


@pytest.mark.parametrize("damage", ["cut short", "zeros", "another index's"])
def test_a_damaged_or_foreign_file_is_passed_over(tmp_path, damage):
    docs = make_documents(90, seed=5)
    path = build(tmp_path, docs, runs=3)
    (file,) = arrays_files(path)
    with Index(path) as fresh:
        expected = answers(fresh)
    if damage == "cut short":
        file.write_bytes(file.read_bytes()[:200])
    elif damage == "zeros":
        file.write_bytes(b"\0" * file.stat().st_size)
    else:  # the file of an index of other documents, under this index's name
        other = build(tmp_path / "other", make_documents(60, seed=9), runs=2)
        file.write_bytes(arrays_files(other)[0].read_bytes())
    with Index(path) as fresh:
        assert answers(fresh) == expected
        assert counted(fresh, "*") == expected_facets(docs, None)


def test_a_commit_through_the_api_passes_the_file_over_until_the_next_run(tmp_path):
    # Runs of fewer documents than a parallel write: one segment each, three with the API's
    # (four would be merged into one: _whoosh.writing.merge_tiny).
    docs = make_documents(60, seed=11)
    path = build(tmp_path, docs, runs=2)
    assert segment_count(path) == 2
    (before,) = arrays_files(path)
    added = make_documents(80, seed=12)[60:]
    added = [
        Document(id=f"api-{d.id}", title=d.title, body=d.body, date=d.date, fields=d.fields)
        for d in added
    ]
    with Index(path) as index:
        index.add(added)
    assert segment_count(path) == 3
    assert arrays_files(path) == [before]  # an API commit writes none: it does not fit now
    with Index(path) as fresh:
        for word in (None, "crop"):
            assert counted(fresh, word or "*") == expected_facets(docs + added, word)
    with Index(path) as index:
        index.update([tmp_path / "corpus"])
    (after,) = arrays_files(path)
    assert after != before
    with Index(path) as fresh:
        assert counted(fresh, "harbour") == expected_facets(docs + added, "harbour")


def test_deletions_keep_the_file_and_leave_the_counts(tmp_path, monkeypatch):
    docs = make_documents(90, seed=13)
    path = build(tmp_path, docs, runs=3)
    (file,) = arrays_files(path)
    gone = {d.id for d in docs[::4]}
    with Index(path) as index:
        index.delete(gone)
    assert arrays_files(path) == [file]
    refuse_laying_out(monkeypatch)
    kept = [d for d in docs if d.id not in gone]
    with Index(path) as fresh:
        assert counted(fresh, "*") == expected_facets(kept, None)
        assert counted(fresh, "bond") == expected_facets(kept, "bond")


def test_an_index_merged_to_few_segments_keeps_no_file(tmp_path):
    path = build(tmp_path, make_documents(60), runs=3)
    assert len(arrays_files(path)) == 1
    with Index(path) as index:
        index.optimize()
    assert segment_count(path) == 1
    assert arrays_files(path) == []
