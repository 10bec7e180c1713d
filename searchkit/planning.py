"""Planning a sync: which files to read again, and which documents to add, replace and delete.

`SyncPlanner` works in three steps — which files to read (`read_tasks`), what each read gave
(`take`, in corpus order), then the `Plan` (`plan`) — and settles which source owns each id as
a rebuild would: the first claim in corpus order wins, an unchanged file keeps its ids, the
API's documents win over files, and a claim that lost is taken up again when the winner lets
the id go. `UpdateReport` is what a sync did, counted in documents.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .corpus import DEFAULT_MAX_FILE_SIZE, CorpusFile, is_under, size_of, split_signature
from .documents import Document, Problem, limit_index_fields, max_index_fields
from .manifest import API_SOURCE, FileEntry, Manifest, document_hash
from .reading import (
    FileOutcome,
    ProgressCallback,
    ReadTask,
    read_corpus_file,
    reread_task,
    streams,
)

#: `on_problem(problem)`: called once per problem, as soon as it is met.
ProblemCallback = Callable[[Problem], None]


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
    #: Places that could not be read this time (a folder or file without permission, a
    #: vanished corpus root): what was indexed from them is kept.
    unavailable: tuple[str, ...] = ()
    dry_run: bool = False
    rebuilt: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """True if the update changed the index (or, in a dry run, would have)."""
        return bool(self.added or self.updated or self.deleted)

    def as_dict(self) -> dict:
        """Plain JSON-ready values, as `searchkit index --format json` prints them."""
        data = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in self.__dict__.items()
        }
        data["problems"] = [p.as_dict() for p in self.problems]
        return data

    @property
    def partial(self) -> bool:
        """True if some place could not be read: the index is in step with the rest only."""
        return bool(self.unavailable)

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
        if self.unavailable:
            n = len(self.unavailable)
            parts.append(f"{n} place{'s' if n != 1 else ''} unavailable (documents kept)")
        line = ", ".join(parts)
        if self.skipped or self.warnings or self.unavailable:
            line += " (see above)"
        if self.dry_run:
            line = "dry run, nothing written: would be " + line
        return line


@dataclass
class Plan:
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

    def summary(self) -> Plan:
        """What the plan did, in ids and files, without its documents and manifest: what a
        sync in rounds keeps of a committed round (keeping the rest would hold the corpus)."""
        return Plan(
            Manifest(),
            added=self.added,
            updated=self.updated,
            deleted=self.deleted,
            changed_files=self.changed_files,
            deleted_files=self.deleted_files,
        )

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
            unavailable=tuple(dict.fromkeys(p.path for p in problems if p.unavailable)),
            dry_run=dry_run,
            rebuilt=rebuilt,
            seconds=time.monotonic() - started,
        )


class SyncPlanner:
    """Plans a sync in three steps: which files to read (`read_tasks`), what each read gave
    (`take`, in corpus order), then which documents to add, replace and delete (`plan`)."""

    def __init__(
        self,
        old: Manifest,
        *,
        report_problem: ProblemCallback,
        known_fields: set[str],
        record_limit: int = DEFAULT_MAX_FILE_SIZE,
    ) -> None:
        self.old = old
        self.record_limit = record_limit  # of a file, and of a record in a streamed file
        self.report_problem = report_problem
        self.known_fields = known_fields  # metadata fields in the index, for its cap
        self.field_limit = max_index_fields()
        self.api_documents: list[Document] = []  # replayed from the journal by a rebuild
        self.new_files: dict[str, FileEntry] = {}  # the manifest's files after the sync
        self.touched_old: dict[str, FileEntry] = {}  # old entries of files read again or gone
        # id -> (hash, document, source); no document for one kept from a file that grew
        self.new_docs: dict[str, tuple[str, Document | None, str]] = {}
        self.changed_files: list[str] = []
        self.manifest_only = False
        #: id -> hash of documents a streamed file held that a file earlier in corpus order
        #: claims now: that file's claim wins, and the old document goes (or is replaced).
        self.displaced: dict[str, str] = {}

    def read_tasks(
        self, files: list[CorpusFile], *, roots: list[str], scan_problems: list[Problem]
    ) -> list[ReadTask]:
        """The files to read; the manifest entries of the others are kept as they are."""
        present = {cf.path for cf in files}
        # Files that exist but were skipped while scanning (too large, a FIFO now) keep the
        # documents they had, and so does everything under a folder that could not be
        # listed: a transient problem must not delete articles.
        skipped_paths = {p.path for p in scan_problems}
        unavailable = [p.path for p in scan_problems if p.unavailable]
        # An unmounted disk usually leaves its mount point behind, empty: a folder root that
        # now holds no file at all, where the index holds some, is taken as unavailable.
        holding = {cf.root for cf in files}
        for root in roots:
            if root in holding or not os.path.isdir(root):
                continue
            if any(src != API_SOURCE and is_under(src, root) for src in self.old.files):
                reason = (
                    "corpus root is empty (an unmounted disk?): what was indexed from it is "
                    f"kept; `searchkit forget {root}` drops it"
                )
                problem = Problem(root, reason, unavailable=True)
                scan_problems = [*scan_problems, problem]
                unavailable.append(root)
                self.report_problem(problem)
        for src, entry in self.old.files.items():
            in_scope = src != API_SOURCE and any(is_under(src, r) for r in roots)
            if (
                not in_scope
                or src in skipped_paths
                or any(is_under(src, place) for place in unavailable)
            ):
                self.new_files[src] = entry
            elif src not in present:
                self.touched_old[src] = entry

        tasks: list[ReadTask] = []
        kept: list[CorpusFile] = []
        for cf in files:
            old_entry = self.old.files.get(cf.path)
            if old_entry is None:
                tasks.append(ReadTask(cf, record_limit=self.record_limit))
            elif split_signature(old_entry.signature)[0] != cf.stat_key:
                tasks.append(reread_task(cf, old_entry, self.record_limit))
            else:
                self.new_files[cf.path] = old_entry
                kept.append(cf)
        # An unchanged file that lost an id to another source claims it again when that
        # source is read anew or gone: read it whole, so that the ids settle as a rebuild.
        in_flux = {
            doc_id
            for src in (*self.touched_old, *(t.file.path for t in tasks))
            if src in self.old.files
            for doc_id in self.old.files[src].docs
        }
        for cf in kept:
            entry = self.new_files[cf.path]
            if in_flux and not in_flux.isdisjoint(entry.shadowed):
                del self.new_files[cf.path]
                tasks.append(ReadTask(cf, record_limit=self.record_limit))
                continue
            for p in entry.problems:
                if p.skipped:
                    self.report_problem(p)
        tasks.sort(key=lambda t: t.file.path)  # corpus order decides which claim wins
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
                cf.signature(outcome.content_hash),
                old_entry.docs,
                old_entry.problems,
                list(old_entry.shadowed),  # still claimed: taken up if the winner lets go
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
        if outcome.streamed:
            self._take_streamed_part(outcome, old_entry)
            return None
        if not outcome.claimed_ids.isdisjoint(old_entry.docs) or any(
            doc_id in self.new_docs for doc_id in old_entry.docs
        ):
            # A new line reuses an old id, or a file earlier in the corpus now claims one:
            # only a whole read settles it (and names lines) as a rebuild does.
            digest = split_signature(old_entry.signature)[1]
            return read_corpus_file(ReadTask(cf, digest))
        assert outcome.content_hash is not None  # an appended read hashed the whole file
        entry = FileEntry(
            cf.signature(outcome.content_hash),
            dict(old_entry.docs),
            [*old_entry.problems, *outcome.problems],
            list(old_entry.shadowed),
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

    def _take_streamed_part(self, outcome: FileOutcome, old_entry: FileEntry) -> None:
        """Record the new lines of a streamed file (the next part of a checkpointed read, or
        lines appended since): never a whole read again, which could be gigabytes. Ids are
        settled here as a whole read would: an id the file already holds stays with its
        earlier line, and an old one a file earlier in corpus order now claims goes to it."""
        cf = outcome.file
        entry = FileEntry(
            cf.signature(outcome.content_hash or ""),
            dict(old_entry.docs),
            [*old_entry.problems, *outcome.problems],
            list(old_entry.shadowed),
        )
        for p in entry.problems:
            self.report_problem(p)
        for doc_id, h in old_entry.docs.items():
            if doc_id in self.new_docs:
                other = self.new_docs[doc_id][2] or "the documents added through the API"
                p = Problem(cf.path, f"duplicate id {doc_id!r} (already in {other}), skipped")
                del entry.docs[doc_id]
                entry.problems.append(p)
                entry.shadowed.append(doc_id)
                self.displaced[doc_id] = h
                self.report_problem(p)
                continue
            self.new_docs[doc_id] = (h, None, cf.path)
        documents = []
        for doc in outcome.documents:
            if doc.id in old_entry.docs:
                reason = f"duplicate id {doc.id!r} (first at an earlier line), skipped"
                p = Problem(outcome.lines or cf.path, reason)
                entry.problems.append(p)
                self.report_problem(p)
                continue
            documents.append(doc)
        self._take_documents(documents, cf.path, entry)
        self.new_files[cf.path] = entry
        self.changed_files.append(cf.path)

    def _take_documents(self, documents: Sequence[Document], source: str, entry: FileEntry):
        """Record a file's documents as read this run; an id read before is skipped."""
        for doc in documents:
            if doc.id in self.new_docs:
                other = self.new_docs[doc.id][2]
                p = Problem(source, f"duplicate id {doc.id!r} (already in {other}), skipped")
                entry.problems.append(p)
                entry.shadowed.append(doc.id)
                self.report_problem(p)
                continue
            h = document_hash(doc)
            self.new_docs[doc.id] = (h, doc, source)
            entry.docs[doc.id] = h

    def plan(self, *, present: set[str]) -> Plan:
        """The plan, once every read file was taken; `present`: the files the scan found."""
        plan = Plan(
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
        old_docs.update(self.displaced)
        for doc_id, (h, doc, src) in self.new_docs.items():
            if doc is None:
                continue  # kept from the unchanged part of a file that grew: indexed as is
            if doc_id in kept_owner:
                entry = self.new_files[src]
                del entry.docs[doc_id]
                owner = kept_owner[doc_id] or "the documents added through the API"
                reason = f"duplicate id {doc_id!r} (already in {owner}), skipped"
                p = Problem(src, reason)
                entry.problems.append(p)
                entry.shadowed.append(doc_id)
                self.report_problem(p)
                continue
            # The manifest keeps the hash of the document as read, so capping it again
            # next run is no change.
            doc, capped = limit_index_fields(doc, self.known_fields, self.field_limit)
            if capped is not None:
                self.new_files[src].problems.append(capped)
                self.report_problem(capped)
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
        for doc in self.api_documents:
            plan.added.append(doc.id)
            plan.to_add.append(doc)
        plan.deleted_files = [src for src in self.touched_old if src not in present]
        return plan

    def adopt_api_documents(self, documents: Sequence[Document]) -> None:
        """For a rebuild: the documents of the API journal, which win over a file's claim to
        the same id (as `Indexer.add` made them replace it)."""
        entry = FileEntry(signature="")
        for doc in documents:
            claimed = self.new_docs.pop(doc.id, None)
            if claimed is not None:
                file_entry = self.new_files[claimed[2]]
                file_entry.docs.pop(doc.id, None)
                file_entry.shadowed.append(doc.id)
            entry.docs[doc.id] = document_hash(doc)
            self.api_documents.append(doc)
        if entry.docs:
            self.new_files[API_SOURCE] = entry


def combine_reports(
    plans: Sequence[Plan],
    manifest: Manifest,
    problems: list[Problem],
    *,
    started: float,
    rebuilt: bool,
) -> UpdateReport:
    """One report for a sync done in rounds (`Rounds`): what all of them did, in documents;
    `plans` are their summaries, `manifest` the last one's."""
    whole = Plan(manifest)
    for plan in plans:
        whole.added += plan.added
        whole.updated += plan.updated
        whole.deleted += plan.deleted
        whole.changed_files += plan.changed_files
        whole.deleted_files += plan.deleted_files
    # A file read in several parts (or an id touched twice) is counted once.
    whole.added = list(dict.fromkeys(whole.added))
    added = set(whole.added)
    whole.updated = [i for i in dict.fromkeys(whole.updated) if i not in added]
    whole.deleted = list(dict.fromkeys(whole.deleted))
    whole.changed_files = list(dict.fromkeys(whole.changed_files))
    whole.deleted_files = list(dict.fromkeys(whole.deleted_files))
    return whole.report(problems, started=started, dry_run=False, rebuilt=rebuilt)


# -- checkpoints ------------------------------------------------------------------------------

#: A long sync commits a checkpoint after about this many seconds of work: a kill loses at
#: most that much, and searchers see the index grow.
CHECKPOINT_SECONDS = 30.0
#: Input bytes read between checkpoints: the first share, and the bounds of the share that is
#: fitted to `CHECKPOINT_SECONDS`. Memory holds one share's documents (never the corpus's),
#: hence the upper bound (measured: a writer process peaks near 235 MB on a 16 MB share of
#: the scale corpus and 290 MB on Reuters' 26 MB file, about 5 MB more per MB: 32 MB keeps
#: it far under 500 MB); each checkpoint adds a segment per writer process that searches
#: then visit (Whoosh's merge policy leaves segments of thousands of documents alone), hence
#: the lower one: on a loaded machine 30 s of work is a few thousand documents.
CHECKPOINT_FIRST_BYTES = 16 * 1024 * 1024
CHECKPOINT_MIN_BYTES = 16 * 1024 * 1024
CHECKPOINT_MAX_BYTES = 32 * 1024 * 1024
#: Fixes the share in bytes (tests lower it to get many checkpoints from a small corpus).
CHECKPOINT_ENV = "SEARCHKIT_CHECKPOINT_BYTES"
#: The least share of a large JSON Lines file read between two checkpoints (above the part of
#: a file the readers' binary check samples, so that the rest can be read as appended lines).
MIN_PIECE_BYTES = 64 * 1024


def checkpoint_bytes_from_env() -> int | None:
    """`$SEARCHKIT_CHECKPOINT_BYTES` as a number of bytes, or None when unset or not a number."""
    raw = os.environ.get(CHECKPOINT_ENV, "").strip()
    return max(1, int(raw)) if raw.isdigit() else None


@dataclass(frozen=True)
class Cut:
    """Where a round ends: files after `boundary` in corpus order wait for a later round;
    `piece` (when set) is a large JSON Lines file of which only `piece_bytes` are read."""

    boundary: str
    piece: str | None = None
    piece_bytes: int = 0

    def apply(self, task: ReadTask) -> ReadTask:
        """The task as this round reads it (a share of the file for the piece)."""
        if task.file.path != self.piece:
            return task
        return dataclasses.replace(task, budget=self.piece_bytes)


class Rounds:
    """Splits a sync into rounds of about one checkpoint's share of reading each."""

    def __init__(self, record_limit: int) -> None:
        self.record_limit = record_limit
        fixed = checkpoint_bytes_from_env()
        self.fixed = fixed is not None
        self.budget = fixed if fixed is not None else CHECKPOINT_FIRST_BYTES
        self.finished: set[str] = set()  # files read to their end in this run
        self.total_bytes = 0  # to read in the whole run, as the first round saw it
        self.count = 0
        self.max_rounds = 0

    def cut(self, tasks: Sequence[ReadTask]) -> Cut | None:
        """Where this round ends; None when what is left fits in one (the last round).

        Files read to their end earlier in this run (one that could not be read, say) are
        read again if they are still due, but count for nothing, so that every round but the
        last reads something new: the rounds end.
        """
        pending = [t for t in tasks if t.file.path not in self.finished]
        work = [max(0, t.file.size - t.appended_after) for t in pending]
        if not self.count:
            self.total_bytes = sum(work)
            # A guard against a file that changes under every round: then one last round.
            self.max_rounds = 10 + 3 * (len(pending) + self.total_bytes // MIN_PIECE_BYTES)
        self.count += 1
        if sum(work) <= self.budget or self.count > self.max_rounds:
            return None
        spent = 0
        for i, (task, size) in enumerate(zip(pending, work, strict=True)):
            if spent + size <= self.budget:
                spent += size
                continue
            left = self.budget - spent
            if streams(task.file, self.record_limit) and (i == 0 or 4 * left >= self.budget):
                piece = max(left, MIN_PIECE_BYTES)
                return Cut(task.file.path, task.file.path, piece)
            if i == 0:
                return Cut(task.file.path)  # one file over the share, read whole
            return Cut(pending[i - 1].file.path)
        return None

    def read(self, outcome: FileOutcome) -> None:
        """Record one read of this round."""
        if not outcome.partial:
            self.finished.add(outcome.file.path)

    def done(self, read_bytes: int, seconds: float) -> None:
        """A round was committed: fit the next share to `CHECKPOINT_SECONDS` of work."""
        if self.fixed or seconds <= 0 or read_bytes <= 0:
            return
        share = read_bytes * CHECKPOINT_SECONDS / seconds
        self.budget = int(min(CHECKPOINT_MAX_BYTES, max(CHECKPOINT_MIN_BYTES, share)))


def round_view(
    files: Sequence[CorpusFile], manifest: Manifest, roots: Sequence[str], boundary: str
) -> list[CorpusFile]:
    """The corpus a round syncs with: the files up to `boundary` (in corpus order) as they
    are, the others as the manifest recorded them (new ones absent, gone ones present), so
    that the round changes nothing after the boundary."""
    view = [cf for cf in files if cf.path <= boundary]
    for src, entry in manifest.files.items():
        if src == API_SOURCE or src <= boundary:
            continue
        root = next((r for r in roots if is_under(src, r)), None)
        if root is not None:  # one outside every root is kept by the planner as it is
            view.append(_as_recorded(src, root, entry))
    view.sort(key=lambda cf: cf.path)
    return view


def _as_recorded(src: str, root: str, entry: FileEntry) -> CorpusFile:
    """A file as the manifest recorded it: its recorded stat, which marks it unchanged."""
    stat_key = split_signature(entry.signature)[0]
    if src == root:
        rel = os.path.basename(root)  # a file given as a root, as the scan names it
    else:
        rel = src[len(root.rstrip(os.sep)) + 1 :].replace(os.sep, "/")
    return CorpusFile(src, root, rel, rel.rpartition("/")[0], size_of(stat_key), stat_key)


class RunProgress:
    """One progress bar for a sync done in rounds: `indexing`, documents written of the
    documents to write, that total estimated from what the rounds so far found per input
    byte (`~` on the bar), so that the rate and the ETA hold for the whole run."""

    def __init__(self, progress: ProgressCallback, total_bytes: int) -> None:
        self.progress = progress
        self.total_bytes = total_bytes
        self.planned_bytes = 0  # input of the rounds planned so far
        self.planned_docs = 0  # documents those rounds write
        self.read_bytes = 0
        self.written = 0  # documents of the rounds committed so far

    def for_round(self) -> ProgressCallback:
        """The callback for one round's reading and writing."""
        base = self.written

        def round_progress(phase: str, done: int, total: int) -> None:
            if phase == "writing":
                self._show(base + done)

        return round_progress

    def read(self, work: int) -> None:
        """Input bytes read."""
        self.read_bytes += work
        self._show(self.written)

    def planned(self, read_bytes: int, documents: int) -> None:
        """A round's plan: `documents` to write for `read_bytes` of input."""
        self.planned_bytes += read_bytes
        self.planned_docs += documents

    def committed(self, documents: int) -> None:
        """A round's documents are committed."""
        self.written += documents
        self._show(self.written)

    def _show(self, done: int) -> None:
        total = 0
        if self.planned_bytes:
            per_byte = self.planned_docs / self.planned_bytes
            total = max(done, round(per_byte * max(self.total_bytes, self.read_bytes)))
        self.progress(ESTIMATED_PHASE, done, total)


#: The phase `RunProgress` reports: its total is an estimate.
ESTIMATED_PHASE = "indexing"
