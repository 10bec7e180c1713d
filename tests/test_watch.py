"""Watch mode: the index follows the corpus as files arrive, change and vanish, in few batches."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import Corpus, indexed

from searchkit import Index
from searchkit import watch as watch_module
from searchkit.errors import IndexLocked, WatcherRunning
from searchkit.index import INDEX_ENV
from searchkit.store import IndexDirectory
from searchkit.watch import Watcher

TIMEOUT = 20.0

# watchdog 7 warns, harmlessly, when a new folder is watched by two of its own paths at once.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


@pytest.fixture(autouse=True)
def index_path(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "index"
    monkeypatch.setenv(INDEX_ENV, str(path))
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    corpus = Corpus(tmp_path / "corpus")
    for i in range(3):
        corpus.write_text_article(f"seed/{i}.txt", f"Seed article {i}", f"seed body {i}")
    return corpus


def wait_until(condition, timeout: float = TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


class Batches(list):
    """on_batch: the reports, in order, appended from the watcher's thread."""

    def __call__(self, report) -> None:
        self.append(report)

    def wait_for(self, since: int, **counts: int) -> list:
        """The reports from `since` on, once their added/updated/deleted reach `counts`.

        Tests read the index only after this, never while the watcher may be committing: a
        reader opening the index during a commit is the concurrency tests' subject, not this
        module's (a no-op batch after these commits nothing).
        """

        def done() -> bool:
            reports = self[since:]
            return all(sum(getattr(r, k) for r in reports) >= n for k, n in counts.items())

        wait_until(done, what=f"batches with {counts}, got {[r.summary() for r in self[since:]]}")
        return self[since:]


def move(corpus: Corpus, old: str, new: str) -> None:
    title, body, _ = corpus.expected.pop(old)
    target = corpus.root / new
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(corpus.root / old, target)
    corpus.expected[new] = (title, body, str(target))


def test_catch_up_indexes_changes_made_while_no_watcher_ran(index_path, corpus):
    for i in range(5):
        corpus.write_text_article(f"old/{i}.txt", f"Old {i}", f"old body {i}")
    Index(index_path).update([corpus.root])
    for i in range(4):
        corpus.write_text_article(f"new/{i}.txt", f"New {i}", f"new body {i}")
    corpus.write_text_article("old/0.txt", "Old 0 revised", "revised body")
    corpus.delete("old/1.txt")

    batches = Batches()
    with Watcher(Index(index_path), [corpus.root], delay=0.2, on_batch=batches):
        # start() returns after the catch-up: no waiting, no file event needed.
        assert indexed(index_path) == corpus.as_index_sees_it()
        first = batches[0]
        assert (first.added, first.updated, first.deleted) == (4, 1, 1)


@pytest.mark.parametrize("mode", ["native", "poll", "native-unavailable"])
def test_bursts_converge_in_few_batches(index_path, corpus, mode, monkeypatch):
    if mode == "native-unavailable":

        def no_inotify(*args, **kwargs):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

        monkeypatch.setattr(watch_module, "Observer", no_inotify)
    batches = Batches()
    watcher = Watcher(
        Index(index_path),
        [corpus.root],
        delay=0.5,
        poll=mode == "poll",
        poll_interval=0.2,
        on_batch=batches,
    )
    with watcher:
        if mode == "native":
            assert watcher.observer_name not in (None, "polling")
            assert watcher.fallback_reason is None
        else:
            assert watcher.observer_name == "polling"
        if mode == "native-unavailable":
            assert watcher.fallback_reason == "inotify watch limit reached"

        before = len(batches)
        for i in range(250):
            corpus.write_text_article(f"burst/{i % 7}/{i}.txt", f"Burst {i}", f"burst body {i}")
        burst = batches.wait_for(before, added=250)
        assert indexed(index_path) == corpus.as_index_sees_it()
        assert 1 <= len(burst) <= 3
        assert sum(r.added for r in burst) == 250

        before = len(batches)
        for i in range(0, 40, 2):
            corpus.write_text_article(f"burst/{i % 7}/{i}.txt", f"Burst {i} v2", f"new body {i}")
        for i in range(1, 41, 2):
            corpus.delete(f"burst/{i % 7}/{i}.txt")
        move(corpus, "burst/0/245.txt", "moved/away.txt")
        burst = batches.wait_for(before, added=1, updated=20, deleted=21)
        assert indexed(index_path) == corpus.as_index_sees_it()
        assert 1 <= len(burst) <= 3
        assert sum(r.updated for r in burst) == 20
        assert sum(r.deleted for r in burst) == 20 + 1
        assert sum(r.added for r in burst) == 1


