"""Reading corpus files: each file read, hashed and (unless unchanged) parsed, in a pool of
processes when there is enough to read."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import cast

from .corpus import (
    CorpusFile,
    OutsideRoot,
    content_hash,
    content_hasher,
    is_transient,
    printable_path,
    read_bytes,
    size_of,
    split_signature,
)
from .documents import Document, Problem
from .manifest import FileEntry
from .readers import parse_appended_lines, parse_file

#: `progress(phase, done, total)`: called while files are read and documents written.
ProgressCallback = Callable[[str, int, int], None]
#: Below this many bytes to parse, reading in this process beats a pool.
PARALLEL_PARSE_THRESHOLD = 4 * 1024 * 1024
#: Files a reading process is given at a time.
READ_BATCH = 16
#: A reading process that sends nothing for this many seconds is taken as stuck and killed
#: (a batch holds at most 16 files of at most the size limit: far less work than this).
STALL_SECONDS = 600.0


@dataclass(frozen=True)
class ReadTask:
    """A file to read, with what the manifest knew of it."""

    file: CorpusFile
    old_hash: str | None = None  # content hash when last read
    appended_after: int = 0  # if > 0: its old size, when the file may have only grown since


@dataclass(frozen=True)
class FileOutcome:
    """What reading one corpus file gave: its documents, or that it had not changed."""

    file: CorpusFile
    content_hash: str | None  # None when the file could not be read
    unchanged: bool = False
    documents: tuple[Document, ...] = ()
    problems: tuple[Problem, ...] = ()
    appended: bool = False  # documents and problems are of the new lines only
    claimed_ids: frozenset[str] = frozenset()  # when appended: the ids the new lines name


def reread_task(cf: CorpusFile, entry: FileEntry) -> ReadTask:
    """The task for a file the manifest knows whose stat changed: its old content hash, and
    its old size if it may only have grown since it was read.

    Only a file read without a warning about the whole of it (a decoding fallback, say)
    qualifies for reading its new lines alone: they could be read differently on their own.
    """
    old_stat_key, digest = split_signature(entry.signature)
    old_size = size_of(old_stat_key)
    shown = printable_path(cf.path)
    if not entry.docs or old_size >= cf.size or any(p.path == shown for p in entry.problems):
        old_size = 0
    return ReadTask(cf, digest, old_size)


def read_corpus_file(task: ReadTask) -> FileOutcome:
    """Read, hash and (unless its content is as before) parse one file. Never raises.

    A JSON Lines file that only grew (its old bytes hash as before) has only its new lines
    parsed: appending 1% to Reuters' one 26 MB file re-parsed and re-hashed 21,578 records.
    """
    cf = task.file
    shown = printable_path(cf.path)
    try:
        data = read_bytes(cf)
    except OutsideRoot as exc:
        return FileOutcome(cf, None, problems=(Problem(shown, exc.strerror or str(exc)),))
    except OSError as exc:
        # Permissions, a disk gone, a file swapped for a FIFO: the documents it had stay.
        reason = f"cannot read: {exc.strerror or exc}"
        problem = Problem(shown, reason, unavailable=is_transient(exc))
        return FileOutcome(cf, None, problems=(problem,))
    folder = printable_path(cf.folder)
    old_size = task.appended_after
    digest = None
    if 0 < old_size < len(data):
        hasher = content_hasher(memoryview(data)[:old_size])  # type: ignore[arg-type]  # any buffer
        if hasher.hexdigest() == task.old_hash:
            hasher.update(memoryview(data)[old_size:])
            digest = hasher.hexdigest()
            new = parse_appended_lines(
                data, old_size, path=shown, id_base=cf.id_base, folder=folder
            )
            if new is not None:
                return FileOutcome(
                    cf,
                    digest,
                    documents=new.documents,
                    problems=new.problems,
                    appended=True,
                    claimed_ids=new.claimed_ids,
                )
    if digest is None:
        digest = content_hash(data)
    if digest == task.old_hash:
        return FileOutcome(cf, digest, unchanged=True)
    result = parse_file(data, path=shown, id_base=cf.id_base, folder=folder)
    return FileOutcome(cf, digest, documents=result.documents, problems=result.problems)


def read_all(
    tasks: list[ReadTask],
    *,
    workers: int,
    progress: ProgressCallback | None,
) -> Iterable[FileOutcome]:
    """The outcome of each task, in the order given; in `workers` processes if worth it."""
    total = len(tasks)
    size = sum(t.file.size - t.appended_after for t in tasks)
    if workers <= 1 or total < 2 or size < PARALLEL_PARSE_THRESHOLD:
        for i, task in enumerate(tasks, 1):
            yield read_corpus_file(task)
            if progress:
                progress("reading", i, total)
        return
    # Big files first, so one large JSON Lines file does not start last and run alone.
    order = sorted(range(total), key=lambda i: -tasks[i].file.size)
    outcomes: list[FileOutcome | None] = [None] * total
    done = 0
    for i, outcome in _read_in_processes(tasks, order, workers=workers):
        outcomes[i] = outcome
        done += 1
        if progress:
            progress("reading", done, total)
    # Results in corpus order, so duplicate ids resolve the same way on every run.
    yield from outcomes  # type: ignore[misc]


class ReaderFailed(Exception):
    """A reading process ended without its files' outcomes: killed, crashed or stuck."""


