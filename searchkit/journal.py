"""The journal of documents added through the API: the index's own source of articles.

Documents given to `Index.add()` come from no file, so a rebuild — also the one a corrupt
index's hint recommends — could not read them again. Each `add` and `delete` of such documents
appends one line to `api-documents.jsonl`, beside the generations (so damage to a generation
never reaches it), before its commit; a rebuild replays the journal and writes it anew,
compacted. A line cut short by a crash is the end of the journal: what it held had not been
committed either.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from .documents import Document, Problem
from .errors import IndexWriteError
from .store import JOURNAL_FILE


def _record(doc: Document) -> dict:
    return {"op": "add", **doc.as_dict()}


class Journal:
    """The API documents of one index directory."""

    def __init__(self, index_path: str) -> None:
        self.index_path = index_path
        self.path = os.path.join(index_path, JOURNAL_FILE)

    def exists(self) -> bool:
        """True once any document was added through the API."""
        return os.path.exists(self.path)

    def size(self) -> int:
        """The journal's length in bytes (0 when there is none): where a rollback goes back to."""
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def record_added(self, documents: Iterable[Document]) -> None:
        """Append the documents (before the commit that indexes them)."""
        self._append(_record(doc) for doc in documents)

    def record_deleted(self, ids: Iterable[str]) -> None:
        """Append the deletion of API documents (before the commit that deletes them)."""
        self._append({"op": "delete", "id": doc_id} for doc_id in ids)

    def roll_back(self, size: int) -> None:
        """Cut the journal back to `size` bytes: the commit its last lines announced failed."""
        try:
            with open(self.path, "r+b") as f:
                f.truncate(size)
                os.fsync(f.fileno())
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise IndexWriteError(self.index_path, exc.strerror or str(exc)) from None

    def documents(self) -> tuple[list[Document], list[Problem]]:
        """The live API documents, in the order first added, and problems with the journal."""
        live: dict[str, Document] = {}
        problems: list[Problem] = []
        try:
            with open(self.path, "rb") as f:
                lines = f.read().split(b"\n")
        except FileNotFoundError:
            return [], []
        except OSError as exc:
            raise IndexWriteError(self.index_path, exc.strerror or str(exc)) from None
        complete = lines[:-1]  # the part after the last newline was cut short by a crash
        for number, line in enumerate(complete, 1):
            try:
                record = json.loads(line)
                if record["op"] == "delete":
                    live.pop(record["id"], None)
                else:
                    doc = Document.from_dict(record)
                    live.pop(doc.id, None)
                    live[doc.id] = doc
            except Exception as exc:  # noqa: BLE001 - any damage to a line costs that line only
                reason = f"damaged line skipped ({type(exc).__name__}: {exc})"
                problems.append(Problem(f"{self.path}:{number}", reason))
        return list(live.values()), problems

    def rewrite(self, documents: Iterable[Document]) -> None:
        """Replace the journal by one line per live document (after a rebuild)."""
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                for doc in documents:
                    f.write(json.dumps(_record(doc), ensure_ascii=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise IndexWriteError(self.index_path, exc.strerror or str(exc)) from None

    def _append(self, records: Iterable[dict]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in records)
        if not data:
            return
        try:
            with open(self.path, "a+b") as f:
                # A line cut short (a crash or a full disk during an earlier append) would
                # swallow this one: cut the journal back to its last complete line first.
                end = f.seek(0, os.SEEK_END)
                if end:
                    f.seek(end - 1)
                    if f.read(1) != b"\n":
                        f.seek(0)
                        f.truncate(f.read().rfind(b"\n") + 1)  # 0: the only line was cut
                f.write(data.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise IndexWriteError(self.index_path, exc.strerror or str(exc)) from None
