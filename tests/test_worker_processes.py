"""The worker processes of an update cannot hang it: a writer process (or a reading
process) that is killed, raises, exits without its result or never finishes, and a parent
that is interrupted, each end the run in bounded time with one clean error, nothing
committed, no worker process left, and the next run converging.

Each failing run happens in a `python` process of its own with a timeout (`finish`), so a
hang fails the test instead of the suite. The failure is injected by replacing what a worker
runs (`searchkit._whoosh.writing.write_segment`, `searchkit.reading.read_corpus_file`)
before the workers are forked; only the worker given `art-000.txt` fails, the others do
their work for real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import expected_documents, stored_documents, write_articles

from searchkit import Index
from searchkit.store import IndexDirectory

#: Seconds a failing run may take; the writer's own stall limit is set far below it.
RUN_TIMEOUT = 90

#: File names of the articles: the script below fails the worker given `art-000.txt`.
ARTICLE_NAME = "art-{:03d}.txt"

#: The script of a failing run: argv = mode, corpus, index, pid file.
SCRIPT = textwrap.dedent(
    """
    import errno, json, multiprocessing, os, signal, sys, time
    from searchkit import Index, SearchkitError
    from searchkit import reading
    from searchkit._whoosh import writing

    mode, corpus, index, pid_file = sys.argv[1:5]
    # A run started in the background by a non-interactive shell inherits SIGINT ignored (as
    # a CI job may be): Ctrl-C must reach this process as it reaches one in a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    writing.STALL_SECONDS = 2.0
    real_write_segment = writing.write_segment

    def failing_write_segment(folder, documents, **kwargs):
        with open(pid_file, "a") as f:
            f.write(f"{os.getpid()}\\n")
        if mode == "interrupt" or not any(d.id == "art-000.txt" for d in documents):
            if mode == "interrupt":
                time.sleep(3600)
            return real_write_segment(folder, documents, **kwargs)
        if mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "exit":
            os._exit(3)
        if mode == "raise":
            raise ValueError("an unexpected bug in a writer")
        if mode == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "x.seg")
        if mode == "stuck":
            time.sleep(3600)
        raise AssertionError(mode)

    def failing_read(task):
        with open(pid_file, "a") as f:
            f.write(f"{os.getpid()}\\n")
        if task.file.id_base == "art-000.txt":
            if mode == "read-sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "read-stuck":
                time.sleep(3600)
        return real_read(task)

    if mode.startswith("read-"):
        reading.PARALLEL_PARSE_THRESHOLD = 0  # read in processes, however small the corpus
        reading.STALL_SECONDS = 2.0
        real_read = reading.read_corpus_file
        reading.read_corpus_file = failing_read
    else:
        writing.write_segment = failing_write_segment
    try:
        Index(index).update([corpus], workers=2)
        outcome = {"error": None}
    except SearchkitError as exc:
        outcome = {"error": type(exc).__name__, "message": str(exc)}
    except KeyboardInterrupt:
        outcome = {"error": "KeyboardInterrupt"}
    # Before this process exits: which writer processes are still there?
    outcome["children"] = [p.pid for p in multiprocessing.active_children()]
    print(json.dumps(outcome))
    """
)


def expected(root: Path) -> dict[str, str]:
    return {doc_id: d.title for doc_id, d in expected_documents(root).items()}


def indexed(index: Path) -> dict[str, str]:
    return {doc_id: d["title"] for doc_id, d in stored_documents(index).items()}


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_failing(mode: str, corpus: Path, index: Path, pid_file: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode, str(corpus), str(index), str(pid_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: killed whole if it hangs
    )


def finish(process: subprocess.Popen, started: float) -> dict:
    """Wait for a failing run to end (killing it and failing the test if it hangs)."""
    try:
        stdout, stderr = process.communicate(
            timeout=max(1, RUN_TIMEOUT - (time.monotonic() - started))
        )
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"the run hung for {RUN_TIMEOUT} s")
    assert "Traceback" not in stderr, stderr
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture
def corpus_and_index(tmp_path):
    """An index of 5 articles; the corpus then gains 80 more (enough to write in parallel)."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, 5, start=100, name=ARTICLE_NAME)
    Index(index).update([corpus], workers=1)
    before = indexed(index), index_files(index)
    write_articles(corpus, 80, name=ARTICLE_NAME)
    return corpus, index, before


