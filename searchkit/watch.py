"""Watch mode: keep an index in step with its corpus roots as files appear, change and vanish.

A `Watcher` catches up once (`Index.update`), then listens to file events (watchdog: inotify on
Linux, else the platform's native API, else polling). Events only say *that* something changed:
after a settle delay without new events it runs one `Index.update` for the whole burst, which
rescans the roots and touches only what changed. So a burst of 1,000 files is one commit, a file
still being written is read once it is quiet, and a missed event can only delay a change until
the next event, never lose it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from watchdog import events as watchdog_events
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from .corpus import is_under, resolve_roots
from .documents import Problem
from .errors import IndexLocked, SearchkitError, UsageError
from .index import Index
from .planning import ProblemCallback, UpdateReport
from .store import IndexDirectory

#: `on_batch(report)`: called after every update the watcher runs, the catch-up included.
BatchCallback = Callable[[UpdateReport], None]
#: `on_error(error)`: a batch failed; the watcher keeps watching and retries it later.
ErrorCallback = Callable[[SearchkitError], None]

#: A steady trickle of events would postpone a batch for ever; wait at most this many delays.
MAX_WAIT_FACTOR = 10
#: Retries of a failed batch back off from `delay` up to this many seconds.
MAX_RETRY_INTERVAL = 30.0

#: Events that can mean a different corpus. Opened/closed-without-write are left out: the
#: watcher's own reading of the files would otherwise wake it again after every batch.
_CHANGE_EVENTS = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
# chmod can make an unreadable file readable; watchdog has the event from 6.0.x/7 on only
# (the release Python 3.10 installs lacks it).
if hasattr(watchdog_events, "FileAttribEvent"):
    _CHANGE_EVENTS.append(watchdog_events.FileAttribEvent)

log = logging.getLogger(__name__)


class Watcher:
    """Keeps an index in step with its corpus roots until stopped.

    `paths` are the roots to watch and sync (default: the roots recorded in the index). After
    `delay` seconds without new events (at most `MAX_WAIT_FACTOR` delays after the first one)
    one `Index.update` takes in the whole burst. `poll=True` polls every `poll_interval` seconds
    instead of using native events; polling is also the fallback when native events cannot
    start. `lock_timeout` is how long a batch waits for another writer before it is retried
    on a later round (default: the index's own).

    `on_batch(report)` follows every update, the catch-up included. `on_problem(problem)` gets
    each problem with a file once, when it first appears (not again every batch while it
    persists). `on_error(error)` gets a batch that failed and will be retried (another writer
    holds the lock, the disk is full); without it these go to the `searchkit.watch` logger.

    `run()` blocks; `start()` runs in a background thread. `stop()` from any thread (or a
    signal handler) lets the batch in hand finish, then releases the index. One watcher per
    index: a second one raises `WatcherRunning`. A Watcher runs once; make a new one to restart.
    """

    def __init__(
        self,
        index: Index,
        paths: Sequence[str | os.PathLike] | None = None,
        *,
        delay: float = 1.0,
        poll: bool = False,
        poll_interval: float = 1.0,
        on_batch: BatchCallback | None = None,
        on_problem: ProblemCallback | None = None,
        on_error: ErrorCallback | None = None,
        lock_timeout: float | None = None,
    ) -> None:
        if delay < 0:
            raise UsageError(f"delay must be zero or more seconds, not {delay!r}")
        if poll_interval <= 0:
            raise UsageError(f"poll interval must be positive, not {poll_interval!r}")
        self.index = index
        self.paths = [os.fspath(p) for p in paths] if paths else None
        self.delay = delay
        self.poll = bool(poll)
        self.poll_interval = poll_interval
        self.on_batch = on_batch
        self.on_problem = on_problem
        self.on_error = on_error
        # A separate Index only to carry another lock timeout: `update` opens no readers.
        self._writer = (
            index if lock_timeout is None else Index(index.path, lock_timeout=lock_timeout)
        )

        self._observation = _Observation(self._note_change)
        self._last_problems: frozenset[Problem] = frozenset()

        # Shared with the observer thread and stop(); reentrant because stop() may run in a
        # signal handler on the thread that is inside run().
        self._cond = threading.Condition(threading.RLock())
        self._stopping = False
        self._first_event: float | None = None  # first event not yet taken in by a batch
        self._last_event = 0.0
        self._retry_at: float | None = None
        self._failures = 0

        self._claimed = False
        self._runner: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self._watching = threading.Event()
        self._finished = threading.Event()
        self._error: BaseException | None = None

    # -- what is being watched ---------------------------------------------------------------

    @property
    def roots(self) -> tuple[str, ...]:
        """The corpus roots watched (absolute); empty until watching begins."""
        return self._observation.roots

    @property
    def observer_name(self) -> str | None:
        """`"inotify"`, `"fsevents"`, `"kqueue"`, `"windowsapi"` or `"polling"`; None before."""
        return self._observation.observer_name

    @property
    def fallback_reason(self) -> str | None:
        """Why native events could not be used and polling is, when that happened."""
        return self._observation.fallback_reason

    @property
    def method(self) -> str | None:
        """How changes are seen, for a log line: `inotify events`, `polling every 1s (...)`."""
        name, reason = self._observation.observer_name, self._observation.fallback_reason
        if name is None:
            return None
        if name != "polling":
            return f"{name} events"
        method = f"polling every {self.poll_interval:g}s"
        if reason:
            method += f" (native events unavailable: {reason})"
        return method

    @property
    def error(self) -> BaseException | None:
        """The error that ended the watcher, if one did (`join()` raises it)."""
        return self._error

    @property
    def watching(self) -> bool:
        """True from the end of the catch-up until the watcher stops."""
        return self._watching.is_set() and not self._finished.is_set()

    # -- running -----------------------------------------------------------------------------

    def run(self) -> None:
        """Catch up, then keep the index in step with the roots until `stop()`; blocks.

        Raises what makes watching impossible: `WatcherRunning`, a corpus root that does not
        exist (or disappears), an index that cannot be read at the start.
        """
        with self._cond:
            if self._claimed:
                raise RuntimeError("a Watcher runs once; create a new one to watch again")
            self._claimed = True
            self._runner = threading.current_thread()
        try:
            with IndexDirectory(self.index.path).watch_lock():
                try:
                    self._watch()
                finally:
                    self._observation.close()
        except BaseException as exc:
            self._error = exc  # before _finished: whoever waits on that may read it at once
            raise
        finally:
            self._finished.set()

    def start(self) -> Watcher:
        """Run in a background thread; return once the catch-up is done and events flow.

        Raises, in the caller, an error that ended the watcher before that (`WatcherRunning`,
        `CorpusNotFound`, ...). The thread is a daemon: call `stop()` before the program ends.
        """
        with self._cond:
            if self._claimed or self._thread is not None:
                raise RuntimeError("a Watcher runs once; create a new one to watch again")
            self._thread = threading.Thread(
                target=self._run_in_thread, name="searchkit-watch", daemon=True
            )
        self._thread.start()
        while not (self._watching.wait(0.1) or self._finished.is_set()):
            pass
        if self._finished.is_set():
            self.join()
        return self

    def stop(self) -> None:
        """Stop watching: the batch in hand finishes, events still settling are left for the
        next start's catch-up, the lock is released. Waits for that unless called from the
        watcher's own thread (a callback, a signal handler interrupting `run()`)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            runner = self._runner if self._claimed else self._thread
        # Not alive: start() was interrupted (by this very signal) before its thread began.
        if runner is not None and runner is not threading.current_thread() and runner.is_alive():
            self._finished.wait()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a `start()`ed watcher to end; raise the error that ended it, if any."""
        if self._thread is None:
            raise RuntimeError("join() is for a watcher run with start()")
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc_type is None:
            self.join(0)  # an error that ended the watcher inside the block is not lost

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException:
            pass  # kept in self._error: start() or join() raises it in the caller's thread

    # -- the loop ----------------------------------------------------------------------------

    def _watch(self) -> None:
        roots = self._known_roots()
        if roots is not None:
            # Watch before catching up: a change made during the catch-up is not missed.
            self._observe(roots)
        if not self._catch_up():
            return
        if roots is None:
            # A new index: its roots are known only now. Changes made between the catch-up
            # and the observer's start had no one listening, so look once more.
            self._observe(self._known_roots() or ())
            self._note_change()
        self._watching.set()
        while self._next_round():
            try:
                self._batch()
            except UsageError:
                raise  # a root is gone (or was never a corpus): watching is pointless
            except SearchkitError as exc:
                self._retry_later(exc)

    def _known_roots(self) -> list[str] | None:
        # A recorded root that is missing for now (an unmounted disk) is not watched; each
        # batch names it, and the other roots go on being watched and synced.
        directory = IndexDirectory(self.index.path)
        recorded = directory.read_meta().roots if directory.exists() else ()
        if self.paths:
            return resolve_roots(self.paths, known=recorded)[0]
        return resolve_roots(recorded, known=recorded)[0] if recorded else None

    def _catch_up(self) -> bool:
        """The first update; waits out another writer. False if stopped before it ran."""
        retry = max(self.delay, 0.5)
        while not self._stopping:
            try:
                self._batch()
                return True
            except IndexLocked as exc:
                self._report_error(exc)
            with self._cond:
                self._cond.wait_for(lambda: self._stopping, retry)
            retry = min(retry * 2, MAX_RETRY_INTERVAL)
        return False

    def _next_round(self) -> bool:
        """Wait until a burst has settled (True) or the watcher is stopped (False)."""
        with self._cond:
            while not self._stopping:
                if self._first_event is None:
                    self._cond.wait()
                    continue
                due = min(
                    self._last_event + self.delay,
                    self._first_event + MAX_WAIT_FACTOR * self.delay,
                )
                if self._retry_at is not None:
                    due = max(due, self._retry_at)
                now = time.monotonic()
                if now >= due:
                    # Events from here on belong to the next round.
                    self._first_event = None
                    return True
                self._cond.wait(due - now)
            return False

    def _batch(self) -> None:
        report = self._writer.update(self.paths)
        with self._cond:
            self._failures = 0
            self._retry_at = None
        self._report_batch(report)

    def _retry_later(self, error: SearchkitError) -> None:
        with self._cond:
            self._failures += 1
            wait = min(max(self.delay, 0.5) * 2 ** (self._failures - 1), MAX_RETRY_INTERVAL)
            now = time.monotonic()
            self._retry_at = now + wait
            if self._first_event is None:
                self._first_event = self._last_event = now
        self._report_error(error)

    def _note_change(self) -> None:
        with self._cond:
            now = time.monotonic()
            if self._first_event is None:
                self._first_event = now
            self._last_event = now
            self._cond.notify_all()

    def _report_batch(self, report: UpdateReport) -> None:
        if self.on_problem is not None:
            # The indexer repeats the problems of unchanged files every run; a log that runs
            # for days should say each once.
            for problem in report.problems:
                if problem not in self._last_problems:
                    self.on_problem(problem)
        self._last_problems = frozenset(report.problems)
        if self.on_batch is not None:
            self.on_batch(report)

    def _observe(self, roots: Sequence[str]) -> None:
        self._observation.start(
            roots, index_path=self.index.path, poll=self.poll, interval=self.poll_interval
        )

    def _report_error(self, error: SearchkitError) -> None:
        if self.on_error is not None:
            self.on_error(error)
        else:
            log.warning("%s; retrying", error)

    # -- file events ---------------------------------------------------------------------------


class _Observation:
    """Which file-system events concern an index, and the watchdog observer delivering them."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change
        self.roots: tuple[str, ...] = ()
        self.observer_name: str | None = None
        self.fallback_reason: str | None = None
        self._dir_roots: tuple[str, ...] = ()
        self._file_roots: frozenset[str] = frozenset()
        self._index_places: tuple[str, ...] = ()
        self._observer: Any = None  # a watchdog observer, native or polling

    def start(self, roots: Sequence[str], *, index_path: str, poll: bool, interval: float) -> None:
        """Watch the roots that exist (a root removed meanwhile is left out)."""
        roots = resolve_roots(roots, known=roots)[0]
        self.roots = tuple(roots)
        # Folders are watched by their real paths: watchdog reports nothing under a root named
        # through a symlink, and so events name real paths.
        self._dir_roots = tuple(os.path.realpath(r) for r in roots if os.path.isdir(r))
        # The index's own folder, whatever name leads to it: its commits must not wake the
        # watcher.
        self._index_places = (index_path, os.path.realpath(index_path))
        # A file root is watched through its (real) folder: an editor or a feed replaces a
        # file by renaming a new one over it, which a watch on the file itself would not survive.
        real_file_roots = {
            os.path.join(os.path.realpath(os.path.dirname(r)), os.path.basename(r))
            for r in roots
            if not os.path.isdir(r)
        }
        self._file_roots = frozenset(real_file_roots)
        watches = {r: True for r in self._dir_roots}
        for r in sorted(real_file_roots):
            watches.setdefault(os.path.dirname(r), False)
        if not poll:
            observer = None
            try:
                observer = Observer()
                self._schedule(observer, watches)
                observer.start()
            except OSError as exc:
                # inotify's watch or instance limit, an API the platform lacks: poll instead.
                self.fallback_reason = exc.strerror or str(exc)
                if observer is not None:
                    _discard(observer)
            else:
                self._observer, self.observer_name = observer, _observer_name(observer)
                return
        observer = PollingObserver(timeout=interval)
        self._schedule(observer, watches)
        observer.start()
        self._observer, self.observer_name = observer, "polling"

    def _schedule(self, observer, watches: dict[str, bool]) -> None:
        handler = _EventHandler(self.on_change, self.relevant)
        for folder, recursive in watches.items():
            observer.schedule(handler, folder, recursive=recursive, event_filter=_CHANGE_EVENTS)

    def close(self) -> None:
        """Stop the observer, if one runs."""
        observer, self._observer = self._observer, None
        if observer is not None:
            _discard(observer)

    def relevant(self, event: FileSystemEvent) -> bool:
        """True for an event under a watched root and not inside the index."""
        paths = [os.fsdecode(event.src_path)]
        if event.dest_path:
            paths.append(os.fsdecode(event.dest_path))
        for path in paths:
            # An index kept inside a corpus root must not wake the watcher with its own writes.
            if any(is_under(path, place) for place in self._index_places):
                continue
            if path in self._file_roots or any(is_under(path, r) for r in self._dir_roots):
                return True
        return False


class _EventHandler(FileSystemEventHandler):
    """Runs on the observer's thread: only notes the time of a change."""

    def __init__(
        self, on_change: Callable[[], None], relevant: Callable[[FileSystemEvent], bool]
    ) -> None:
        super().__init__()
        self.on_change = on_change
        self.relevant = relevant

    def on_any_event(self, event: FileSystemEvent) -> None:
        if self.relevant(event):
            self.on_change()


def _observer_name(observer) -> str:
    return type(observer).__name__.removesuffix("Observer").lower()


def _discard(observer) -> None:
    observer.stop()
    if observer.is_alive():
        observer.join()
