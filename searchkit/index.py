"""`Index`: the public face of searchkit — update an index from a corpus, inspect and search it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from ._whoosh.reading import column_array, live_flags
from .corpus import DEFAULT_MAX_FILE_SIZE
from .documents import Document
from .errors import InvalidValue
from .schema import DATE_FACETS, WORD_MARK, is_metadata_field
from .store import IndexDirectory

if TYPE_CHECKING:
    from .indexer import Indexer
    from .planning import ProblemCallback, UpdateReport
    from .reading import ProgressCallback
    from .search import Searcher

#: Where the index lives unless told otherwise.
INDEX_ENV = "SEARCHKIT_INDEX"
DEFAULT_INDEX = "index"


def default_index_path() -> str:
    """`$SEARCHKIT_INDEX`, else `index/` in the current directory."""
    return os.environ.get(INDEX_ENV) or DEFAULT_INDEX


@dataclass(frozen=True)
class FieldStats:
    """A facet field and how many distinct values it has."""

    name: str
    distinct: int

    def as_dict(self) -> dict:
        """Plain JSON-ready values: `name`, `distinct`."""
        return {"name": self.name, "distinct": self.distinct}


@dataclass(frozen=True)
class IndexStats:
    """What `searchkit stats` shows."""

    path: str
    documents: int
    earliest: str | None
    latest: str | None
    fields: tuple[FieldStats, ...]
    size_bytes: int
    segments: int
    roots: tuple[str, ...]
    last_update: datetime | None
    generation: str

    def as_dict(self) -> dict:
        """Plain JSON-ready values, as `searchkit stats --format json` prints them: `fields`
        maps each facet field to its count of distinct values, `last_update` is ISO 8601."""
        return {
            "path": self.path,
            "documents": self.documents,
            "earliest": self.earliest,
            "latest": self.latest,
            "fields": {f.name: f.distinct for f in self.fields},
            "size_bytes": self.size_bytes,
            "segments": self.segments,
            "roots": list(self.roots),
            "last_update": self.last_update.isoformat() if self.last_update else None,
            "generation": self.generation,
        }


class Index:
    """A searchkit index on disk. `Index(path)` creates it on first write if it does not exist.

    Use it as a context manager, or call `close()`, to release open files.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        lock_timeout: float = 5.0,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path if path is not None else default_index_path()))
        self.lock_timeout = lock_timeout
        self._directory = IndexDirectory(self.path)
        self._searcher: Searcher | None = None  # created by the first search

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, **kwargs) -> Index:
        """Open an existing index; raises `IndexNotFound` if there is none."""
        ix = cls(path, **kwargs)
        ix._directory.read_meta()
        return ix

    @classmethod
    def create(cls, path: str | os.PathLike | None = None, **kwargs) -> Index:
        """Open the index at `path`, creating an empty one if there is none."""
        ix = cls(path, **kwargs)
        if not ix._directory.exists():
            ix._indexer().add(())
        return ix

    def exists(self) -> bool:
        """True if there is an index at this path."""
        return self._directory.exists()

    def close(self) -> None:
        """Release open files (searchers)."""
        searcher, self._searcher = self._searcher, None
        if searcher is not None:
            searcher.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def _indexer(self) -> Indexer:
        # Imported here: searching never needs the indexer (nor YAML, which it pulls in).
        from .indexer import Indexer

        return Indexer(self._directory, lock_timeout=self.lock_timeout)

    def update(
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
        """Bring the index in step with the corpus: new, changed and deleted files.

        `paths` are folders or files; without them, the roots recorded in the index (or
        `corpus/` for a new index). `rebuild=True` builds a complete new index beside the live
        one and swaps it in when done. `dry_run=True` reports what would change, writing nothing.
        """
        return self._indexer().sync(
            paths,
            rebuild=rebuild,
            dry_run=dry_run,
            max_file_size=max_file_size,
            workers=workers,
            progress=progress,
            on_problem=on_problem,
        )

    def add(self, documents: Iterable[Document]) -> UpdateReport:
        """Add documents built by the caller; a document with an existing id replaces it.

        Raises `InvalidValue` before writing anything if `documents` is not an iterable of
        `Document`s (one `Document` on its own included: pass `[doc]`).
        """
        return self._indexer().add(_checked_documents(documents))

    def delete(self, ids: Iterable[str]) -> UpdateReport:
        """Delete documents by id; unknown ids are ignored.

        Raises `InvalidValue` before deleting anything if `ids` is one string (it would be
        read letter by letter) or holds anything but non-empty strings.
        """
        return self._indexer().delete(_checked_ids(ids))

    def forget(self, roots: Iterable[str | os.PathLike]) -> UpdateReport:
        """Drop corpus roots: their documents leave the index and later updates skip them.

        The explicit way to stop indexing a place; a root that is missing or unreadable for a
        while keeps its documents. Raises `UsageError` for a path that is not a recorded root.
        """
        if isinstance(roots, (str, bytes, os.PathLike)):
            roots = [roots]  # one path is plainly meant as one root
        return self._indexer().forget(roots)

    def documents(self) -> Iterator[Document]:
        """Every stored document, in index order (a snapshot of the live index)."""
        return self._open_searcher().documents()

    def optimize(self) -> None:
        """Merge the index into one segment (searches get faster; the write takes longer)."""
        self._indexer().optimize()

    # -- reading -----------------------------------------------------------------------------

    def stats(self) -> IndexStats:
        """Document count, date span, facet fields, size, segments, roots, last update."""
        meta, ix = self._directory.open_current()
        folder = self._directory.generation_path(meta.current)
        with ix.searcher() as searcher:
            reader = searcher.reader()
            fields = []
            for name in sorted(reader.indexed_field_names()):
                if name in DATE_FACETS or is_metadata_field(name):
                    # Whole values only: the words of values are indexed behind WORD_MARK.
                    mark = WORD_MARK.encode("utf-8")
                    values = sum(1 for t in reader.lexicon(name) if not t.startswith(mark))
                    fields.append(FieldStats(name, values))
            earliest, latest = _date_span(reader)
            documents = searcher.doc_count()
            segments = len(reader.leaf_readers())
        toc = os.path.join(folder, f"_MAIN_{ix.latest_generation()}.toc")
        try:
            mtime = os.stat(toc).st_mtime
            last_update = datetime.fromtimestamp(mtime, tz=timezone.utc)
        except OSError:
            last_update = None
        size = 0
        for entry in os.scandir(folder):
            if entry.is_file():
                size += entry.stat().st_size
        return IndexStats(
            path=self.path,
            documents=documents,
            earliest=earliest,
            latest=latest,
            fields=tuple(fields),
            size_bytes=size,
            segments=segments,
            roots=meta.roots,
            last_update=last_update,
            generation=meta.current,
        )

    # -- searching ---------------------------------------------------------------------------

    _searcher_lock = threading.Lock()

    def _open_searcher(self) -> Searcher:
        # One Searcher per Index, created on first use: an embedding program shares it
        # between threads, and it follows the index's updates by itself.
        with Index._searcher_lock:
            if self._searcher is None:
                from .search import Searcher

                self._searcher = Searcher(self._directory)
            return self._searcher

    def search(
        self,
        text: str,
        *,
        limit: int = 10,
        page: int = 1,
        since=None,
        until=None,
        where=None,
        facets: Iterable[str] = (),
        facet_limit: int | None = 10,
        sort: str = "relevance",
        fragments: int = 1,
        strict: bool = False,
        explain: bool = False,
    ):
        """Search the index; returns `Results` (plain values, usable after the index closes).

        `text` is a query: words (AND'ed across title and body), `"phrases"`, `field:value`,
        `date:2020-03`, AND / OR / NOT, wildcards, `word~`. When fewer documents than a page
        hold every word, documents holding some of them follow (`Results.relaxed`).
        `since` / `until`: `2020`, `2020-03`, `2020-03-14`, `march 2020`, `7d`, `yesterday`,
        `last month`, a `date` or `datetime`; a document matches when its whole period lies in
        the range. `where`: `{"places": ["brazil", "usa"]}` or `["places=brazil"]` (values of
        one field OR'ed, fields AND'ed). `facets`: fields to count over all matches (`year`,
        `month`, `day` in time order, others most frequent first, at most `facet_limit`).
        `sort`: `relevance`, `date` or `-date` (newest first). `fragments`: snippet fragments
        per hit (0: none). `strict=True` makes a syntax error a `QuerySyntaxError` and never
        relaxes the query. `explain=True` adds each hit's score parts.
        """
        return self._open_searcher().search(
            text,
            limit=limit,
            page=page,
            since=since,
            until=until,
            where=where,
            facets=facets,
            facet_limit=facet_limit,
            sort=sort,
            fragments=fragments,
            strict=strict,
            explain=explain,
        )

    def get(self, doc_id: str) -> Document:
        """The stored document with this id; raises `DocumentNotFound`."""
        return self._open_searcher().get(doc_id)

    def similar(self, doc_id: str, *, limit: int = 10, fragments: int = 1):
        """Documents like the one with this id (its key terms, searched); `Results`."""
        return self._open_searcher().similar(doc_id, limit=limit, fragments=fragments)


def _checked_documents(documents: Iterable[Document]) -> list[Document]:
    if isinstance(documents, Document):
        raise InvalidValue("documents", "one Document, not a list of them (write [document])")
    try:
        docs = list(documents)
    except TypeError:
        raise InvalidValue(
            "documents", f"not an iterable of Documents: {type(documents).__name__}"
        ) from None
    for doc in docs:
        if not isinstance(doc, Document):
            raise InvalidValue("documents", f"holds a {type(doc).__name__}, not a Document")
    return docs


def _checked_ids(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, (str, bytes)):
        raise InvalidValue("ids", f"one string {ids!r:.40}, not a list of ids (write [id])")
    try:
        checked = list(ids)
    except TypeError:
        raise InvalidValue("ids", f"not an iterable of ids: {type(ids).__name__}") from None
    for doc_id in checked:
        if not isinstance(doc_id, str) or not doc_id:
            raise InvalidValue("ids", f"{doc_id!r:.40} is not an id (a non-empty string)")
    return checked


def _date_span(reader) -> tuple[str | None, str | None]:
    """The dates (as written) of the live documents that start first and last, read from
    each segment's date column as one array (a Whoosh search sorted by date walks every
    date term: seconds on Reuters)."""
    first: tuple | None = None
    last: tuple | None = None
    for sub, _ in reader.leaf_readers():
        count = sub.doc_count_all()
        if not count:
            continue
        starts = column_array(sub, "date")
        live = live_flags(sub)
        dated = np.flatnonzero(live & (starts != sub.schema["date"].column_type.default_value()))
        if not dated.size:
            continue
        low = dated[np.argmin(starts[dated])]
        high = dated[np.argmax(starts[dated])]
        if first is None or starts[low] < first[0]:
            first = (starts[low], sub.stored_fields(int(low)).get("date_text"))
        if last is None or starts[high] > last[0]:
            last = (starts[high], sub.stored_fields(int(high)).get("date_text"))
    return (first[1] if first else None), (last[1] if last else None)
