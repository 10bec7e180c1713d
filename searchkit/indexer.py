"""Keeping an index in step with a corpus: add, update and delete incrementally, or rebuild.

A sync scans the corpus roots, reads the files whose signature changed since the manifest of
the live generation (`manifest.py`, `reading.py`), plans which documents to add, replace and
delete, and commits that plan with the new manifest (`_whoosh/writing.py`).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from . import document_arrays
from ._whoosh.writing import WriterFailed, abandon, commit, write_segments_in_parallel
from .corpus import (
    DEFAULT_MAX_FILE_SIZE,
    check_outside_index,
    is_under,
    resolve_roots,
    scan,
)
from .documents import Document, Problem, limit_index_fields, max_index_fields
from .errors import IndexCorrupt, IndexWriteError, InvalidValue, UsageError
from .facets import ORDINALS_EXTENSION, write_ordinals
from .journal import Journal
from .manifest import API_SOURCE, FileEntry, Manifest, document_hash, load_live_manifest
from .planning import (
    Plan,
    ProblemCallback,
    Rounds,
    RunProgress,
    SyncPlanner,
    UpdateReport,
    combine_reports,
    round_view,
)
from .reading import (
    ProgressCallback,
    ReaderFailed,
    ReadTask,
    read_all,
)
from .schema import is_metadata_field, start_spelling_segment, whoosh_fields
from .store import IndexDirectory, IndexMeta
from .term_arrays import TERM_ARRAYS_EXTENSION, write_term_arrays

#: Below this many documents to write, one writer beats starting worker processes (measured
#: on 20news posts: 20 docs 0.52 s alone vs 0.55 s in two; 100 docs 0.80 s vs 0.70 s).
PARALLEL_WRITE_THRESHOLD = 50
#: Memory for Whoosh's posting pool per writer; large enough that a 20k-article build never
#: spills to temporary runs (measured: spilling costs more than it saves on these corpora).
WRITER_LIMIT_MB = 128
#: Let a commit merge tiny segments (`_whoosh.writing.merge_tiny`); tests turn it off to get many.
MERGE_SEGMENTS = True


def default_workers() -> int:
    """Worker processes for reading and writing: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