def _read_in_processes(
    tasks: list[ReadTask], order: list[int], *, workers: int
) -> Iterator[tuple[int, FileOutcome]]:
    """(index, outcome) of every task, read by `workers` processes, each given batches of
    `READ_BATCH` tasks (in `order`), a new one for each batch it sends back.

    Not `multiprocessing.Pool`: a pool waits for good on the result of a worker that was
    killed (the OOM killer, say), and its `terminate` can block on its task queue. Here a
    reading process that dies, or is silent for `STALL_SECONDS`, fails the read with
    `ReaderFailed`; however the call ends, every reading process has ended with it.
    """
    batches = [order[i : i + READ_BATCH] for i in range(0, len(order), READ_BATCH)]
    batches.reverse()  # popped from the end: biggest files first
    ctx = multiprocessing.get_context()
    readers: list[_ReaderProcess] = []
    try:
        for _ in range(min(workers, len(batches))):
            reader = _ReaderProcess.start(ctx)
            readers.append(reader)
        # Two batches in flight per process, so that none waits for the next one.
        for _ in range(2):
            for reader in readers:
                if batches:
                    reader.give(batches.pop(), tasks)
        busy = {r.conn: r for r in readers}
        while busy:
            ready = multiprocessing.connection.wait(list(busy), timeout=STALL_SECONDS)
            if not ready:
                raise ReaderFailed(f"a reading process made no progress for {STALL_SECONDS:g} s")
            for ready_one in ready:
                # `wait` is given only the receiving ends of pipes, so it returns only those.
                conn = cast(multiprocessing.connection.Connection, ready_one)
                reader = busy[conn]
                try:
                    results = conn.recv()
                except (EOFError, OSError):
                    raise reader.death() from None
                yield from results
                reader.in_flight -= 1
                if batches:
                    reader.give(batches.pop(), tasks)
                elif not reader.in_flight:
                    del busy[conn]
    finally:
        for reader in readers:
            reader.stop()


class _ReaderProcess:
    """One reading process and its two-way pipe: batches of tasks in, their outcomes out."""

    def __init__(self, process, conn) -> None:
        self.process = process
        self.conn = conn
        self.in_flight = 0  # batches sent, outcomes not yet received

    @classmethod
    def start(cls, ctx) -> _ReaderProcess:
        conn, child_conn = ctx.Pipe()
        process = ctx.Process(
            target=_reader_main, args=(child_conn,), name="searchkit-reader", daemon=True
        )
        try:
            process.start()
        finally:
            child_conn.close()  # the child's copy is the only other end: EOF when it dies
        return cls(process, conn)

    def give(self, batch: list[int], tasks: list[ReadTask]) -> None:
        """Send the next batch of tasks (with their indexes)."""
        try:
            self.conn.send([(i, tasks[i]) for i in batch])
        except OSError:
            raise self.death() from None
        self.in_flight += 1

    def stop(self) -> None:
        """End the process (killing it if it still runs) and reap it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)  # bounded; a daemon that outlives it dies with its parent
        self.conn.close()

    def death(self) -> ReaderFailed:
        """The error for a process that ended before sending its outcomes."""
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            return ReaderFailed(f"a reading process was killed by signal {name}")
        return ReaderFailed(f"a reading process exited with status {code} before it was done")


def _reader_main(conn) -> None:
    """The body of a reading process: read each batch it is sent until the pipe closes."""
    # Ctrl-C and a SIGTERM to the group reach every process: the parent alone handles them
    # (and kills us), so that it reports the interrupt, not a worker that died of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return  # the parent is done with us (or gone)
        # read_corpus_file never raises: a file it cannot read is an outcome, not an error.
        conn.send([(i, read_corpus_file(task)) for i, task in batch])