def test_file_written_in_two_halves_is_indexed_once_complete(index_path, corpus):
    batches = Batches()
    with Watcher(Index(index_path), [corpus.root], delay=1.0, on_batch=batches):
        path = corpus.root / "slow.txt"
        with open(path, "w", encoding="utf-8") as f:
            f.write("Slow feed article\nThe first half of the body")
            f.flush()
            time.sleep(0.25)  # well under the delay: the watcher must not read it yet
            f.write(" and the second half.\n")
        corpus.expected["slow.txt"] = (
            "Slow feed article",
            "The first half of the body and the second half.",
            str(path),
        )
        batches.wait_for(1, added=1)
        assert indexed(index_path) == corpus.as_index_sees_it()
    assert sum("slow.txt" in r.added_ids for r in batches) == 1
    assert not any("slow.txt" in r.updated_ids for r in batches)


@pytest.mark.parametrize("index_exists", [True, False], ids=["recorded-roots", "new-index"])
def test_without_paths_it_watches_the_roots_the_index_records(
    index_path, corpus, tmp_path, monkeypatch, index_exists
):
    monkeypatch.chdir(tmp_path)  # a new index's default root is ./corpus
    if index_exists:
        Index(index_path).update([corpus.root])
    batches = Batches()
    with Watcher(Index(index_path), delay=0.2, on_batch=batches) as watcher:
        assert watcher.roots == (str(corpus.root),)
        since = len(batches)
        corpus.write_text_article("later.txt", "Later", "arrived after the start")
        batches.wait_for(since, added=1)
        assert indexed(index_path) == corpus.as_index_sees_it()


def test_second_watcher_is_refused_until_the_first_stops(index_path, corpus):
    first = Watcher(Index(index_path), [corpus.root], delay=0.1).start()
    try:
        with pytest.raises(WatcherRunning):
            Watcher(Index(index_path), [corpus.root]).start()
        with pytest.raises(WatcherRunning):
            Watcher(Index(index_path)).run()
    finally:
        first.stop()
    again = Watcher(Index(index_path), [corpus.root], delay=0.1).start()
    assert again.watching
    again.stop()


