"""Keeping an index in step with a corpus: add, update and delete incrementally, or rebuild.

The manifest records, for every file, its signature (stat + content hash), the ids and content
hashes of its documents, and the problems met reading it. It is written next to the Whoosh table
of contents *for the generation the commit creates* (`manifest-<gen>.json`) before that commit, so
the manifest that is read is always the one of the committed table of contents: a crash at any
moment leaves an index and a manifest that agree, and the next run converges to the corpus.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from whoosh.filedb.filestore import FileStorage
from whoosh.index import clean_files
from whoosh.writing import SegmentWriter

from .corpus import (
    DEFAULT_MAX_FILE_SIZE,
    CorpusFile,
    OutsideRoot,
    content_hash,
    content_hasher,
    is_under,
    printable_path,
    read_bytes,
    resolve_roots,
    scan,
    size_of,
    split_signature,
)
from .documents import Document, Problem, parse_appended_lines, parse_file
from .errors import IndexCorrupt, IndexWriteError
from .schema import start_spelling_segment, whoosh_fields
from .store import IndexDirectory, IndexMeta
from .whoosh_fixes import writer_codec

#: `progress(phase, done, total)`: called while files are read and documents written.
ProgressCallback = Callable[[str, int, int], None]
#: `on_problem(problem)`: called once per problem, as soon as it is met.
ProblemCallback = Callable[[Problem], None]

MANIFEST_VERSION = 2
#: Source key of documents added through the API rather than read from a file.
API_SOURCE = ""
#: Below this many documents to write, one writer beats starting worker processes (measured
#: on 20news posts: 20 docs 0.52 s alone vs 0.55 s in two; 100 docs 0.80 s vs 0.70 s).
PARALLEL_WRITE_THRESHOLD = 50
#: Below this many bytes to parse, reading in this process beats a pool.
PARALLEL_PARSE_THRESHOLD = 4 * 1024 * 1024
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


# -- the manifest ---------------------------------------------------------------------------


@dataclass(slots=True)
class FileEntry:
    """The manifest's record of one file."""

    signature: str
    docs: dict[str, str] = field(default_factory=dict)  # id -> document content hash
    problems: list[Problem] = field(default_factory=list)


class Manifest:
    """Per-file signatures and document hashes of one committed generation."""

    def __init__(self, files: dict[str, FileEntry] | None = None) -> None:
        self.files: dict[str, FileEntry] = {} if files is None else files

    @staticmethod
    def filename(generation: int) -> str:
        """The manifest file of a Whoosh TOC generation."""
        return f"manifest-{generation}.json"

    @classmethod
    def load(cls, folder: str, generation: int) -> Manifest | None:
        """The manifest of a generation, None if it has none (raises on a damaged one)."""
        path = os.path.join(folder, cls.filename(generation))
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except FileNotFoundError:
            return None
        files: dict[str, FileEntry] = {}
        if raw.get("version") == 1:
            for src, e in raw["files"].items():
                problems = [Problem(*p) for p in e.get("problems", ())]
                files[src] = FileEntry(e["sig"], dict(e["docs"]), problems)
            return cls(files)
        if raw.get("version") != MANIFEST_VERSION:
            raise ValueError(f"unknown manifest version {raw.get('version')!r}")
        for folder_key, entries in raw["folders"].items():
            for name, (signature, flat_docs, *problems) in entries.items():
                pairs = iter(flat_docs)  # id, hash, id, hash, ...
                docs = dict(zip(pairs, pairs, strict=True))
                problem_list = [Problem(*p) for p in problems[0]] if problems else []
                files[folder_key + name] = FileEntry(signature, docs, problem_list)
        return cls(files)

    def save(self, folder: str, generation: int) -> None:
        """Write atomically; called before the commit that creates `generation`."""
        # Grouped by folder, one array per file, ids and hashes in one flat list: a third of
        # the objects of one JSON object per file, and loading the 20news manifest went from
        # 75 ms to 30 ms (a fixed cost of every update).
        folders: dict[str, dict[str, list]] = {}
        for src, e in self.files.items():
            head, sep, name = src.rpartition("/")
            record: list = [e.signature, [x for pair in e.docs.items() for x in pair]]
            if e.problems:
                record.append([[p.path, p.reason, p.skipped] for p in e.problems])
            folders.setdefault(head + sep, {})[name] = record
        data = {"version": MANIFEST_VERSION, "folders": folders}
        path = os.path.join(folder, self.filename(generation))
        tmp = path + f".{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            # json.dumps, not json.dump: dump streams through the pure-Python encoder (measured
            # 0.6 s for the 20k-file 20news manifest). ASCII: paths may hold surrogates.
            f.write(json.dumps(data, separators=(",", ":")))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @staticmethod
    def remove_others(folder: str, generation: int) -> None:
        """Delete the manifests of generations other than `generation` (superseded)."""
        keep = Manifest.filename(generation)
        for name in os.listdir(folder):
            if name.startswith("manifest-") and name != keep:
                try:
                    os.remove(os.path.join(folder, name))
                except OSError:
                    pass  # a leftover costs a few kilobytes; the next commit tries again

    def owner_of(self) -> dict[str, str]:
        """Document id -> source it belongs to."""
        return {doc_id: src for src, e in self.files.items() for doc_id in e.docs}

    def document_count(self) -> int:
        """Number of documents the manifest accounts for."""
        return sum(len(e.docs) for e in self.files.values())


