"""Whoosh indexes on disk: creating and opening one generation's index, whose readers and
writers turn a damaged segment into `IndexCorrupt`."""

from __future__ import annotations

import os

from whoosh import index as whoosh_index
from whoosh.fields import Schema
from whoosh.filedb.filestore import FileStorage

from ..errors import IndexCorrupt
from .writing import segment_writer


def open_index(folder: str) -> GenerationIndex:
    """The Whoosh index in `folder` (raises whatever Whoosh raises for a missing or bad one)."""
    return FileStorage(folder).open_index(indexclass=GenerationIndex)


def create_index(folder: str, schema: Schema) -> GenerationIndex:
    """A new, empty Whoosh index in the existing folder `folder`."""
    return FileStorage(folder).create_index(schema, indexclass=GenerationIndex)


class GenerationIndex(whoosh_index.FileIndex):
    """The Whoosh index of one generation, whose readers and writers fail as `IndexCorrupt`
    (one line and a hint at the command line) when a segment file is damaged or missing,
    instead of Whoosh's EOFError, struct.error, UnpicklingError, FileNotFoundError, ..."""

    index_path = ""
    generation_name = ""

    def reader(self, reuse=None):
        """A reader of the committed segments; raises `IndexCorrupt` if one cannot be read."""
        try:
            return super().reader(reuse=reuse)
        except OSError as exc:
            if not os.path.isdir(self.storage.folder):
                raise  # the generation was replaced and removed meanwhile: not damage
            raise self._corrupt(exc) from None
        except MemoryError:
            raise
        except Exception as exc:
            raise self._corrupt(exc) from None

    def writer(self, procs=1, **kwargs):
        """A writer; the segments are checked first, so that damage fails here, not mid-write.

        Without Whoosh's own MAIN_WRITELOCK: searchkit's write lock (`IndexDirectory.
        write_lock`) already keeps writers apart, and Whoosh leaks its lock when a writer
        fails while it starts (a full disk): as long as anything holds on to that exception
        (a REPL's `sys.last_value`, a test's `pytest.raises`, a log record), every later
        update of the process failed as "locked by another writer".
        """
        if procs > 1:
            raise ValueError("searchkit writes in parallel itself (_whoosh/writing.py)")
        self.reader().close()
        return segment_writer(self, **kwargs)

    def segment_names(self) -> list[tuple[str, int]]:
        """(segment id, documents) of each segment the latest table of contents names, in
        document number order (no segment file is read)."""
        return [(s.segment_id(), s.doc_count_all()) for s in self._segments()]

    def _corrupt(self, exc: Exception) -> IndexCorrupt:
        kind = type(exc).__name__
        if type(exc).__module__ != "builtins":
            kind = f"{type(exc).__module__}.{kind}"  # struct.error, zlib.error, ...
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f": {exc.filename}" if isinstance(exc, OSError) and exc.filename else ""
        error = IndexCorrupt(
            self.index_path or self.storage.folder,
            f"{self.generation_name or self.storage.folder}: {kind}: {detail}{where}",
        )
        if isinstance(exc, PermissionError):
            error.hint = "check who may read the index folder"
        return error
