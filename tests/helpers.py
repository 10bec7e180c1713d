"""Helpers the test modules share: the real data beside the project, what an index holds read
straight from Whoosh, what the readers make of a folder, articles written for a test, and the
command line run in-process.

Test modules import from here (`from helpers import ...`), never from each other or from
`conftest`, which keeps the fixtures only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from searchkit import Document
from searchkit.readers import parse_file
from searchkit.store import IndexDirectory

#: Read-only real data (corpora, judged collections) beside the project.
SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = SHARED / "corpora"
REUTERS = CORPORA / "reuters21578" / "reuters.jsonl"

#: Marks a test that reads ../shared.
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the shared data folder {SHARED} is not present"
)


def stored_documents(index_path: str | Path) -> dict[str, dict]:
    """id -> every stored field of every live document of the index at `index_path`, read
    straight from Whoosh (not through the API under test); fails on a duplicate id."""
    _, ix = IndexDirectory(index_path).open_current()
    with ix.searcher() as s:
        docs = list(s.all_stored_fields())
    ids = [d["id"] for d in docs]
    dupes = sorted({i for i in ids if ids.count(i) > 1}) if len(ids) != len(set(ids)) else []
    assert not dupes, f"duplicate ids in the index: {dupes[:10]}"
    return {d["id"]: d for d in docs}


def indexed(index_path: str | Path) -> dict[str, tuple[str, str, str]]:
    """id -> (title, body, path) of every live document, read straight from Whoosh: what
    `Corpus.as_index_sees_it` is compared with."""
    return {
        doc_id: (d["title"], d["body"].strip(), d.get("path", ""))
        for doc_id, d in stored_documents(index_path).items()
    }


class Corpus:
    """A corpus written by the test, with the documents it must produce computed alongside."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.expected: dict[str, tuple[str, str, str]] = {}
        self.jsonl: dict[str, list[dict]] = {}

    def write_text_article(self, rel: str, title: str, body: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{title}\n{body}\n", encoding="utf-8")
        self.expected[rel] = (title, body, str(path))
        return path

    def delete(self, rel: str) -> None:
        (self.root / rel).unlink()
        del self.expected[rel]

    def write_jsonl(self, rel: str, records: list[dict]) -> None:
        path = self.root / rel
        for old in self.jsonl.get(rel, []):
            self.expected.pop(old["id"], None)
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        self.jsonl[rel] = records
        for r in records:
            self.expected[r["id"]] = (r["title"], r["body"], str(path))

    def as_index_sees_it(self) -> dict[str, tuple[str, str, str]]:
        return {k: (t, b.strip(), p) for k, (t, b, p) in self.expected.items()}


def expected_documents(root: Path) -> dict[str, Document]:
    """id -> the document the readers make of each regular file under `root` (symbolic links
    left out, as the indexer leaves them): what an index of `root` must hold."""
    docs = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        result = parse_file(
            path.read_bytes(), path=str(path), id_base=rel, folder=rel.rpartition("/")[0]
        )
        docs.update((d.id, d) for d in result.documents)
    return docs


def write_articles(
    root: Path, count: int, start: int = 0, *, words: int = 30, name: str = "article-{:04d}.txt"
) -> None:
    """Plain-text articles `start` .. `start + count - 1` in `root`, one document each, titled
    `Article number <i>`, about harbours, with `words` more words; `name` formats file names."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        body = " ".join(f"word{(i * 7 + k) % 997}" for k in range(words))
        (root / name.format(i)).write_text(
            f"Article number {i}\nA report about harbours and {body}.\n", encoding="utf-8"
        )


def run_cli(*args: str, catch_exceptions: bool = True) -> Result:
    """`searchkit ARGS` in-process through click's CliRunner; `stdout` and `stderr` apart."""
    # Imported here: the library tests that import helpers do not need the command line.
    from searchkit.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=catch_exceptions)


@contextmanager
def write_lock_held_elsewhere(index_path: Path) -> Iterator[None]:
    """For the block, another thread holds the index's write lock (as another writer would)."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with IndexDirectory(index_path).write_lock(timeout=1):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(5), "the lock could not be taken"
        yield
    finally:
        release.set()
        thread.join()
