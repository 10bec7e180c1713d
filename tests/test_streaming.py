"""Streaming: a JSON Lines file is read record by record, the size limit applies to one record,
not to a collection file, and reading it needs memory for a chunk, not for the file.

The expected documents are computed independently with `parse_file` on the whole file, the
readers' contract (`helpers.expected_documents`); the chunks are made small here so that a
file of a few hundred records crosses many chunk and block boundaries.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import expected_documents

from searchkit import Index, reading
from searchkit.corpus import scan
from searchkit.reading import ReadTask, read_corpus_file

LIMIT = 2_000  # bytes: the record limit the tests give as `max_file_size`


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks and blocks of a few hundred bytes, so that every boundary case occurs."""
    monkeypatch.setattr(reading, "STREAM_CHUNK", 3_000)
    monkeypatch.setattr(reading, "_BLOCK", 700)


def _records(rng: random.Random, count: int) -> list[str]:
    """Lines of a JSON Lines file: records with and without ids, blank lines, bad JSON."""
    lines = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.04:
            lines.append("{not json")
        elif roll < 0.08:
            lines.append("")
        else:
            record = {
                "title": f"Story {i} " + "x" * rng.randrange(0, 200),
                "body": " ".join(f"word{rng.randrange(500)}" for _ in range(rng.randrange(5, 60))),
                "topics": [f"t{rng.randrange(5)}"],
            }
            if rng.random() < 0.6:
                record["id"] = f"rec-{i}"
            lines.append(json.dumps(record))
    return lines


def _write_feed(path: Path, rng: random.Random, count: int, *, oversize_at: int) -> int:
    """A feed with CRLF and LF line ends and one record over `LIMIT` at line `oversize_at`
    (1-based); returns the length of that record's line."""
    lines = _records(rng, count)
    big = {"id": "too-big", "title": "Huge", "body": "y " * LIMIT}
    lines[oversize_at - 1] = json.dumps(big)
    head, tail = lines[:50], lines[50:]
    path.write_bytes(("\r\n".join(head) + "\r\n" + "\n".join(tail) + "\n").encode("utf-8"))
    return len(lines[oversize_at - 1])


def test_a_jsonl_file_over_the_limit_is_indexed_record_by_record(small_chunks, tmp_path: Path):
    """Was: `skipped: feed.jsonl: file is N bytes, over the 2,000-byte limit`, nothing indexed."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    feed = corpus / "feed.jsonl"
    size = _write_feed(feed, random.Random(7), 400, oversize_at=123)
    assert feed.stat().st_size > 20 * LIMIT
    expected = expected_documents(corpus)
    assert "too-big" in expected  # what a whole read gives; the limit must drop it
    del expected["too-big"]

    problems = []
    with Index(tmp_path / "idx") as ix:
        report = ix.update([corpus], max_file_size=LIMIT, workers=1, on_problem=problems.append)
        got = {d.id: d for d in ix.documents()}

    assert report.added == len(expected)
    assert got == expected
    oversize = [p for p in problems if "over the" in p.reason]
    assert [(p.path, p.skipped) for p in oversize] == [(f"{feed}:123", True)]
    assert f"record is {size:,} bytes, over the {LIMIT:,}-byte limit" in oversize[0].reason
    # Every bad line is named by its line number, as a whole read names it.
    bad = sorted(p.path for p in problems if "bad JSON" in p.reason)
    whole = reading.parse_file(feed.read_bytes(), path=str(feed), id_base="feed.jsonl", folder="")
    assert bad == sorted(p.path for p in whole.problems if "bad JSON" in p.reason)


def test_a_file_that_is_not_json_lines_keeps_the_file_limit(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "long.txt").write_text("A title\n" + "word " * LIMIT, encoding="utf-8")
    files, problems = scan([str(corpus)], max_file_size=LIMIT)
    assert files == []
    assert "over the 2,000-byte limit" in problems[0].reason


def test_streamed_reading_gives_what_a_whole_read_gives(small_chunks, tmp_path: Path):
    """The documents of a streamed read, and of a read in parts each starting where the last
    stopped, are those of one whole read, ids of records without one (`file#line`) included."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    feed = corpus / "feed.jsonl"
    rng = random.Random(11)
    lines = _records(rng, 300)
    lines.insert(40, json.dumps({"title": "Caf\u00e9", "body": "na\u00efve"}))
    data = ("\n".join(lines[:90]) + "\r\n" + "\r\n".join(lines[90:]) + "\n").encode("utf-8")
    # One line that is not UTF-8: decoded on its own, with a warning naming it.
    data += b'{"id": "latin", "title": "Cr\xe8me", "body": "br\xfbl\xe9e"}\n'
    feed.write_bytes(data)
    whole = reading.parse_file(data, path=str(feed), id_base="feed.jsonl", folder="")
    (cf,) = scan([str(corpus)], max_file_size=LIMIT)[0]

    streamed = read_corpus_file(ReadTask(cf, record_limit=LIMIT))
    assert streamed.streamed and not streamed.partial
    assert list(streamed.documents) == list(whole.documents)
    assert any(p.path == f"{feed}:{len(lines) + 1}" for p in streamed.problems)

    parts = []
    task = ReadTask(cf, budget=9_000, record_limit=LIMIT)
    while True:
        outcome = read_corpus_file(task)
        parts.append(outcome)
        if not outcome.partial:
            break
        assert (
            outcome.file.size < cf.size and data[outcome.file.size - 1 : outcome.file.size] == b"\n"
        )
        task = ReadTask(cf, outcome.content_hash, outcome.file.size, 9_000, LIMIT)
    assert len(parts) > 3
    assert all(p.appended for p in parts[1:])
    assert [d for p in parts for d in p.documents] == list(whole.documents)
    assert parts[-1].content_hash == streamed.content_hash


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_line_past_the_record_limit_is_passed_over_in_bounded_memory(tmp_path: Path):
    """A 300 MB JSON Lines file of which most lines are over the record limit: a build reads
    it with a peak RSS far below the file's size (a coarse bound; the figures are in bench/),
    and indexes the records that fit."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    feed = corpus / "dump.jsonl"
    huge = json.dumps({"title": "Huge", "body": "z" * (3 * 1024 * 1024)}).encode() + b"\n"
    with open(feed, "wb") as f:
        for i in range(100):
            f.write(json.dumps({"id": f"ok-{i}", "title": f"Fits {i}", "body": "fine"}).encode())
            f.write(b"\n")
            f.write(huge)
    assert feed.stat().st_size > 300 * 1024 * 1024
    script = textwrap.dedent(
        """
        import json, sys
        from searchkit import Index
        with Index(sys.argv[1]) as ix:
            report = ix.update([sys.argv[2]], max_file_size=1024 * 1024, workers=1)
            count = ix.stats().documents
        # VmHWM: this process image's own peak. ru_maxrss would also count the pytest
        # process this one was forked from (Linux keeps it across exec).
        with open("/proc/self/status") as f:
            hwm = [line.split()[1] for line in f if line.startswith("VmHWM:")]
        peak = int(hwm[0]) * 1024
        print(json.dumps({"peak": peak, "documents": count, "skipped": report.skipped}))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "idx"), str(corpus)],
        capture_output=True,
        text=True,
        timeout=280,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["documents"] == 100
    assert result["skipped"] == 100
    assert result["peak"] < 200 * 1024 * 1024, f"peak RSS {result['peak']:,} bytes"
