"""Whole real corpora index without a crash, with exact counts and every problem named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REUTERS, SHARED, needs_shared, stored_documents

from searchkit import Index

CORPORA = SHARED / "corpora"


def stored_ids(index_path: Path) -> list[str]:
    return list(stored_documents(index_path))


@needs_shared
def test_bbc_folder_indexes_every_article(tmp_path):
    root = CORPORA / "bbc"
    files = sorted(p for p in root.rglob("*.txt"))
    with Index(tmp_path / "idx") as ix:
        report = ix.update([root])
    assert report.documents == report.added == len(files) == 2225
    ids = stored_ids(tmp_path / "idx")
    assert sorted(ids) == sorted(str(p.relative_to(root)) for p in files)
    # The corpus README is named and skipped; one file is not UTF-8: read with a fallback.
    assert sorted((Path(p.path).name, p.skipped) for p in report.problems) == [
        ("199.txt", False),
        ("README.TXT", True),
    ]
    stats = Index(tmp_path / "idx").stats()
    categories = {p.parent.name for p in files}
    assert {f.name: f.distinct for f in stats.fields}["folder"] == len(categories)


# A whole real corpus (or a dozen killed builds): minutes on a quiet machine, more
# when it is shared; a hang still fails with a stack, later.
@pytest.mark.timeout(1200)
@needs_shared
def test_20news_folder_indexes_every_post(tmp_path):
    root = CORPORA / "20news"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    undecodable = []
    for p in files:
        try:
            p.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            undecodable.append(str(p))
    with Index(tmp_path / "idx") as ix:
        report = ix.update([root])
        assert report.documents == report.added == len(files) == 19997
        assert report.skipped == 0
        # Every undecodable post is named; the rest of the warnings are dates, also named.
        decode_warnings = [p.path for p in report.problems if "UTF-8" in p.reason]
        assert sorted(decode_warnings) == undecodable
        others = [p for p in report.problems if "UTF-8" not in p.reason]
        assert all(p.reason.startswith("unparseable date") for p in others)
        assert ix.update().unchanged == 19997
    ids = stored_ids(tmp_path / "idx")
    assert len(ids) == len(set(ids)) == 19997


# A whole real corpus (or a dozen killed builds): minutes on a quiet machine, more
# when it is shared; a hang still fails with a stack, later.
@pytest.mark.timeout(1200)
@needs_shared
def test_reuters_jsonl_indexes_every_article_with_its_facets(reuters_index):
    records = [json.loads(line) for line in REUTERS.read_text(encoding="utf-8").splitlines()]
    with Index(reuters_index) as ix:  # built once per session by conftest
        stats = ix.stats()
        rerun = ix.update([REUTERS])
    assert stats.documents == len(records) == 21578
    assert (rerun.unchanged, rerun.skipped, rerun.changed) == (21578, 0, False)
    assert sorted(stored_ids(reuters_index)) == sorted(r["id"] for r in records)
    distinct = {f.name: f.distinct for f in stats.fields}
    for facet in ("topics", "places", "people", "orgs", "exchanges"):
        values = {v.lower() for r in records for v in r[facet] if v.strip()}
        assert distinct[facet] == len(values), facet
    dates = sorted(r["date"] for r in records)
    assert stats.earliest == dates[0] + "Z" and stats.latest == dates[-1] + "Z"