class GatedIndex(Index):
    """An Index whose updates, once armed, wait at a gate: a batch 'in hand' for the test."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.armed = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def update(self, *args, **kwargs):
        if self.armed:
            self.entered.set()
            self.gate.wait(TIMEOUT)
        return super().update(*args, **kwargs)


def test_stop_from_another_thread_finishes_the_batch_in_hand(index_path, corpus):
    index = GatedIndex(index_path)
    watcher = Watcher(index, [corpus.root], delay=0.1)
    starter = threading.Thread(target=watcher.start)
    starter.start()
    starter.join(TIMEOUT)
    assert watcher.watching

    index.armed = True
    corpus.write_text_article("late.txt", "Late article", "arrives just before the stop")
    assert index.entered.wait(TIMEOUT)
    stopper = threading.Thread(target=watcher.stop)
    stopper.start()
    stopper.join(0.3)
    assert stopper.is_alive(), "stop() returned while a batch was still running"
    index.gate.set()
    stopper.join(TIMEOUT)
    assert not stopper.is_alive()
    assert not watcher.watching
    assert indexed(index_path) == corpus.as_index_sees_it()  # the batch was finished
    with IndexDirectory(index_path).watch_lock():
        pass


def test_stop_is_prompt_and_releases_the_lock(index_path, corpus):
    watcher = Watcher(Index(index_path), [corpus.root], delay=5.0).start()
    corpus.write_text_article("pending.txt", "Pending", "still settling when stopped")
    time.sleep(0.2)  # let the event arrive: stop must not wait out the 5 s delay
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 2.0
    assert not watcher.watching
    with IndexDirectory(index_path).watch_lock():
        pass


def test_a_locked_index_is_retried_not_fatal(index_path, corpus):
    errors: list = []
    batches = Batches()
    watcher = Watcher(
        Index(index_path),
        [corpus.root],
        delay=0.2,
        lock_timeout=0.1,
        on_batch=batches,
        on_error=errors.append,
    )
    with watcher:
        with IndexDirectory(index_path).write_lock(0):  # someone runs `searchkit index`
            corpus.write_text_article("while-locked.txt", "Locked", "written while locked")
            wait_until(lambda: errors, what="the watcher to meet the lock")
        batches.wait_for(1, added=1)
        assert indexed(index_path) == corpus.as_index_sees_it()
        assert watcher.watching
    assert all(isinstance(e, IndexLocked) for e in errors)


def test_a_vanished_root_keeps_its_documents_and_the_watcher_goes_on(index_path, tmp_path):
    """Issue 8, class 1: an unmounted disk is transient; the other roots stay in step."""
    feed, wire = Corpus(tmp_path / "feed"), Corpus(tmp_path / "wire")
    feed.write_text_article("a.txt", "A", "a body")
    wire.write_text_article("w.txt", "W", "w body")
    reports: list = []
    index = Index(index_path)
    watcher = Watcher(index, [feed.root, wire.root], delay=0.2, on_batch=reports.append).start()
    try:
        moved = tmp_path / "feed-unmounted"
        feed.root.rename(moved)
        wire.write_text_article("w2.txt", "W2", "second body")
        wait_until(
            lambda: {d.id for d in index.documents()} == {"a.txt", "w.txt", "w2.txt"},
            what="the other root to sync",
        )
        assert watcher.watching
        assert any(str(feed.root) in r.unavailable for r in reports), reports
        assert all(r.deleted == 0 for r in reports), reports
    finally:
        watcher.stop()
    watcher.join(TIMEOUT)  # ended without an error
    index.close()


def test_a_problem_is_reported_once_not_every_batch(index_path, corpus):
    (corpus.root / "empty.txt").write_text("", encoding="utf-8")
    problems: list = []
    batches = Batches()
    with Watcher(
        Index(index_path), [corpus.root], delay=0.2, on_batch=batches, on_problem=problems.append
    ):
        for i in range(2):
            corpus.write_text_article(f"more/{i}.txt", f"More {i}", "body")
            batches.wait_for(1, added=i + 1)
    assert indexed(index_path) == corpus.as_index_sees_it()
    assert len(batches) >= 3
    assert all(r.skipped == 1 for r in batches)
    assert [p.path for p in problems] == [str(corpus.root / "empty.txt")]


# -- the command line, as a real process receiving real signals --------------------------------


class WatchProcess:
    """`searchkit watch` in a subprocess, its stderr collected line by line."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "searchkit", "watch", *args],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, prefix: str) -> str:
        def found():
            assert self.proc.poll() is None, f"watch exited early: {self.lines}"
            return any(line.startswith(prefix) for line in self.lines)

        wait_until(found, what=f"a line starting {prefix!r} in {self.lines}")
        return next(line for line in self.lines if line.startswith(prefix))

    def added(self) -> int:
        """Documents added, summed over the batch lines so far."""
        return sum(int(m[1]) for line in self.lines if (m := re.search(r" (\d+) added, ", line)))

    def end(self, signum: int) -> int:
        self.proc.send_signal(signum)
        code = self.proc.wait(TIMEOUT)
        self.reader.join(TIMEOUT)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_watch_follows_the_corpus_and_exits_0_on_signal(tmp_path, index_path, corpus, signum):
    watch = WatchProcess(tmp_path, "corpus", "--delay", "0.3")
    try:
        started = watch.wait_for_line("watching ")
        assert "inotify" in started
        for i in range(60):
            corpus.write_text_article(f"cli/{i}.txt", f"Cli {i}", f"cli body {i}")
        wait_until(lambda: watch.added() >= 63, what=f"the CLI watcher's batches: {watch.lines}")
        assert indexed(index_path) == corpus.as_index_sees_it()
        code = watch.end(signum)
    finally:
        watch.kill()
    assert code == 0, watch.lines
    batch_lines = [line for line in watch.lines if " added, " in line]
    assert len(batch_lines) >= 2  # the catch-up, then the drop
    assert "3 added, 0 updated, 0 deleted, 0 unchanged" in batch_lines[0]
    assert not any("Traceback" in line for line in watch.lines)
    with IndexDirectory(index_path).watch_lock():
        pass


def test_cli_second_watch_exits_3_with_one_line(tmp_path, index_path, corpus):
    first = WatchProcess(tmp_path, "corpus", "--delay", "0.3", "--quiet")
    try:
        # The watch lock is taken before the catch-up writes the new index's pointer file.
        wait_until(lambda: os.path.exists(index_path / "searchkit.json"), what="the first index")
        second = subprocess.run(
            [sys.executable, "-m", "searchkit", "watch", "corpus"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert first.end(signal.SIGTERM) == 0
    finally:
        first.kill()
    assert second.returncode == 3
    assert second.stderr.splitlines() == [
        f"Error: index at {index_path} is already watched by another process"
        " (hint: stop the other `searchkit watch` first)"
    ]
    assert first.lines == []  # --quiet
