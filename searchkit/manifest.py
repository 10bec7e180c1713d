"""The manifest: what each committed generation of an index was built from.

For every file it records the signature (stat + content hash), the ids and content hashes of
its documents, and the problems met reading it. It is written next to the Whoosh table of
contents *for the generation the commit creates* (`manifest-<gen>.json`) before that commit, so
the manifest that is read is always the one of the committed table of contents: a crash at any
moment leaves an index and a manifest that agree, and the next run converges to the corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from .documents import Document, Problem
from .errors import IndexCorrupt

MANIFEST_VERSION = 2
#: Source key of documents added through the API rather than read from a file.
API_SOURCE = ""


@dataclass(slots=True)
class FileEntry:
    """The manifest's record of one file."""

    signature: str
    docs: dict[str, str] = field(default_factory=dict)  # id -> document content hash
    problems: list[Problem] = field(default_factory=list)
    #: Ids the file claims that another source holds: when that source lets one go, this
    #: file is read again so that its claim becomes the live document, as in a rebuild.
    shadowed: list[str] = field(default_factory=list)


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
            for name, (signature, flat_docs, *rest) in entries.items():
                pairs = iter(flat_docs)  # id, hash, id, hash, ...
                docs = dict(zip(pairs, pairs, strict=True))
                problem_list = [Problem(*p) for p in rest[0]] if rest else []
                shadowed = list(rest[1]) if len(rest) > 1 else []
                files[folder_key + name] = FileEntry(signature, docs, problem_list, shadowed)
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
            if e.problems or e.shadowed:
                record.append([[p.path, p.reason, p.skipped] for p in e.problems])
            if e.shadowed:
                record.append(e.shadowed)
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


def load_live_manifest(ix, *, index_path: str) -> Manifest:
    """The manifest of the live generation of the Whoosh index `ix`; raises `IndexCorrupt` if
    it is damaged, or missing from an index that holds documents (it could no longer be synced).
    """
    folder = ix.storage.folder
    generation = ix.latest_generation()
    name = Manifest.filename(generation)
    try:
        manifest = Manifest.load(folder, generation)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorrupt(index_path, f"{name}: {exc}") from None
    if manifest is None:
        if ix.doc_count_all():
            raise IndexCorrupt(index_path, f"{name} is missing")
        manifest = Manifest()
    return manifest