def document_hash(doc: Document) -> str:
    """A hash of everything stored for a document: equal hashes mean nothing to rewrite."""
    h = hashlib.blake2b(digest_size=12)
    fields = sorted((k, list(v)) for k, v in doc.fields.items())
    date = doc.date.isoformat() if doc.date else ""
    h.update(json.dumps([doc.id, doc.title, doc.body, date, doc.path, fields]).encode())
    return h.hexdigest()


# -- reading files --------------------------------------------------------------------------


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
        return FileOutcome(cf, None, problems=(Problem(shown, exc.strerror),))
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
        return FileOutcome(cf, None, problems=(Problem(shown, reason),))
    folder = printable_path(cf.folder)
    old_size = task.appended_after
    digest = None
    if 0 < old_size < len(data):
        hasher = content_hasher(memoryview(data)[:old_size])
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


def _read_all(
    tasks: list[ReadTask],
    workers: int,
    progress: ProgressCallback | None,
) -> Iterable[FileOutcome]:
    total = len(tasks)
    size = sum(t.file.size - t.appended_after for t in tasks)
    if workers <= 1 or total < 2 or size < PARALLEL_PARSE_THRESHOLD:
        for i, task in enumerate(tasks, 1):
            yield read_corpus_file(task)
            if progress:
                progress("reading", i, total)
        return
    ctx = multiprocessing.get_context()
    # Big files first, so one large JSON Lines file does not start last and run alone.
    order = sorted(range(total), key=lambda i: -tasks[i].file.size)
    outcomes: list[FileOutcome | None] = [None] * total
    with ctx.Pool(workers) as pool:
        done = 0
        chunks = pool.imap_unordered(_read_indexed, [(i, tasks[i]) for i in order], chunksize=16)
        for i, outcome in chunks:
            outcomes[i] = outcome
            done += 1
            if progress:
                progress("reading", done, total)
    # Results in corpus order, so duplicate ids resolve the same way on every run.
    yield from outcomes  # type: ignore[misc]


def _read_indexed(item):
    i, task = item
    return i, read_corpus_file(task)


