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
from dataclasses import dataclass, field

from ._whoosh.writing import WriterFailed, abandon, commit, write_segments_in_parallel
from .corpus import (
    DEFAULT_MAX_FILE_SIZE,
    CorpusFile,
    is_under,
    resolve_roots,
    scan,
    split_signature,
)
from .documents import Document, Problem
from .errors import IndexCorrupt, IndexWriteError
from .manifest import API_SOURCE, FileEntry, Manifest, document_hash, load_live_manifest
from .reading import (
    FileOutcome,
    ProgressCallback,
    ReaderFailed,
    ReadTask,
    read_all,
    read_corpus_file,
    reread_task,
)
from .schema import start_spelling_segment, whoosh_fields
from .store import IndexDirectory, IndexMeta

#: `on_problem(problem)`: called once per problem, as soon as it is met.
ProblemCallback = Callable[[Problem], None]

#: Below this many documents to write, one writer beats starting worker processes (measured
#: on 20news posts: 20 docs 0.52 s alone vs 0.55 s in two; 100 docs 0.80 s vs 0.70 s).
PARALLEL_WRITE_THRESHOLD = 50
#: Memory for Whoosh's posting pool per writer; large enough that a 20k-article build never
#: spills to temporary runs (measured: spilling costs more than it saves on these corpora).
WRITER_LIMIT_MB = 128
#: Let a commit merge small segments (Whoosh's MERGE_SMALL); tests turn it off to get many.
MERGE_SEGMENTS = True


@dataclass(frozen=True)
class UpdateReport:
    """What an update or rebuild did, counted in documents; `problems` in the order met."""

    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    warnings: int = 0
    documents: int = 0
    problems: tuple[Problem, ...] = ()
    added_ids: tuple[str, ...] = ()
    updated_ids: tuple[str, ...] = ()
    deleted_ids: tuple[str, ...] = ()
    changed_files: tuple[str, ...] = ()
    deleted_files: tuple[str, ...] = ()
    dry_run: bool = False
    rebuilt: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """True if the update changed the index (or, in a dry run, would have)."""
        return bool(self.added or self.updated or self.deleted)

    def summary(self) -> str:
        """One line: `3 added, 1 updated, 2 deleted, 21572 unchanged, 1 skipped (see above)`."""
        parts = [
            f"{self.added} added",
            f"{self.updated} updated",
            f"{self.deleted} deleted",
            f"{self.unchanged} unchanged",
        ]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.warnings:
            parts.append(f"{self.warnings} warning" + ("s" if self.warnings != 1 else ""))
        line = ", ".join(parts)
        if self.skipped or self.warnings:
            line += " (see above)"
        if self.dry_run:
            line = "dry run, nothing written: would be " + line
        return line


@dataclass
class _Plan:
    """Documents to write and ids to delete, with the manifest as it will be after commit."""

    manifest: Manifest
    to_add: list[Document] = field(default_factory=list)
    to_delete: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    deleted_files: list[str] = field(default_factory=list)
    manifest_only: bool = False  # a file's stat changed, not its bytes: rewrite the manifest

    def report(
        self, problems: list[Problem], *, started: float, dry_run: bool, rebuilt: bool
    ) -> UpdateReport:
        """What the sync did (or, in a dry run, would do), counted in documents."""
        plan = self
        total_docs = plan.manifest.document_count()
        changed = len(plan.added) + len(plan.updated)
        unchanged = max(0, total_docs - changed)
        return UpdateReport(
            added=len(plan.added),
            updated=len(plan.updated),
            deleted=len(plan.deleted),
            unchanged=unchanged,
            skipped=sum(1 for p in problems if p.skipped),
            warnings=sum(1 for p in problems if not p.skipped),
            documents=total_docs,
            problems=tuple(problems),
            added_ids=tuple(plan.added),
            updated_ids=tuple(plan.updated),
            deleted_ids=tuple(plan.deleted),
            changed_files=tuple(plan.changed_files),
            deleted_files=tuple(plan.deleted_files),
            dry_run=dry_run,
            rebuilt=rebuilt,
            seconds=time.monotonic() - started,
        )


