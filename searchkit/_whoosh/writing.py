"""Writing segments: Whoosh's segment writer without its lock, segments written in worker
processes, and a write's commit or abandon, done through Whoosh's private writer methods."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable, Sequence

from whoosh.filedb.filestore import FileStorage
from whoosh.index import clean_files
from whoosh.writing import SegmentWriter

from .fixes import writer_codec

#: `progress(phase, done, total)`, as the indexer reports it.
Progress = Callable[[str, int, int], None]


def segment_writer(ix, **kwargs) -> SegmentWriter:
    """A writer of one new segment of `ix`, with searchkit's codec and no Whoosh lock.

    searchkit's own write lock keeps writers apart; Whoosh's MAIN_WRITELOCK would be taken
    by every worker process too, and leaks when a writer fails while it starts.
    """
    return SegmentWriter(ix, _lk=False, codec=writer_codec(), **kwargs)


def commit(writer: SegmentWriter, extra_segments: Sequence, *, merge: bool) -> None:
    """Whoosh's `SegmentWriter.commit`, with segments written elsewhere (by workers) added to
    the table of contents it commits; `merge` lets it merge small segments as Whoosh does."""
    segments = writer._merge_segments(None, None, merge)
    if writer._added:
        segments.append(writer._finalize_segment())
    else:
        writer._close_segment()
    writer._commit_toc(segments + list(extra_segments))
    writer._finish()


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
    fields_of: Callable[[object], dict],
    start_segment: Callable[[], None],
    limitmb: int,
):
    """In a worker process: write documents into a new segment of the index; return it.

    The segment is not in any table of contents until the parent commits one naming it; if
    the parent never does, the next commit (or `abandon`) deletes its files.
    """
    ix = FileStorage(folder).open_index()
    start_segment()
    writer = segment_writer(ix, limitmb=limitmb)
    # Every writer of an index shares one temporary folder (Whoosh names it after the index),
    # so a worker must not destroy it: the parent's writer does when it finishes.
    try:
        for doc in documents:
            writer.add_document(**fields_of(doc))
        return writer._finalize_segment()
    except BaseException:
        try:
            writer._close_segment()
        except Exception:  # noqa: BLE001 - the parent abandons the write and cleans up
            pass
        raise


def _write_segment_task(task):
    folder, documents, fields_of, start_segment, limitmb = task
    return write_segment(
        folder, documents, fields_of=fields_of, start_segment=start_segment, limitmb=limitmb
    )


def write_segments_in_parallel(
    folder: str,
    documents: Sequence,
    *,
    workers: int,
    fields_of: Callable[[object], dict],
    start_segment: Callable[[], None],
    limitmb: int,
    progress: Progress | None,
) -> list:
    """Write the documents as `workers` new segments, one per process (analysis and posting
    encoding are pure Python: the cores only help in separate processes)."""
    chunks = [documents[i::workers] for i in range(workers)]
    total = len(documents)
    segments = []
    tasks = [(folder, c, fields_of, start_segment, limitmb) for c in chunks]
    ctx = multiprocessing.get_context()
    with ctx.Pool(workers) as pool:
        for segment in pool.imap_unordered(_write_segment_task, tasks):
            segments.append(segment)
            if progress:
                progress("writing", sum(s.doc_count_all() for s in segments), total)
    return segments
