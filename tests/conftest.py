"""Fixtures shared by the test modules: an isolated index location, indexes built from
documents, and an index of the real Reuters data (skipped when `../shared` is absent).
Helper functions and constants live in `helpers`."""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

# SHARED, needs_shared and write_lock_held_elsewhere are re-exported for the test modules that
# still import them from here; new code imports them from helpers.
from helpers import REUTERS, SHARED, needs_shared, write_lock_held_elsewhere  # noqa: F401

from searchkit import Document, Index

#: How long past its own time limit a test may run before the whole run is ended.
HARD_LIMIT_GRACE_SECONDS = 30.0
_stderr_fd: int | None = None  # the run's real standard error, outside output capture


def pytest_configure(config: pytest.Config) -> None:
    """Keep the real standard error (capture is off while plugins are configured)."""
    global _stderr_fd
    _stderr_fd = os.dup(sys.stderr.fileno())


@pytest.fixture(autouse=True)
def hard_time_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """End the whole run, every thread's stack printed, when a test outlives its time limit
    by `HARD_LIMIT_GRACE_SECONDS`. pytest-timeout's limit cannot interrupt a test stuck in
    one long C call that does not look for signals (a Markdown regex once ran for minutes
    past it; its thread method needs the GIL that call holds); faulthandler's watchdog is a C
    thread that needs no GIL, so a hang fails CI in minutes instead of eating its run."""
    marker = request.node.get_closest_marker("timeout")
    limit = marker.args[0] if marker and marker.args else request.config.getini("timeout")
    faulthandler.dump_traceback_later(
        float(limit) + HARD_LIMIT_GRACE_SECONDS, exit=True, file=_stderr_fd or sys.stderr
    )
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def index_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`$SEARCHKIT_INDEX` points into the test's own folder: no test touches `index/`."""
    path = tmp_path / "index"
    monkeypatch.setenv("SEARCHKIT_INDEX", str(path))
    return path


@pytest.fixture(autouse=True)
def own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No configuration file, colour or pager setting of the person running the tests: returns
    where the tests' own configuration file would be (not written)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("SEARCHKIT_CONFIG", "SEARCHKIT_PAGER", "PAGER", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "xdg" / "searchkit" / "config.toml"


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