class Indexer:
    """Writes into an index directory: sync with a corpus, add and delete documents."""

    def __init__(self, directory: IndexDirectory, *, lock_timeout: float = 5.0) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout

    # -- public operations ----------------------------------------------------------------

    def sync(
        self,
        paths: Sequence[str | os.PathLike] | None = None,
        *,
        rebuild: bool = False,
        dry_run: bool = False,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        on_problem: ProblemCallback | None = None,
    ) -> UpdateReport:
        """Bring the index in step with the corpus roots (or rebuild it from them)."""
        started = time.monotonic()
        workers = default_workers() if workers is None else max(1, workers)
        if threading.active_count() > 1:
            # Worker processes are forked, and forking a threaded process (watch mode, an
            # embedding program) can deadlock the child: stay in this process there.
            workers = 1
        meta = self._read_meta_if_any(tolerate_corrupt=rebuild)
        recorded = meta.roots if meta is not None else ()
        wanted = list(paths or recorded or ["corpus"])
        if rebuild and paths:
            # A rebuild keeps every recorded root: dropping one is `forget`, never a side effect.
            wanted += [r for r in recorded if r not in wanted]
        roots, missing = resolve_roots(wanted, known=recorded)
        check_outside_index(roots, self.directory.path)
        if rebuild and missing:
            raise UsageError(
                f"corpus root not found: {missing[0]}: a rebuild would drop what was indexed "
                f"from it; bring it back, or drop it first with `searchkit forget {missing[0]}`"
            )
        sync_locked = functools.partial(
            self._sync_locked,
            roots=roots,
            missing_roots=missing,
            rebuild=rebuild,
            max_file_size=max_file_size,
            workers=workers,
            progress=progress,
            on_problem=on_problem,
            started=started,
        )
        if dry_run:
            return sync_locked(meta, dry_run=True)
        with self.directory.write_lock(self.lock_timeout):
            # Another writer may have finished meanwhile.
            meta = self._read_meta_if_any(tolerate_corrupt=rebuild)
            return sync_locked(meta, dry_run=False)

    def add(self, documents: Iterable[Document]) -> UpdateReport:
        """Add or replace documents given by the caller (not read from files)."""
        docs = list(documents)
        started = time.monotonic()
        with self.directory.write_lock(self.lock_timeout):
            meta, ix, manifest = self._open_for_write()
            owner = manifest.owner_of()
            api = manifest.files.setdefault(API_SOURCE, FileEntry(signature=""))
            plan = Plan(manifest)
            seen: set[str] = set()
            for doc in docs:
                if doc.id in seen:
                    continue
                seen.add(doc.id)
                h = document_hash(doc)
                old_src = owner.get(doc.id)
                if old_src is not None:
                    old = manifest.files[old_src]
                    if old.docs.get(doc.id) == h:
                        continue
                    del old.docs[doc.id]
                    _mark_stale(old, old_src)
                    plan.to_delete.append(doc.id)
                    plan.updated.append(doc.id)
                else:
                    plan.added.append(doc.id)
                api.docs[doc.id] = h
                plan.to_add.append(doc)
            _check_field_cap(ix, plan.to_add)
            # Journaled before the commit (and cut back if it fails): a rebuild reads them
            # from there, since no corpus file holds them.
            self._commit_journaled(ix, plan, lambda journal: journal.record_added(plan.to_add))
            return plan.report([], started=started, dry_run=False, rebuilt=False)

    def delete(self, ids: Iterable[str]) -> UpdateReport:
        """Remove documents by id (from whichever file or API call they came)."""
        started = time.monotonic()
        with self.directory.write_lock(self.lock_timeout):
            meta, ix, manifest = self._open_for_write()
            owner = manifest.owner_of()
            plan = Plan(manifest)
            from_api: list[str] = []
            for doc_id in dict.fromkeys(ids):
                src = owner.get(doc_id)
                if src is None:
                    continue
                entry = manifest.files[src]
                del entry.docs[doc_id]
                _mark_stale(entry, src)
                if src == API_SOURCE:
                    from_api.append(doc_id)
                plan.to_delete.append(doc_id)
                plan.deleted.append(doc_id)
            _free_ids(manifest, plan.deleted)
            self._commit_journaled(ix, plan, lambda journal: journal.record_deleted(from_api))
            return plan.report([], started=started, dry_run=False, rebuilt=False)

    def forget(self, roots: Iterable[str | os.PathLike]) -> UpdateReport:
        """Drop corpus roots from the index: their documents go, and later syncs skip them.

        Raises `UsageError` (writing nothing) for a path that is not a recorded root.
        """
        started = time.monotonic()
        targets = list(dict.fromkeys(os.path.abspath(os.fspath(r)) for r in roots))
        self.directory.read_meta()  # no index: IndexNotFound, never an empty index made here
        with self.directory.write_lock(self.lock_timeout):
            meta, ix, manifest = self._open_for_write()
            for target in targets:
                if target not in meta.roots:
                    known = ", ".join(meta.roots) or "none"
                    raise UsageError(f"not a corpus root of this index: {target} (roots: {known})")
            remaining = tuple(r for r in meta.roots if r not in targets)
            plan = Plan(manifest)
            for src in list(manifest.files):
                if src == API_SOURCE or not any(is_under(src, t) for t in targets):
                    continue
                if any(is_under(src, r) for r in remaining):
                    continue  # also under a root that stays (nested roots)
                entry = manifest.files.pop(src)
                plan.deleted.extend(entry.docs)
                plan.to_delete.extend(entry.docs)
                plan.deleted_files.append(src)
            _free_ids(manifest, plan.deleted)
            # Documents first, then the roots: a crash in between leaves the root recorded
            # and the next sync reads it again, never documents of a root nobody syncs.
            _commit(ix, plan, index_path=self.directory.path, workers=1, progress=None)
            self.directory.write_meta(IndexMeta(current=meta.current, roots=remaining))
            _lay_out_documents(ix)
            return plan.report([], started=started, dry_run=False, rebuilt=False)

    def optimize(self) -> None:
        """Merge all segments into one: a slower write for faster searches."""
        with self.directory.write_lock(self.lock_timeout):
            meta, ix, manifest = self._open_for_write()
            try:
                writer = ix.writer(limitmb=WRITER_LIMIT_MB)
            except OSError as exc:
                raise IndexWriteError(self.directory.path, exc.strerror or str(exc)) from None
            try:
                _save_manifest(self.directory.path, manifest, ix.storage.folder, writer.generation)
            except BaseException:
                writer.cancel()
                raise
            try:
                commit(writer, [], merge=True, optimize=True, finish=_finish_segment)
            except OSError as exc:
                raise IndexWriteError(self.directory.path, exc.strerror or str(exc)) from None
            Manifest.remove_others(ix.storage.folder, ix.latest_generation())
            _lay_out_documents(ix)

    # -- internals ----------------------------------------------------------------------------

    def _read_meta_if_any(self, *, tolerate_corrupt: bool = False) -> IndexMeta | None:
        """The pointer, or None for a new index (or, rebuilding, for an unreadable pointer:
        a rebuild is the repair its error message suggests, so it must not need it)."""
        if not self.directory.exists():
            self.directory.check_writable_location()
            return None
        try:
            return self.directory.read_meta()
        except IndexCorrupt:
            if tolerate_corrupt:
                return None
            raise

    def _open_for_write(self):
        """(meta, Whoosh index, manifest) of the live generation, creating an index if none."""
        directory = self.directory
        meta = self._read_meta_if_any()
        if meta is None:
            directory.ensure_folder()
            name, ix = directory.new_generation()
            meta = IndexMeta(current=name, roots=())
            directory.write_meta(meta)
            directory.remove_stale_generations({name})
        else:
            ix = directory.open_generation(meta.current)
        return meta, ix, load_live_manifest(ix, index_path=self.directory.path)

    def _sync_locked(
        self,
        meta: IndexMeta | None,
        *,
        roots: list[str],
        missing_roots: list[str],
        rebuild: bool,
        dry_run: bool,
        max_file_size: int,
        workers: int,
        progress: ProgressCallback | None,
        on_problem: ProblemCallback | None,
        started: float,
    ) -> UpdateReport:
        """`sync` once the write lock is held (or, for a dry run, without it).

        A sync with more to read than one checkpoint's share is done in rounds (`Rounds`),
        each an ordinary sync of a corpus that is the real one up to a point in corpus order
        (a file, or a line of a large JSON Lines file) and the indexed one after it, committed
        with its manifest: a kill loses at most the round in hand, and the next run goes on
        from the last commit as from any committed index. The last round is the real corpus.
        """
        directory = self.directory
        problems: list[Problem] = []
        seen_problems: set[Problem] = set()

        def report_problem(p: Problem) -> None:
            # Rounds plan the files they keep again: each problem is reported once a run.
            if p in seen_problems:
                return
            seen_problems.add(p)
            problems.append(p)
            if on_problem:
                on_problem(p)

        for root in missing_roots:
            reason = (
                "corpus root not found (an unmounted disk, a moved folder?): what was indexed "
                f"from it is kept; `searchkit forget {root}` drops it"
            )
            report_problem(Problem(root, reason, unavailable=True))
        files, scan_problems = scan(roots, max_file_size=max_file_size, exclude=[directory.path])
        for p in scan_problems:
            report_problem(p)

        fresh = rebuild or meta is None
        if fresh:
            manifest = Manifest()
            ix = None
            known_fields: set[str] = set()
        else:
            assert meta is not None  # not fresh: there is a live generation
            ix = directory.open_generation(meta.current)
            manifest = load_live_manifest(ix, index_path=self.directory.path)
            known_fields = _metadata_fields(ix)

        def planner_for(manifest: Manifest, known_fields: set[str]) -> SyncPlanner:
            return SyncPlanner(
                manifest,
                report_problem=report_problem,
                known_fields=known_fields,
                record_limit=max_file_size,
            )

        journal = Journal(directory.path)
        api_documents: list[Document] = []
        journal_problems: list[Problem] = []
        rounds = Rounds(max_file_size)
        present_all = {cf.path for cf in files}
        plans: list[Plan] = []  # summaries of the rounds committed before the last
        name = ""
        run_progress: RunProgress | None = None
        while True:
            round_started = time.monotonic()
            planner = planner_for(manifest, known_fields)
            tasks = planner.read_tasks(files, roots=roots, scan_problems=scan_problems)
            cut = None if dry_run else rounds.cut(tasks)
            present = present_all
            if cut is not None:
                view = round_view(files, manifest, roots, cut.boundary)
                planner = planner_for(manifest, known_fields)
                tasks = planner.read_tasks(view, roots=roots, scan_problems=scan_problems)
                tasks = [cut.apply(t) for t in tasks]
                present = {cf.path for cf in view}
            if cut is not None and run_progress is None and progress is not None:
                # Rounds: one bar for the whole run, in documents, with a rate and an ETA.
                run_progress = RunProgress(progress, rounds.total_bytes)
            round_progress = run_progress.for_round() if run_progress else progress
            read_bytes = _read_round(
                tasks,
                planner,
                rounds,
                workers=workers,
                progress=round_progress,
                run_progress=run_progress,
                index_path=directory.path,
            )
            if fresh and not plans:
                # A rebuild (or a repair) keeps what was added through the API.
                api_documents, journal_problems = journal.documents()
                for p in journal_problems:
                    report_problem(p)
                planner.adopt_api_documents(api_documents)
            plan = planner.plan(present=present)
            if dry_run:
                return plan.report(problems, started=started, dry_run=True, rebuilt=rebuild)
            unreadable = [p.path for p in problems if p.unavailable]
            if meta is not None and fresh and unreadable:
                # A rebuild starts from nothing: it could not keep what those places held.
                raise UsageError(
                    f"cannot read {unreadable[0]} now: a rebuild would drop what was indexed "
                    "from it; run it again when it can be read (`searchkit index` keeps it "
                    "meanwhile)"
                )
            if not plans:
                if fresh:
                    directory.ensure_folder()
                    keep = {meta.current} if meta is not None else set()
                    # Half-built generations of interrupted rebuilds go before a new one starts.
                    directory.remove_stale_generations(keep)
                    name, ix = directory.new_generation()
                else:
                    assert meta is not None
                    new_roots = _merge_roots(meta.roots, roots)
                    if new_roots != meta.roots:
                        # Recorded before the commit: a crash in between leaves a root with
                        # nothing indexed yet, which the next run fills, never documents of an
                        # unknown root.
                        directory.write_meta(IndexMeta(current=meta.current, roots=new_roots))
            if run_progress:
                run_progress.planned(read_bytes, len(plan.to_add))
            _commit(ix, plan, index_path=directory.path, workers=workers, progress=round_progress)
            if meta is None and not plans:
                # A first build is searchable from its first checkpoint on, and the next run
                # goes on from the last one (a rebuild swaps the pointer at its end only).
                directory.write_meta(IndexMeta(current=name, roots=tuple(roots)))
            if run_progress:
                run_progress.committed(len(plan.to_add))
            plan.to_add = []  # committed: not held while the next round reads
            if cut is None:
                break
            plans.append(plan.summary())  # its documents are committed: not held any longer
            rounds.done(read_bytes, time.monotonic() - round_started)
            manifest = load_live_manifest(ix, index_path=directory.path)
            known_fields = _metadata_fields(ix)

        # Before a rebuild's swap: its searchers find the file from their first search on.
        _lay_out_documents(ix)
        if fresh:
            directory.write_meta(IndexMeta(current=name, roots=tuple(roots)))
            if journal.exists() and not journal_problems:
                # Compacted: deletions and replacements gone. A damaged journal stays as it
                # is, for a person to look at, rather than lose its damaged lines for good.
                journal.rewrite(api_documents)
            # The replaced generation stays one round for searchers that still have it open.
            keep = {meta.current} if meta is not None else set()
            directory.remove_stale_generations({name} | keep)
        else:
            assert meta is not None
            # A killed or failed rebuild leaves a half-built generation (numbered above the
            # live one) that would hold its disk space until the next rebuild.
            older = [g for g in directory.generations() if g < meta.current]
            directory.remove_stale_generations({meta.current, *older[-1:]})
        if not plans:
            return plan.report(problems, started=started, dry_run=False, rebuilt=rebuild)
        plans.append(plan.summary())
        return combine_reports(plans, plan.manifest, problems, started=started, rebuilt=rebuild)

    def _commit_journaled(self, ix, plan: Plan, record: Callable[[Journal], None]) -> None:
        """Commit a change made through the API, with its journal line written first."""
        journal = Journal(self.directory.path)
        mark = journal.size()
        try:
            record(journal)
            _commit(ix, plan, index_path=self.directory.path, workers=1, progress=None)
        except BaseException:
            journal.roll_back(mark)
            raise


