"""Gzipped files: read as the format inside, the size limit applied to what they expand to,
damaged, cut and bomb files reported and skipped."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
import zlib
from pathlib import Path

from helpers import stored_documents

from searchkit import Index
from searchkit.readers import MAX_DECOMPRESSED_SIZE, parse_file

ARTICLE = "Harbour cranes idle\nDockers in Rotterdam stopped work on Monday over pay.\n"
RECORDS = [
    {"id": "wire-1", "title": "Cocoa rises", "body": "Cocoa futures rose.", "topics": ["cocoa"]},
    {"id": "wire-2", "title": "Coffee falls", "body": "Coffee futures fell."},
]


def parse(data: bytes, name: str, **options):
    return parse_file(data, path=name, id_base=name, folder="", **options)


def bomb(expanded: int) -> bytes:
    """`expanded` bytes of spaces, gzipped (about 1/230 of that), written in steps."""
    packer = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    step = b" " * (1 << 20)
    parts = [packer.compress(step) for _ in range(expanded >> 20)]
    return b"".join(parts) + packer.flush()


def test_a_gzipped_file_is_read_as_the_format_inside():
    plain = parse(ARTICLE.encode(), "cranes.txt").documents
    (doc,) = parse(gzip.compress(ARTICLE.encode()), "cranes.txt.gz").documents
    assert doc.id == "cranes.txt.gz"
    assert (doc.title, doc.body) == ("Harbour cranes idle", ARTICLE.split("\n", 1)[1].strip())
    assert (doc.title, doc.body) == (plain[0].title, plain[0].body)
    lines = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
    docs = parse(gzip.compress(lines), "wire.jsonl.gz").documents
    assert [(d.id, d.title, d.body) for d in docs] == [
        (r["id"], r["title"], r["body"]) for r in RECORDS
    ]
    assert docs[0].fields["topics"] == ("cocoa",)


def test_gzip_is_known_by_its_content_and_every_member_is_read():
    two_members = gzip.compress(b"Harbour cranes idle\nDockers ") + gzip.compress(b"stopped.\n")
    (doc,) = parse(two_members, "cranes").documents
    assert (doc.title, doc.body) == ("Harbour cranes idle", "Dockers stopped.")


def test_a_cut_or_damaged_gzip_file_is_reported_and_skipped():
    packed = gzip.compress((ARTICLE * 200).encode())
    damaged = bytearray(packed)
    damaged[len(damaged) // 2 : len(damaged) // 2 + 8] = b"\xff" * 8
    for data, words in (
        (packed[: len(packed) // 2], "cut short"),
        (packed[:5], "cut short"),
        (bytes(damaged), "damaged gzip"),
        (gzip.compress(gzip.compress(ARTICLE.encode())), "gzip inside gzip"),
    ):
        result = parse(data, "cranes.txt.gz")
        assert result.documents == ()
        assert [(p.skipped, words in p.reason) for p in result.problems] == [(True, True)]


def test_a_gzip_bomb_stops_at_the_limit_without_filling_memory():
    data = bomb(1 << 28)  # 256 MiB of spaces in about 1.2 MB
    assert len(data) < 2 << 20
    limit = 8 << 20
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = parse(data, "bomb.txt.gz", max_size=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.documents == ()
    (problem,) = result.problems
    assert problem.skipped and "size limit" in problem.reason
    # Stopped at the limit: a whole expansion would hold 256 MiB.
    assert peak < 4 * limit
    assert time.perf_counter() - started < 5


def test_the_default_limit_applies_to_what_a_file_expands_to():
    assert MAX_DECOMPRESSED_SIZE == 100 * 1024 * 1024
    result = parse(bomb(MAX_DECOMPRESSED_SIZE + (1 << 20)), "bomb.jsonl.gz")
    assert [p.skipped for p in result.problems] == [True]
    # Just under the limit is read.
    small = gzip.compress(b"Spaces\n" + b" " * (2 << 20) + b"end\n")
    (doc,) = parse(small, "spaces.txt.gz").documents
    assert doc.body == "end"


def test_bad_gzip_files_cost_only_themselves_in_an_index(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "cranes.txt.gz").write_bytes(gzip.compress(ARTICLE.encode()))
    (corpus / "cut.txt.gz").write_bytes(gzip.compress((ARTICLE * 100).encode())[:60])
    (corpus / "bomb.txt.gz").write_bytes(bomb(MAX_DECOMPRESSED_SIZE + (1 << 20)))
    (corpus / "note.txt").write_text("A note\nOn cranes.\n", encoding="utf-8")
    with Index(tmp_path / "index") as index:
        report = index.update([corpus])
    assert sorted(stored_documents(tmp_path / "index")) == ["cranes.txt.gz", "note.txt"]
    skipped = sorted(Path(p.path).name for p in report.problems if p.skipped)
    assert skipped == ["bomb.txt.gz", "cut.txt.gz"]


def test_the_index_size_limit_is_the_limit_a_compressed_file_may_expand_to(tmp_path: Path):
    """`update(max_file_size=...)` (`--max-size`) bounds what a `.gz` inflates to."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    big = ("Cranes\n" + "cranes idle at the port " * 80_000).encode()  # about 1.9 MB
    (corpus / "big.txt.gz").write_bytes(gzip.compress(big))
    (corpus / "note.txt").write_text("A note\nOn cranes.\n", encoding="utf-8")
    with Index(tmp_path / "small") as index:
        report = index.update([corpus], max_file_size=1 << 20)
    assert sorted(stored_documents(tmp_path / "small")) == ["note.txt"]
    (problem,) = [p for p in report.problems if p.skipped]
    assert Path(problem.path).name == "big.txt.gz" and "1,048,576-byte" in problem.reason
    with Index(tmp_path / "large") as index:
        index.update([corpus], max_file_size=4 << 20)
    assert sorted(stored_documents(tmp_path / "large")) == ["big.txt.gz", "note.txt"]
