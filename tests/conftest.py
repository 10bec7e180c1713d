"""Fixtures shared by the test modules: an isolated index location, indexes built from
documents, and the real data beside the project (`../shared`), skipped when it is absent."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from searchkit import Document, Index
from searchkit.store import IndexDirectory

#: Read-only real data (corpora, judged collections) beside the project.
SHARED = Path(__file__).resolve().parents[2] / "shared"
REUTERS = SHARED / "corpora" / "reuters21578" / "reuters.jsonl"

#: Marks a test that reads ../shared.
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the shared data folder {SHARED} is not present"
)


@pytest.fixture(autouse=True)
def index_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`$SEARCHKIT_INDEX` points into the test's own folder: no test touches `index/`."""
    path = tmp_path / "index"
    monkeypatch.setenv("SEARCHKIT_INDEX", str(path))
    return path


@pytest.fixture
def build_index(tmp_path: Path) -> Iterator:
    """`build_index(documents, segments=1, name="idx")`: an `Index` holding `documents`.

    With `segments=n` the documents go in through `n` separate `add()` calls, in order, which
    leaves `n` segments (each commit writes one): document numbers keep the list's order.
    """
    opened: list[Index] = []

    def build(documents: Sequence[Document], *, segments: int = 1, name: str = "idx") -> Index:
        index = Index(tmp_path / name)
        documents = list(documents)
        size = -(-len(documents) // segments) if documents else 1
        for start in range(0, max(len(documents), 1), size):
            index.add(documents[start : start + size])
        opened.append(index)
        return index

    yield build
    for index in opened:
        index.close()


@pytest.fixture(scope="session")
def reuters_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the whole Reuters-21578 JSONL, built once per test session (~1 minute)."""
    if not REUTERS.is_file():
        pytest.skip(f"{REUTERS} is not present")
    path = tmp_path_factory.mktemp("reuters") / "index"
    with Index(path) as index:
        index.update([REUTERS])
    return path


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