def _read_round(
    tasks: list[ReadTask],
    planner: SyncPlanner,
    rounds: Rounds,
    *,
    workers: int,
    progress: ProgressCallback | None,
    run_progress: RunProgress | None,
    index_path: str,
) -> int:
    """Read a round's files into its planner; the input bytes read."""
    read_bytes = 0
    appended_after = {t.file.path: t.appended_after for t in tasks}
    try:
        for outcome in read_all(tasks, workers=workers, progress=progress):
            planner.take(outcome)
            rounds.read(outcome)
            work = max(0, outcome.file.size - appended_after.get(outcome.file.path, 0))
            read_bytes += work
            if run_progress:
                run_progress.read(work)
    except ReaderFailed as exc:
        raise IndexWriteError(index_path, f"{exc}; nothing was written") from None
    return read_bytes


def _mark_stale(entry: FileEntry, source: str) -> None:
    # A file-backed document changed by hand: the next sync re-reads the file, so the index
    # converges back to the corpus instead of trusting an unchanged signature.
    if source != API_SOURCE:
        entry.signature = ""


def _free_ids(manifest: Manifest, ids: Iterable[str]) -> None:
    """Ids no source holds any more: a file that claimed one in vain is read again next sync."""
    freed = set(ids)
    if not freed:
        return
    for src, entry in manifest.files.items():
        if not freed.isdisjoint(entry.shadowed):
            _mark_stale(entry, src)


