"""Writing an index out for OpenSearch: `index.json` and `bulk-NNNN.ndjson` files of bounded size.

The files are what `push` sends, one bulk file a request, so an interrupted push resumes at
the first file the cluster has not acknowledged (`push.PushState`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..documents import Document
from ..errors import InvalidValue
from .mapping import index_body, source_of

#: Bytes of one bulk file (and so of one bulk request) at most: OpenSearch's default
#: `http.max_content_length` is 100 MB; requests of 5-15 MB are the documented sweet spot.
DEFAULT_BULK_BYTES = 5 * 1024 * 1024
INDEX_FILE = "index.json"
MANIFEST_FILE = "manifest.json"
BULK_PATTERN = "bulk-{:04d}.ndjson"


@dataclass(frozen=True)
class ExportReport:
    """What `export_files` wrote: the folder, the number of documents, the bulk files."""

    folder: str
    documents: int
    files: tuple[str, ...]

    def summary(self) -> str:
        """One line for people."""
        noun = "file" if len(self.files) == 1 else "files"
        return (
            f"{self.documents} documents in {len(self.files)} bulk {noun} and "
            f"{INDEX_FILE} under {self.folder}"
        )


def bulk_lines(doc: Document) -> bytes:
    """The action and source lines of one document, newline-terminated."""
    action = {"index": {"_id": doc.id}}
    return (
        json.dumps(action, ensure_ascii=False, separators=(",", ":"))
        + "\n"
        + json.dumps(source_of(doc), ensure_ascii=False, separators=(",", ":"))
        + "\n"
    ).encode("utf-8")


def bulk_batches(
    documents: Iterable[Document], max_bytes: int = DEFAULT_BULK_BYTES
) -> Iterator[bytes]:
    """The documents as bulk request bodies of at most `max_bytes` (a larger document alone)."""
    batch: list[bytes] = []
    size = 0
    for doc in documents:
        lines = bulk_lines(doc)
        if batch and size + len(lines) > max_bytes:
            yield b"".join(batch)
            batch, size = [], 0
        batch.append(lines)
        size += len(lines)
    if batch:
        yield b"".join(batch)


def export_files(
    documents: Iterable[Document],
    folder: str | os.PathLike,
    *,
    index_name: str,
    max_bytes: int = DEFAULT_BULK_BYTES,
) -> ExportReport:
    """Write `index.json`, the bulk files and `manifest.json` into `folder` (created if absent).

    A folder holding another export is refused (`InvalidValue`): files of two exports mixed
    would load both. The manifest is written last, so a folder without one is unfinished.
    """
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise InvalidValue("max_bytes", f"must be a whole number of 1 or more, not {max_bytes!r}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("bulk-*.ndjson")) or (out / MANIFEST_FILE).exists():
        raise InvalidValue(str(out), "already holds an export; choose an empty folder")
    write_json(out / INDEX_FILE, index_body())
    files: list[str] = []
    count = 0
    for batch in bulk_batches(documents, max_bytes):
        name = BULK_PATTERN.format(len(files) + 1)
        _write_atomic(out / name, batch)
        files.append(name)
        count += batch.count(b"\n") // 2
    write_json(out / MANIFEST_FILE, {"index_name": index_name, "documents": count, "files": files})
    return ExportReport(str(out), count, tuple(files))


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of a finished export; `InvalidValue` when the folder holds none."""
    path = Path(folder) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidValue(str(folder), "holds no finished export (no manifest.json)") from None
    except (OSError, ValueError) as exc:
        raise InvalidValue(str(path), f"cannot be read: {exc}") from None
    return data


def write_json(path: Path, data) -> None:
    """`data` as indented JSON, written atomically."""
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    _write_atomic(path, text.encode("utf-8"))


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
