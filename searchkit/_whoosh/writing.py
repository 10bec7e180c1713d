"""Writing segments: Whoosh's segment writer without its lock, segments written in worker
processes, and a write's commit or abandon, done through Whoosh's private writer methods."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from whoosh.filedb.filestore import FileStorage
from whoosh.index import clean_files
from whoosh.reading import SegmentReader
from whoosh.writing import SegmentWriter

from .fixes import writer_codec

#: `progress(phase, done, total)`, as the indexer reports it.
Progress = Callable[[str, int, int], None]
#: A writer process that sends no word (progress every `REPORT_EVERY` documents, then its
#: segment) for this many seconds is taken as stuck and killed. Generous: the last word
#: comes before the segment's files are written, which takes a while for a large share.
STALL_SECONDS = 600.0
#: Documents a writer process writes between two progress reports.
REPORT_EVERY = 100
#: `finish(folder, segment id, open_reader)`: what searchkit writes beside a new segment
#: before any table of contents names it (`open_reader()` gives a Whoosh reader of it, to
#: close after use). It must do nothing for a segment it already finished.
SegmentFinisher = Callable[[str, str, Callable[[], Any]], None]
#: A commit merges the segments of fewer documents than this into its own, once there are
#: `MERGE_TINY_AT` of them (incremental updates leave many tiny segments; merging them keeps
#: searches from opening hundreds, and waiting for a few spreads the cost over commits), and
#: never touches larger ones. Whoosh's MERGE_SMALL merged *every*
#: segment once there were about 22 (its Fibonacci rule): a checkpointed build of 500k
#: articles (a segment of 2,500-5,000 articles per writer and round) stopped after 110,000
#: to re-add all their postings in one process, minutes per commit and growing.
TINY_SEGMENT = 1_000
MERGE_TINY_AT = 4


def segment_writer(ix, **kwargs) -> SegmentWriter:
    """A writer of one new segment of `ix`, with searchkit's codec and no Whoosh lock.

    searchkit's own write lock keeps writers apart; Whoosh's MAIN_WRITELOCK would be taken
    by every worker process too, and leaks when a writer fails while it starts.
    """
    return SegmentWriter(ix, _lk=False, codec=writer_codec(), **kwargs)


def commit(
    writer: SegmentWriter,
    extra_segments: Sequence,
    *,
    merge: bool,
    optimize: bool = False,
    finish: SegmentFinisher | None = None,
) -> None:
    """Whoosh's `SegmentWriter.commit`, with segments written elsewhere (by workers) added to
    the table of contents it commits; `merge` lets it merge small segments as Whoosh does,
    `optimize` merges them all into one. `finish` runs for every segment of the new table
    of contents before it is written (segments a merge made need it too)."""
    segments = writer._merge_segments(
        merge_tiny if merge and not optimize else None, optimize, merge
    )
    if writer._added:
        segments.append(writer._finalize_segment())
    else:
        writer._close_segment()
    segments += list(extra_segments)
    if finish is not None:
        for segment in segments:
            finish_segment(finish, writer.storage, writer.schema, segment)
    writer._commit_toc(segments)
    writer._finish()


def merge_tiny(writer: SegmentWriter, segments: Sequence) -> list:
    """A Whoosh merge policy: add the segments of fewer than `TINY_SEGMENT` documents (and
    any whose documents are all deleted) to the writer's new segment once there are
    `MERGE_TINY_AT` of them; return the segments left as they are."""
    tiny = [s for s in segments if s.doc_count_all() < TINY_SEGMENT or not s.doc_count()]
    if len(tiny) < MERGE_TINY_AT:
        return list(segments)
    for segment in tiny:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        try:
            writer.add_reader(reader)
        finally:
            reader.close()
    return [s for s in segments if not any(s is t for t in tiny)]


def finish_segment(finish: SegmentFinisher, storage, schema, segment) -> None:
    """Run `finish` for one written segment of the index in `storage` (a folder's)."""
    folder = getattr(storage, "folder", None)
    if folder is None:
        return  # an index in memory: nothing is written beside it

    def open_reader():
        return SegmentReader(storage, schema, segment)

    finish(folder, segment.segment_id(), open_reader)


def abandon(writer: SegmentWriter, ix) -> None:
    """Undo a write that failed: release the writer, delete the files it left behind."""
    try:
        writer.cancel()
    except Exception:  # noqa: BLE001 - cancelling writes too, and fails the same way on a full disk
        try:
            writer._tempstorage.destroy()
        except OSError:
            pass  # a leftover temporary folder, removed below or by the next commit
        if writer.writelock:
            writer.writelock.release()
    # Files of segments no table of contents names (this write's, its workers') would keep a
    # full disk full: remove them now rather than at the next successful commit.
    try:
        storage = ix.storage
        clean_files(storage, ix.indexname, ix.latest_generation(), ix._segments())
        for name in os.listdir(storage.folder):
            if name.endswith(".tmp") and os.path.isdir(os.path.join(storage.folder, name)):
                shutil.rmtree(os.path.join(storage.folder, name), ignore_errors=True)
    except Exception:  # noqa: BLE001 - best effort; the error being reported is the real one
        pass


def write_segment(
    folder: str,
    documents: Sequence,
    *,
    fields_of: Callable[[Any], dict],
    start_segment: Callable[[], None],
    limitmb: int,
    on_progress: Callable[[int], None] | None = None,
    finish: SegmentFinisher | None = None,
):
    """In a worker process: write documents into a new segment of the index; return it.

    `on_progress(done)` is called every `REPORT_EVERY` documents and before the segment's
    files are written; `finish` runs on the written segment (in the worker, so that the
    workers do it side by side). The segment is not in any table of contents until the
    parent commits one naming it; if the parent never does, the next commit (or `abandon`)
    deletes its files.
    """
    ix = FileStorage(folder).open_index()
    start_segment()
    writer = segment_writer(ix, limitmb=limitmb)
    # Every writer of an index shares one temporary folder (Whoosh names it after the index),
    # so a worker must not destroy it: the parent's writer does when it finishes.
    try:
        for done, doc in enumerate(documents, 1):
            writer.add_document(**fields_of(doc))
            if on_progress and done % REPORT_EVERY == 0:
                on_progress(done)
        if on_progress:
            on_progress(len(documents))
        segment = writer._finalize_segment()
    except BaseException:
        try:
            writer._close_segment()
        except Exception:  # noqa: BLE001 - the parent abandons the write and cleans up
            pass
        raise
    if finish is not None:
        finish_segment(finish, ix.storage, ix.schema, segment)
    return segment


class WriterFailed(Exception):
    """A writer process ended without its segment: killed, crashed, failed or stuck."""


def write_segments_in_parallel(
    folder: str,
    documents: Sequence,
    *,
    workers: int,
    fields_of: Callable[[Any], dict],
    start_segment: Callable[[], None],
    limitmb: int,
    progress: Progress | None,
    finish: SegmentFinisher | None = None,
) -> list:
    """Write the documents as `workers` new segments, one per process (analysis and posting
    encoding are pure Python: the cores only help in separate processes).

    Raises `OSError` as a writer process met it (a full disk), `WriterFailed` when one
    dies, raises anything else or goes `STALL_SECONDS` without a word. However the call ends,
    every writer process has ended with it: a failure or an interrupt kills the others.
    """
    chunks = [documents[i::workers] for i in range(workers)]
    ctx = multiprocessing.get_context()
    started: list[_WriterProcess] = []
    try:
        for chunk in chunks:
            started.append(
                _WriterProcess.start(ctx, folder, chunk, fields_of, start_segment, limitmb, finish)
            )
            started[-1].size = len(chunk)
        return _gather(started, total=len(documents), progress=progress)
    finally:
        for writer in started:
            writer.stop()


class _WriterProcess:
    """One writer process and the pipe it reports on: progress, then its segment or error."""

    def __init__(self, process, receiver) -> None:
        self.process = process
        self.receiver = receiver
        self.done = 0
        self.size = 0  # documents it was given
        self.heard = time.monotonic()

    @classmethod
    def start(
        cls, ctx, folder, documents, fields_of, start_segment, limitmb, finish
    ) -> _WriterProcess:
        receiver, sender = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_writer_main,
            args=(sender, folder, documents, fields_of, start_segment, limitmb, finish),
            name="searchkit-writer",
            daemon=True,
        )
        try:
            process.start()
        finally:
            sender.close()  # the child's copy is the only writer end: EOF when it dies
        return cls(process, receiver)

    def stop(self) -> None:
        """End the process (killing it if it still runs) and reap it."""
        if self.process.is_alive():
            self.process.kill()
        # Bounded even for a process stuck in the kernel (a failing disk): one that outlives
        # this is a daemon, and dies with the thread that forked it (store.py).
        self.process.join(10)
        self.receiver.close()

    def death(self) -> WriterFailed:
        """The error for a process that ended without sending its segment."""
        self.process.join(5)  # its end of the pipe closed: it is exiting
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            return WriterFailed(f"a writer process was killed by signal {name}")
        return WriterFailed(
            f"a writer process exited with status {code} before writing its segment"
        )


