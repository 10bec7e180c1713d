"""Never block on a file (issue 8, class 5): FIFOs, sockets and devices in a corpus are skipped
with a message, and a file swapped for one between the scan and the read is refused without
waiting. The scenarios that hung before run in a subprocess with a timeout, so a regression
fails instead of hanging the suite."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from searchkit import Index

GOOD = {"id": "good", "title": "Cocoa harvest", "body": "Rain in Bahia helped the cocoa crop."}


def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(GOOD))
    return folder


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (this checkout's searchkit), failing if it takes too long."""
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout} s: reading blocked")


def reasons_for(report, path: Path) -> list[str]:
    return [p.reason for p in report.problems if p.path == str(path)]


def test_a_fifo_in_the_corpus_is_skipped_with_a_message(tmp_path):
    folder = corpus(tmp_path)
    fifo = folder / "pipe.txt"
    os.mkfifo(fifo)
    with Index(tmp_path / "ix") as index:
        report = index.update([folder])
        assert reasons_for(report, fifo) == ["a FIFO (named pipe), not a regular file: not read"]
        assert [h.id for h in index.search("cocoa").hits] == ["good"]


def test_a_unix_socket_in_the_corpus_is_skipped_with_a_message(tmp_path):
    folder = corpus(tmp_path)
    path = folder / "listening.sock.txt"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        with Index(tmp_path / "ix") as index:
            report = index.update([folder])
            assert reasons_for(report, path) == ["a socket, not a regular file: not read"]
            assert [h.id for h in index.search("cocoa").hits] == ["good"]
    finally:
        server.close()


def test_a_character_device_in_the_corpus_is_skipped_with_a_message(tmp_path):
    folder = corpus(tmp_path)
    device = folder / "null.txt"
    try:
        # The same device as /dev/null: a symlink to /dev/null leads outside the root and is
        # refused for that, so the device node itself has to be inside the corpus.
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"cannot create a device node here ({exc.strerror}): needs root")
    with Index(tmp_path / "ix") as index:
        report = index.update([folder])
        assert reasons_for(report, device) == ["a character device, not a regular file: not read"]
        assert [h.id for h in index.search("cocoa").hits] == ["good"]


def test_a_fifo_given_as_the_corpus_root_is_skipped_with_a_message(tmp_path):
    folder = corpus(tmp_path)
    fifo = tmp_path / "root.jsonl"
    os.mkfifo(fifo)
    result = run_python(
        """
        import sys
        from searchkit import Index
        with Index(sys.argv[1]) as index:
            report = index.update([sys.argv[2], sys.argv[3]])
            print([(p.path, p.reason) for p in report.problems])
            print(index.search("cocoa").total)
        """,
        str(tmp_path / "ix"),
        str(folder),
        str(fifo),
    )
    assert result.returncode == 0, result.stderr
    problems, total = result.stdout.splitlines()
    assert eval(problems) == [(str(fifo), "a FIFO (named pipe), not a regular file: not read")]
    assert total == "1"


def test_a_file_swapped_for_a_fifo_after_the_scan_is_refused_without_blocking(tmp_path):
    folder = corpus(tmp_path)
    victim = folder / "victim.json"
    victim.write_text(json.dumps({"id": "victim", "title": "Cocoa", "body": "cocoa"}))
    # The scan sees a regular file; before the read, it becomes a FIFO no one writes to.
    result = run_python(
        """
        import os, sys
        import searchkit.indexer as indexer
        from searchkit import Index

        real_scan = indexer.scan

        def scan_then_swap(*args, **kwargs):
            found = real_scan(*args, **kwargs)
            os.remove(sys.argv[3])
            os.mkfifo(sys.argv[3])
            return found

        indexer.scan = scan_then_swap
        with Index(sys.argv[1]) as index:
            report = index.update([sys.argv[2]], workers=1)
            print([(p.path, p.reason) for p in report.problems])
            print(sorted(h.id for h in index.search("cocoa").hits))
        """,
        str(tmp_path / "ix"),
        str(folder),
        str(victim),
    )
    assert result.returncode == 0, result.stderr
    problems, ids = result.stdout.splitlines()
    reason = "cannot read: a FIFO (named pipe), not a regular file: not read"
    assert eval(problems) == [(str(victim), reason)]
    assert eval(ids) == ["good"]


def test_reading_a_corpus_file_that_became_a_fifo_returns_a_problem(tmp_path):
    folder = corpus(tmp_path)
    result = run_python(
        """
        import os, sys
        from searchkit.corpus import scan
        from searchkit.reading import ReadTask, read_corpus_file

        (good,), _ = scan([sys.argv[1]])
        os.remove(good.path)
        os.mkfifo(good.path)
        outcome = read_corpus_file(ReadTask(good))
        print(outcome.content_hash, [p.reason for p in outcome.problems])
        """,
        str(folder),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "None ['cannot read: a FIFO (named pipe), not a regular file: not read']"
    )


def test_an_indexed_file_that_became_a_fifo_keeps_its_documents_and_is_reported(tmp_path):
    # As for any file the scan skips (unreadable, too large): a skipped file is not a deleted
    # one, so its articles stay until it is readable again or removed.
    folder = corpus(tmp_path)
    victim = folder / "victim.json"
    victim.write_text(json.dumps({"id": "victim", "title": "Cocoa", "body": "cocoa"}))
    with Index(tmp_path / "ix") as index:
        index.update([folder])
        victim.unlink()
        os.mkfifo(victim)
        report = index.update([folder])
        assert reasons_for(report, victim) == ["a FIFO (named pipe), not a regular file: not read"]
        assert (report.deleted, report.added) == (0, 0)
        assert sorted(h.id for h in index.search("cocoa").hits) == ["good", "victim"]