# -- syncing --------------------------------------------------------------------------------


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
        directory = self.directory
        meta = self._read_meta_if_any(tolerate_corrupt=rebuild)
        if paths:
            roots = resolve_roots(paths)
        elif meta is not None and meta.roots:
            roots = resolve_roots(meta.roots)
        else:
            roots = resolve_roots(["corpus"])
        if dry_run:
            return self._sync_locked(
                meta, roots, rebuild, True, max_file_size, workers, progress, on_problem, started
            )
        with directory.write_lock(self.lock_timeout):
            # Another writer may have finished meanwhile.
            meta = self._read_meta_if_any(tolerate_corrupt=rebuild)
            return self._sync_locked(
                meta, roots, rebuild, False, max_file_size, workers, progress, on_problem, started
            )

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
            return self._report(plan, [], started, ix=ix, dry_run=False, rebuilt=False)

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
            return self._report(plan, [], started, ix=ix, dry_run=False, rebuilt=False)

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

    def _load_manifest(self, ix) -> Manifest:
        """The manifest of the live generation; raises `IndexCorrupt` if it is damaged, or
        missing from an index that holds documents (the index could no longer be synced)."""
        folder = ix.storage.folder
        generation = ix.latest_generation()
        name = Manifest.filename(generation)
        try:
            manifest = Manifest.load(folder, generation)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(self.directory.path, f"{name}: {exc}") from None
        if manifest is None:
            if ix.doc_count_all():
                raise IndexCorrupt(self.directory.path, f"{name} is missing")
            manifest = Manifest()
        return manifest

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
        return meta, ix, self._load_manifest(ix)

    def _sync_locked(
        self, meta, roots, rebuild, dry_run, max_file_size, workers, progress, on_problem, started
    ) -> UpdateReport:
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
            old_manifest = self._load_manifest(ix)

        plan = self._plan(
            old_manifest, roots, files, scan_problems, workers, progress, report_problem
        )
        if dry_run:
            return self._report(plan, problems, started, ix=ix, dry_run=True, rebuilt=rebuild)

        new_roots = tuple(roots) if rebuild or meta is None else _merge_roots(meta.roots, roots)
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
        return self._report(plan, problems, started, ix=ix, dry_run=False, rebuilt=rebuild)

    def _plan(
        self,
        old: Manifest,
        roots: list[str],
        files: list[CorpusFile],
        scan_problems: list[Problem],
        workers: int,
        progress: ProgressCallback | None,
        report_problem: ProblemCallback,
    ) -> _Plan:
        present = {cf.path for cf in files}
        # Files that exist but were skipped while scanning (too large, unreadable) keep the
        # documents they had: a transient problem must not delete articles.
        skipped_paths = {p.path for p in scan_problems}
        new_files: dict[str, FileEntry] = {}
        touched_old: dict[str, FileEntry] = {}
        for src, entry in old.files.items():
            in_scope = src != API_SOURCE and any(is_under(src, r) for r in roots)
            if not in_scope or src in skipped_paths:
                new_files[src] = entry
            elif src not in present:
                touched_old[src] = entry

        tasks: list[ReadTask] = []
        for cf in files:
            entry = old.files.get(cf.path)
            if entry is not None:
                stat_key, digest = split_signature(entry.signature)
                if stat_key == cf.stat_key:
                    new_files[cf.path] = entry
                    for p in entry.problems:
                        if p.skipped:
                            report_problem(p)
                    continue
                tasks.append(ReadTask(cf, digest, _appendable_size(cf, stat_key, entry)))
            else:
                tasks.append(ReadTask(cf))

        plan = _Plan(Manifest(new_files))
        # id -> (hash, document, source); no document for one kept from a file that grew
        new_docs: dict[str, tuple[str, Document | None, str]] = {}
        for outcome in _read_all(tasks, workers, progress):
            cf = outcome.file
            old_entry = old.files.get(cf.path)
            if outcome.appended:
                assert old_entry is not None
                if not outcome.claimed_ids.isdisjoint(old_entry.docs) or any(
                    doc_id in new_docs for doc_id in old_entry.docs
                ):
                    # A new line reuses an old id, or a file earlier in the corpus now claims
                    # one: only a whole read settles it (and names lines) as a rebuild does.
                    digest = split_signature(old_entry.signature)[1]
                    outcome = read_corpus_file(ReadTask(cf, digest))
                else:
                    entry = FileEntry(
                        cf.signature(outcome.content_hash),
                        dict(old_entry.docs),
                        [*old_entry.problems, *outcome.problems],
                    )
                    for p in entry.problems:  # as a whole read would report them
                        report_problem(p)
                    # Already indexed: claimed in corpus order like the new documents, so a
                    # later file reusing one of these ids loses it, as in a rebuild.
                    for doc_id, h in old_entry.docs.items():
                        new_docs[doc_id] = (h, None, cf.path)
                    self._take_documents(
                        outcome.documents, cf.path, entry, new_docs, report_problem
                    )
                    new_files[cf.path] = entry
                    plan.changed_files.append(cf.path)
                    continue
            for p in outcome.problems:
                report_problem(p)
            if outcome.content_hash is None:
                if old_entry is not None:
                    new_files[cf.path] = old_entry  # unreadable now: keep what we had
                continue
            if outcome.unchanged:
                assert old_entry is not None
                new_files[cf.path] = FileEntry(
                    cf.signature(outcome.content_hash), old_entry.docs, old_entry.problems
                )
                plan.manifest_only = True
                for p in old_entry.problems:
                    if p.skipped:
                        report_problem(p)
                continue
            if old_entry is not None:
                touched_old[cf.path] = old_entry
            entry = FileEntry(cf.signature(outcome.content_hash), problems=list(outcome.problems))
            self._take_documents(outcome.documents, cf.path, entry, new_docs, report_problem)
            new_files[cf.path] = entry
            plan.changed_files.append(cf.path)

        # Ids kept by untouched files win over new documents claiming the same id.
        changed = set(plan.changed_files)
        kept_owner = {
            doc_id: src for src, e in new_files.items() if src not in changed for doc_id in e.docs
        }
        old_docs = {doc_id: h for e in touched_old.values() for doc_id, h in e.docs.items()}
        for doc_id, (h, doc, src) in new_docs.items():
            if doc is None:
                continue  # kept from the unchanged part of a file that grew: indexed as is
            if doc_id in kept_owner:
                entry = new_files[src]
                del entry.docs[doc_id]
                reason = f"duplicate id {doc_id!r} (already in {kept_owner[doc_id]}), skipped"
                p = Problem(src, reason)
                entry.problems.append(p)
                report_problem(p)
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
            if doc_id not in new_docs:
                plan.deleted.append(doc_id)
                plan.to_delete.append(doc_id)
        plan.deleted_files = [src for src in touched_old if src not in present]
        return plan

    @staticmethod
    def _take_documents(
        documents: Sequence[Document],
        source: str,
        entry: FileEntry,
        new_docs: dict[str, tuple[str, Document | None, str]],
        report_problem: ProblemCallback,
    ) -> None:
        """Record a file's documents as read this run; an id read before is skipped."""
        for doc in documents:
            if doc.id in new_docs:
                other = new_docs[doc.id][2]
                p = Problem(source, f"duplicate id {doc.id!r} (already in {other}), skipped")
                entry.problems.append(p)
                report_problem(p)
                continue
            h = document_hash(doc)
            new_docs[doc.id] = (h, doc, source)
            entry.docs[doc.id] = h

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
                new_segments = _write_segments_in_parallel(folder, plan.to_add, workers, progress)
            else:
                new_segments = []
                total = len(plan.to_add)
                for i, doc in enumerate(plan.to_add, 1):
                    writer.add_document(**whoosh_fields(doc))
                    if progress and (i % 500 == 0 or i == total):
                        progress("writing", i, total)
            self._save_manifest(plan.manifest, folder, writer.generation)
            # SegmentWriter.commit, plus the segments the workers wrote.
            segments = writer._merge_segments(None, None, MERGE_SEGMENTS)
            if writer._added:
                segments.append(writer._finalize_segment())
            else:
                writer._close_segment()
            writer._commit_toc(segments + new_segments)
            writer._finish()
        except BaseException as exc:
            _abandon(writer, ix)
            if isinstance(exc, OSError):
                raise IndexWriteError(self.directory.path, exc.strerror or str(exc)) from None
            raise
        Manifest.remove_others(folder, ix.latest_generation())

    def _save_manifest(self, manifest: Manifest, folder: str, generation: int) -> None:
        try:
            manifest.save(folder, generation)
        except OSError as exc:
            raise IndexWriteError(self.directory.path, exc.strerror or str(exc)) from None

    def _report(self, plan: _Plan, problems, started, *, ix, dry_run, rebuilt) -> UpdateReport:
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