def _gather(writers: list[_WriterProcess], *, total: int, progress: Progress | None) -> list:
    """The segment of every writer process, in the order they finish."""
    segments = []
    pending = {w.receiver: w for w in writers}
    while pending:
        wait_for = min(w.heard for w in pending.values()) + STALL_SECONDS - time.monotonic()
        ready = multiprocessing.connection.wait(list(pending), timeout=max(0.0, wait_for))
        for ready_one in ready:
            # `wait` is given only the receiving ends of pipes, so it returns only those.
            receiver = cast(multiprocessing.connection.Connection, ready_one)
            writer = pending[receiver]
            try:
                kind, value = receiver.recv()
            except (EOFError, OSError):
                raise writer.death() from None
            writer.heard = time.monotonic()
            if kind == "progress":
                writer.done = value
            elif kind == "segment":
                segments.append(value)
                del pending[receiver]
            else:
                raise _rebuilt_error(value)
            if progress:
                added = sum(w.done for w in writers)
                if added < total:
                    progress("writing", added, total)
                else:
                    # Every document is in a posting pool; sorting the pools and writing the
                    # segment files is a long step of its own (a third of a build or more).
                    progress("finishing segments", len(writers) - len(pending), len(writers))
        now = time.monotonic()
        if any(now - w.heard > STALL_SECONDS for w in pending.values()):
            raise WriterFailed(f"a writer process made no progress for {STALL_SECONDS:g} s")
    return segments


def _writer_main(sender, folder, documents, fields_of, start_segment, limitmb, finish) -> None:
    """The body of a writer process: write the segment, send it (or the error) to the parent."""
    # Ctrl-C and a SIGTERM to the group reach every process: the parent alone handles them
    # (and kills us), so that it reports the interrupt, not a worker that died of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        segment = write_segment(
            folder,
            documents,
            fields_of=fields_of,
            start_segment=start_segment,
            limitmb=limitmb,
            on_progress=lambda done: sender.send(("progress", done)),
            finish=finish,
        )
        message = ("segment", segment)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        message = ("error", _error_summary(exc))
    try:
        sender.send(message)
    except OSError:
        os._exit(1)  # the parent is gone or stopped listening: it reports the failure


def _error_summary(exc: BaseException) -> dict:
    """What the parent needs to raise the same error (an exception may not pickle)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return {"errno": exc.errno, "strerror": exc.strerror, "filename": exc.filename}
    return {"kind": type(exc).__name__, "message": str(exc)}


def _rebuilt_error(summary: dict) -> Exception:
    if "errno" in summary:
        return OSError(summary["errno"], summary["strerror"], summary["filename"])
    return WriterFailed(f"a writer process failed: {summary['kind']}: {summary['message']}")