def _metadata_fields(ix) -> set[str]:
    """The metadata field names the index holds (for its cap)."""
    with ix.reader() as reader:
        return {name for name in reader.indexed_field_names() if is_metadata_field(name)}


def _merge_roots(old: Sequence[str], new: Sequence[str]) -> tuple[str, ...]:
    merged = list(old)
    for r in new:
        if r not in merged:
            merged.append(r)
    return tuple(merged)


def _commit(
    ix, plan: Plan, *, index_path: str, workers: int, progress: ProgressCallback | None
) -> None:
    """Write the plan into the index (deletions, new segments, its manifest) and commit."""
    folder = ix.storage.folder
    if not plan.to_add and not plan.to_delete:
        # Files whose bytes changed but whose documents did not still need their new
        # signatures recorded, or every later sync would read them again.
        if (
            plan.manifest_only
            or plan.changed_files
            or plan.deleted_files
            or not os.path.exists(os.path.join(folder, Manifest.filename(ix.latest_generation())))
        ):
            _save_manifest(index_path, plan.manifest, folder, ix.latest_generation())
        return
    try:
        writer = ix.writer(limitmb=WRITER_LIMIT_MB)
    except OSError as exc:
        raise IndexWriteError(index_path, exc.strerror or str(exc)) from None
    parallel = workers > 1 and len(plan.to_add) >= PARALLEL_WRITE_THRESHOLD
    start_spelling_segment()
    try:
        if plan.to_delete:
            # One searcher for all deletions: update_document would reopen a reader per
            # call (~25 ms each on a 20k-document index).
            searcher = writer.searcher()
            try:
                for doc_id in plan.to_delete:
                    writer.delete_by_term("id", doc_id, searcher=searcher)
            finally:
                searcher.close()
        if parallel:
            new_segments = write_segments_in_parallel(
                folder,
                plan.to_add,
                workers=workers,
                fields_of=whoosh_fields,
                start_segment=start_spelling_segment,
                limitmb=WRITER_LIMIT_MB,
                progress=progress,
                finish=_finish_segment,
            )
        else:
            new_segments = []
            total = len(plan.to_add)
            for i, doc in enumerate(plan.to_add, 1):
                writer.add_document(**whoosh_fields(doc))
                if progress and (i % 500 == 0 or i == total):
                    progress("writing", i, total)
        _save_manifest(index_path, plan.manifest, folder, writer.generation)
        commit(writer, new_segments, merge=MERGE_SEGMENTS, finish=_finish_segment)
    except BaseException as exc:
        abandon(writer, ix)
        try:
            Manifest.remove_others(folder, ix.latest_generation())
        except Exception:  # noqa: BLE001 - best effort; the error being reported is the real one
            pass
        if isinstance(exc, OSError):
            raise IndexWriteError(index_path, exc.strerror or str(exc)) from None
        if isinstance(exc, WriterFailed):
            raise IndexWriteError(index_path, str(exc)) from None
        raise
    Manifest.remove_others(folder, ix.latest_generation())