def _appendable_size(cf: CorpusFile, old_stat_key: str, entry: FileEntry) -> int:
    """The old size of a file that may only have grown since it was read, else 0.

    Only a file read without a warning about the whole of it (a decoding fallback, say)
    qualifies: its new lines could be read differently on their own.
    """
    old_size = size_of(old_stat_key)
    if not entry.docs or old_size >= cf.size:
        return 0
    shown = printable_path(cf.path)
    if any(p.path == shown for p in entry.problems):
        return 0
    return old_size


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


def _write_segment(task: tuple[str, list[Document]]):
    """In a worker process: write documents into a new segment of the index; return it.

    The segment is not in any table of contents until the parent commits one naming it; if
    the parent never does, the next commit deletes its files.
    """
    folder, documents = task
    ix = FileStorage(folder).open_index()
    start_spelling_segment()
    writer = SegmentWriter(ix, _lk=False, codec=writer_codec(), limitmb=WRITER_LIMIT_MB)
    # Every writer of an index shares one temporary folder (Whoosh names it after the index),
    # so a worker must not destroy it: the parent's writer does when it finishes.
    try:
        for doc in documents:
            writer.add_document(**whoosh_fields(doc))
        return writer._finalize_segment()
    except BaseException:
        try:
            writer._close_segment()
        except Exception:  # noqa: BLE001 - the parent abandons the write and cleans up
            pass
        raise


def _write_segments_in_parallel(
    folder: str, documents: list[Document], workers: int, progress: ProgressCallback | None
) -> list:
    """Write the documents as `workers` new segments, one per process (analysis and posting
    encoding are pure Python: the cores only help in separate processes)."""
    chunks = [documents[i::workers] for i in range(workers)]
    total = len(documents)
    segments = []
    ctx = multiprocessing.get_context()
    with ctx.Pool(workers) as pool:
        for segment in pool.imap_unordered(_write_segment, [(folder, c) for c in chunks]):
            segments.append(segment)
            if progress:
                progress("writing", sum(s.doc_count_all() for s in segments), total)
    return segments


def _abandon(writer, ix) -> None:
    """Undo a write that failed: release Whoosh's lock, delete the files it left behind."""
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
        generation = ix.latest_generation()
        clean_files(storage, ix.indexname, generation, ix._segments())
        for name in os.listdir(storage.folder):
            if name.endswith(".tmp") and os.path.isdir(os.path.join(storage.folder, name)):
                shutil.rmtree(os.path.join(storage.folder, name), ignore_errors=True)
        Manifest.remove_others(storage.folder, generation)
    except Exception:  # noqa: BLE001 - best effort; the error being reported is the real one
        pass