def index_files(index: Path) -> set[str]:
    """The files of the live generation: its segments, table of contents and manifest."""
    generation = IndexDirectory(index).read_meta().current
    return set(os.listdir(index / generation))


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("sigkill", "a writer process was killed by signal SIGKILL"),
        ("exit", "a writer process exited with status 3 before writing its segment"),
        ("raise", "a writer process failed: ValueError: an unexpected bug in a writer"),
        ("stuck", "a writer process made no progress for 2 s"),
        ("enospc", "No space left on device"),
        ("read-sigkill", "a reading process was killed by signal SIGKILL; nothing was written"),
        ("read-stuck", "a reading process made no progress for 2 s; nothing was written"),
    ],
)
def test_a_failed_worker_process_fails_the_run_cleanly_and_the_next_run_converges(
    corpus_and_index, tmp_path, mode, reason
):
    corpus, index, before = corpus_and_index
    pid_file = tmp_path / "writer-pids"
    started = time.monotonic()
    outcome = finish(start_failing(mode, corpus, index, pid_file), started)

    assert outcome["error"] == "IndexWriteError", outcome
    assert reason in outcome["message"], outcome
    assert outcome["children"] == [], "worker processes outlived the failed run"
    workers = {int(pid) for pid in pid_file.read_text().split()}
    assert workers  # the other may have been stopped before it began writing
    assert not any(alive(pid) for pid in workers)
    # Nothing committed, and nothing left of the failed write (segments, temporary files).
    assert (indexed(index), index_files(index)) == before

    report = Index(index).update([corpus], workers=2)
    assert report.added == 80
    assert indexed(index) == expected(corpus)


def test_an_interrupted_parent_stops_its_writer_processes(corpus_and_index, tmp_path):
    """Ctrl-C while both writer processes are busy: the run ends at once with
    KeyboardInterrupt, the writers are gone, nothing is committed, the next run converges."""
    corpus, index, before = corpus_and_index
    pid_file = tmp_path / "writer-pids"
    started = time.monotonic()
    process = start_failing("interrupt", corpus, index, pid_file)
    while not pid_file.exists() or len(pid_file.read_text().split()) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - started < RUN_TIMEOUT, "the writer processes never started"
        time.sleep(0.05)
    workers = [int(pid) for pid in pid_file.read_text().split()]
    os.killpg(process.pid, signal.SIGINT)  # to the whole process group, as Ctrl-C does
    interrupted = time.monotonic()
    outcome = finish(process, started)

    assert outcome["error"] == "KeyboardInterrupt", outcome
    assert time.monotonic() - interrupted < 30
    assert outcome["children"] == []
    assert not any(alive(pid) for pid in workers)
    assert (indexed(index), index_files(index)) == before
    Index(index).update([corpus], workers=2)
    assert indexed(index) == expected(corpus)


def test_parallel_writing_reports_progress_then_the_segments_it_finishes(tmp_path, monkeypatch):
    """The writing phase counts documents as writer processes add them (every REPORT_EVERY),
    then a "finishing segments" phase counts the segments whose files are written: the bar
    never sits at 100% while the slowest step of a build runs."""
    from searchkit._whoosh import writing

    monkeypatch.setattr(writing, "REPORT_EVERY", 10)  # forked writers inherit it
    corpus = tmp_path / "corpus"
    count = 240
    write_articles(corpus, count)
    calls: list[tuple[str, int, int]] = []
    with Index(tmp_path / "index") as index:
        index.update([corpus], workers=2, progress=lambda *call: calls.append(call))
        assert {d.id for d in index.documents()} == set(expected_documents(corpus))
    writing_calls = [(done, total) for phase, done, total in calls if phase == "writing"]
    finishing = [(done, total) for phase, done, total in calls if phase == "finishing segments"]
    assert all(total == count for _, total in writing_calls)
    done = [d for d, _ in writing_calls]
    assert done == sorted(done) and len(done) >= count // 10 - 2  # each writer every 10 docs
    assert 0 < max(done) < count  # 100% is the finishing phase's to say
    assert finishing[-1] == (2, 2) and [d for d, _ in finishing] == sorted(d for d, _ in finishing)