def _finish_segment(folder: str, segment_id: str, open_reader) -> None:
    """What searchkit writes beside each segment before it is committed: its facet ordinals
    and its terms' postings, as arrays a new searcher maps (issue 10). A `SegmentFinisher`:
    files that exist are left as they are; the segment is read once for the others."""
    missing = [
        (write, path)
        for write, extension in (
            (write_ordinals, ORDINALS_EXTENSION),
            (write_term_arrays, TERM_ARRAYS_EXTENSION),
        )
        if not os.path.exists(path := os.path.join(folder, segment_id + extension))
    ]
    if not missing:
        return
    reader = open_reader()
    try:
        for write, path in missing:
            write(path, reader)
    finally:
        reader.close()


def _lay_out_documents(ix) -> None:
    """Write the file of every document's lengths, dates and facet values that searchers of
    the index as committed map (`document_arrays`), at the end of a run (a sync, `forget`,
    `optimize`; not after each checkpoint, nor after an API `add` or `delete`: their
    searchers lay the arrays out themselves until the next run). Only for an index of many
    segments, and only when it has none for its segments yet."""
    folder = ix.storage.folder
    names = ix.segment_names()
    if len(names) < document_arrays.MIN_SEGMENTS:
        document_arrays.remove_document_arrays(folder)
    elif not os.path.exists(document_arrays.file_path(folder, names)):
        document_arrays.write_apart(folder)


def _save_manifest(index_path: str, manifest: Manifest, folder: str, generation: int) -> None:
    try:
        manifest.save(folder, generation)
    except OSError as exc:
        raise IndexWriteError(index_path, exc.strerror or str(exc)) from None


def _check_field_cap(ix, documents: Sequence[Document]) -> None:
    """Refuse documents that would take the index past its metadata field cap."""
    known = _metadata_fields(ix)
    limit = max_index_fields()
    for doc in documents:
        _, problem = limit_index_fields(doc, known, limit)
        if problem is not None:
            raise InvalidValue("fields", f"document {doc.id!r}: {problem.reason}")