class _SyncPlanner:
    """Plans a sync in three steps: which files to read (`read_tasks`), what each read gave
    (`take`, in corpus order), then which documents to add, replace and delete (`plan`)."""

    def __init__(self, old: Manifest, *, report_problem: ProblemCallback) -> None:
        self.old = old
        self.report_problem = report_problem
        self.new_files: dict[str, FileEntry] = {}  # the manifest's files after the sync
        self.touched_old: dict[str, FileEntry] = {}  # old entries of files read again or gone
        # id -> (hash, document, source); no document for one kept from a file that grew
        self.new_docs: dict[str, tuple[str, Document | None, str]] = {}
        self.changed_files: list[str] = []
        self.manifest_only = False

    def read_tasks(
        self, files: list[CorpusFile], *, roots: list[str], scan_problems: list[Problem]
    ) -> list[ReadTask]:
        """The files to read; the manifest entries of the others are kept as they are."""
        present = {cf.path for cf in files}
        # Files that exist but were skipped while scanning (too large, unreadable) keep the
        # documents they had: a transient problem must not delete articles.
        skipped_paths = {p.path for p in scan_problems}
        for src, entry in self.old.files.items():
            in_scope = src != API_SOURCE and any(is_under(src, r) for r in roots)
            if not in_scope or src in skipped_paths:
                self.new_files[src] = entry
            elif src not in present:
                self.touched_old[src] = entry

        tasks: list[ReadTask] = []
        for cf in files:
            entry = self.old.files.get(cf.path)
            if entry is None:
                tasks.append(ReadTask(cf))
                continue
            if split_signature(entry.signature)[0] != cf.stat_key:
                tasks.append(reread_task(cf, entry))
                continue
            self.new_files[cf.path] = entry
            for p in entry.problems:
                if p.skipped:
                    self.report_problem(p)
        return tasks

    def take(self, outcome: FileOutcome) -> None:
        """Record what reading one file gave."""
        if outcome.appended:
            whole = self._take_appended(outcome)
            if whole is None:
                return
            outcome = whole
        cf = outcome.file
        old_entry = self.old.files.get(cf.path)
        for p in outcome.problems:
            self.report_problem(p)
        if outcome.content_hash is None:
            if old_entry is not None:
                self.new_files[cf.path] = old_entry  # unreadable now: keep what we had
            return
        if outcome.unchanged:
            assert old_entry is not None
            self.new_files[cf.path] = FileEntry(
                cf.signature(outcome.content_hash), old_entry.docs, old_entry.problems
            )
            self.manifest_only = True
            for p in old_entry.problems:
                if p.skipped:
                    self.report_problem(p)
            return
        if old_entry is not None:
            self.touched_old[cf.path] = old_entry
        entry = FileEntry(cf.signature(outcome.content_hash), problems=list(outcome.problems))
        self._take_documents(outcome.documents, cf.path, entry)
        self.new_files[cf.path] = entry
        self.changed_files.append(cf.path)

    def _take_appended(self, outcome: FileOutcome) -> FileOutcome | None:
        """Record the new lines of a file that grew; or, when they cannot be taken on their
        own, the outcome of reading the whole file again (for `take` to record)."""
        cf = outcome.file
        old_entry = self.old.files[cf.path]
        if not outcome.claimed_ids.isdisjoint(old_entry.docs) or any(
            doc_id in self.new_docs for doc_id in old_entry.docs
        ):
            # A new line reuses an old id, or a file earlier in the corpus now claims one:
            # only a whole read settles it (and names lines) as a rebuild does.
            digest = split_signature(old_entry.signature)[1]
            return read_corpus_file(ReadTask(cf, digest))
        entry = FileEntry(
            cf.signature(outcome.content_hash),
            dict(old_entry.docs),
            [*old_entry.problems, *outcome.problems],
        )
        for p in entry.problems:  # as a whole read would report them
            self.report_problem(p)
        # Already indexed: claimed in corpus order like the new documents, so a later file
        # reusing one of these ids loses it, as in a rebuild.
        for doc_id, h in old_entry.docs.items():
            self.new_docs[doc_id] = (h, None, cf.path)
        self._take_documents(outcome.documents, cf.path, entry)
        self.new_files[cf.path] = entry
        self.changed_files.append(cf.path)
        return None

    def _take_documents(self, documents: Sequence[Document], source: str, entry: FileEntry):
        """Record a file's documents as read this run; an id read before is skipped."""
        for doc in documents:
            if doc.id in self.new_docs:
                other = self.new_docs[doc.id][2]
                p = Problem(source, f"duplicate id {doc.id!r} (already in {other}), skipped")
                entry.problems.append(p)
                self.report_problem(p)
                continue
            h = document_hash(doc)
            self.new_docs[doc.id] = (h, doc, source)
            entry.docs[doc.id] = h

    def plan(self, *, present: set[str]) -> _Plan:
        """The plan, once every read file was taken; `present`: the files the scan found."""
        plan = _Plan(
            Manifest(self.new_files),
            changed_files=self.changed_files,
            manifest_only=self.manifest_only,
        )
        # Ids kept by untouched files win over new documents claiming the same id.
        changed = set(plan.changed_files)
        kept_owner = {
            doc_id: src
            for src, e in self.new_files.items()
            if src not in changed
            for doc_id in e.docs
        }
        old_docs = {doc_id: h for e in self.touched_old.values() for doc_id, h in e.docs.items()}
        for doc_id, (h, doc, src) in self.new_docs.items():
            if doc is None:
                continue  # kept from the unchanged part of a file that grew: indexed as is
            if doc_id in kept_owner:
                entry = self.new_files[src]
                del entry.docs[doc_id]
                reason = f"duplicate id {doc_id!r} (already in {kept_owner[doc_id]}), skipped"
                p = Problem(src, reason)
                entry.problems.append(p)
                self.report_problem(p)
                continue
            old_hash = old_docs.get(doc_id)
            if old_hash is None:
                plan.added.append(doc_id)
                plan.to_add.append(doc)
            elif old_hash != h:
                plan.updated.append(doc_id)
                plan.to_delete.append(doc_id)
                plan.to_add.append(doc)
        for doc_id in old_docs:
            if doc_id not in self.new_docs:
                plan.deleted.append(doc_id)
                plan.to_delete.append(doc_id)
        plan.deleted_files = [src for src in self.touched_old if src not in present]
        return plan


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
        if paths:
            roots = resolve_roots(paths)
        elif meta is not None and meta.roots:
            roots = resolve_roots(meta.roots)
        else:
            roots = resolve_roots(["corpus"])
        sync_locked = functools.partial(
            self._sync_locked,
            roots=roots,
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
            plan = _Plan(manifest)
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
            self._commit(ix, plan, workers=1, progress=None)
            return plan.report([], started=started, dry_run=False, rebuilt=False)

    def delete(self, ids: Iterable[str]) -> UpdateReport:
        """Remove documents by id (from whichever file or API call they came)."""
        started = time.monotonic()
        with self.directory.write_lock(self.lock_timeout):
            meta, ix, manifest = self._open_for_write()
            owner = manifest.owner_of()
            plan = _Plan(manifest)
            for doc_id in dict.fromkeys(ids):
                src = owner.get(doc_id)
                if src is None:
                    continue
                entry = manifest.files[src]
                del entry.docs[doc_id]
                _mark_stale(entry, src)
                plan.to_delete.append(doc_id)
                plan.deleted.append(doc_id)
            self._commit(ix, plan, workers=1, progress=None)
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
                self._save_manifest(manifest, ix.storage.folder, writer.generation)
            except BaseException:
                writer.cancel()
                raise
            try:
                writer.commit(optimize=True)
            except OSError as exc:
                raise IndexWriteError(self.directory.path, exc.strerror or str(exc)) from None
            Manifest.remove_others(ix.storage.folder, ix.latest_generation())

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
        rebuild: bool,
        dry_run: bool,
        max_file_size: int,
        workers: int,
        progress: ProgressCallback | None,
        on_problem: ProblemCallback | None,
        started: float,
    ) -> UpdateReport:
        """`sync` once the write lock is held (or, for a dry run, without it)."""
        directory = self.directory
        problems: list[Problem] = []

        def report_problem(p: Problem) -> None:
            problems.append(p)
            if on_problem:
                on_problem(p)

        files, scan_problems = scan(roots, max_file_size=max_file_size, exclude=[directory.path])
        for p in scan_problems:
            report_problem(p)

        fresh = rebuild or meta is None
        if fresh:
            old_manifest = Manifest()
            ix = None
        else:
            ix = directory.open_generation(meta.current)
            old_manifest = load_live_manifest(ix, index_path=self.directory.path)

        planner = _SyncPlanner(old_manifest, report_problem=report_problem)
        tasks = planner.read_tasks(files, roots=roots, scan_problems=scan_problems)
        try:
            for outcome in read_all(tasks, workers=workers, progress=progress):
                planner.take(outcome)
        except ReaderFailed as exc:
            raise IndexWriteError(directory.path, f"{exc}; nothing was written") from None
        plan = planner.plan(present={cf.path for cf in files})
        if dry_run:
            return plan.report(problems, started=started, dry_run=True, rebuilt=rebuild)

        new_roots = tuple(roots) if fresh else _merge_roots(meta.roots, roots)
        if fresh:
            directory.ensure_folder()
            keep = {meta.current} if meta is not None else set()
            # Half-built generations of interrupted rebuilds go before a new one starts.
            directory.remove_stale_generations(keep)
            name, ix = directory.new_generation()
            self._commit(ix, plan, workers=workers, progress=progress)
            directory.write_meta(IndexMeta(current=name, roots=new_roots))
            # The replaced generation stays one round for searchers that still have it open.
            directory.remove_stale_generations({name} | keep)
        else:
            if new_roots != meta.roots:
                # Recorded before the commit: a crash in between leaves a root with nothing
                # indexed yet, which the next run fills, never documents of an unknown root.
                directory.write_meta(IndexMeta(current=meta.current, roots=new_roots))
            self._commit(ix, plan, workers=workers, progress=progress)
            # A killed or failed rebuild leaves a half-built generation (numbered above the
            # live one) that would hold its disk space until the next rebuild.
            older = [g for g in directory.generations() if g < meta.current]
            directory.remove_stale_generations({meta.current, *older[-1:]})
        return plan.report(problems, started=started, dry_run=False, rebuilt=rebuild)

    def _commit(self, ix, plan: _Plan, *, workers: int, progress: ProgressCallback | None):
        folder = ix.storage.folder
        if not plan.to_add and not plan.to_delete:
            # Files whose bytes changed but whose documents did not still need their new
            # signatures recorded, or every later sync would read them again.
            if (
                plan.manifest_only
                or plan.changed_files
                or plan.deleted_files
                or not os.path.exists(
                    os.path.join(folder, Manifest.filename(ix.latest_generation()))
                )
            ):
                self._save_manifest(plan.manifest, folder, ix.latest_generation())
            return
        try:
            writer = ix.writer(limitmb=WRITER_LIMIT_MB)
        except OSError as exc:
            raise IndexWriteError(self.directory.path, exc.strerror or str(exc)) from None
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
                )
            else:
                new_segments = []
                total = len(plan.to_add)
                for i, doc in enumerate(plan.to_add, 1):
                    writer.add_document(**whoosh_fields(doc))
                    if progress and (i % 500 == 0 or i == total):
                        progress("writing", i, total)
            self._save_manifest(plan.manifest, folder, writer.generation)
            commit(writer, new_segments, merge=MERGE_SEGMENTS)
        except BaseException as exc:
            abandon(writer, ix)
            try:
                Manifest.remove_others(folder, ix.latest_generation())
            except Exception:  # noqa: BLE001 - best effort; the error being reported is the real one
                pass
            if isinstance(exc, OSError):
                raise IndexWriteError(self.directory.path, exc.strerror or str(exc)) from None
            if isinstance(exc, WriterFailed):
                raise IndexWriteError(self.directory.path, str(exc)) from None
            raise
        Manifest.remove_others(folder, ix.latest_generation())

    def _save_manifest(self, manifest: Manifest, folder: str, generation: int) -> None:
        try:
            manifest.save(folder, generation)
        except OSError as exc:
            raise IndexWriteError(self.directory.path, exc.strerror or str(exc)) from None


def _mark_stale(entry: FileEntry, source: str) -> None:
    # A file-backed document changed by hand: the next sync re-reads the file, so the index
    # converges back to the corpus instead of trusting an unchanged signature.
    if source != API_SOURCE:
        entry.signature = ""


def _merge_roots(old: Sequence[str], new: Sequence[str]) -> tuple[str, ...]:
    merged = list(old)
    for r in new:
        if r not in merged:
            merged.append(r)
    return tuple(merged)
