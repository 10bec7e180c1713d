"""The index never indexes itself (issue 8, class 6), reached by any path.

An index folder inside a corpus root is left out of the scan whether the index is named by its
plain path, through a symlink to a folder above it, or the corpus root is named through a
symlink; an idle corpus holding its index gives no changes on a re-run and no commits while
watched. A corpus root inside the index folder is refused.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Index, Watcher
from searchkit.cli import cli


def write(path: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{title}\nA story about harbours.\n", encoding="utf-8")


def ids(index: Path) -> set[str]:
    with Index(index) as ix:
        return {d.id for d in ix.documents()}


def layouts(tmp_path: Path):
    """(corpus path to give, index path to give, real corpus) for each way of reaching it."""
    real = tmp_path / "corpus"
    (tmp_path / "corpus-link").symlink_to(real, target_is_directory=True)
    return {
        "plain": (real, real / "index"),
        "index through a symlink": (real, tmp_path / "corpus-link" / "index"),
        "root through a symlink": (tmp_path / "corpus-link", real / "index"),
        "relative-looking path": (real, real / "sub" / ".." / "index"),
    }


@pytest.mark.parametrize(
    "layout",
    ["plain", "index through a symlink", "root through a symlink", "relative-looking path"],
)
def test_an_index_inside_its_corpus_is_not_indexed(tmp_path: Path, layout: str) -> None:
    real = tmp_path / "corpus"
    for i in range(3):
        write(real / f"a{i}.txt", f"Article {i}")
    (real / "sub").mkdir()
    corpus, index = layouts(tmp_path)[layout]
    runner = CliRunner()
    first = runner.invoke(cli, ["index", str(corpus), "--index", str(index), "--format", "json"])
    assert first.exit_code == 0, first.output
    assert ids(real / "index") == {"a0.txt", "a1.txt", "a2.txt"}
    for _ in range(2):
        again = runner.invoke(cli, ["index", "--index", str(index), "--format", "json"])
        assert again.exit_code == 0, again.output
        assert '"added": 0' in again.stdout and '"updated": 0' in again.stdout, again.stdout
        assert '"deleted": 0' in again.stdout
    assert ids(real / "index") == {"a0.txt", "a1.txt", "a2.txt"}


def test_a_root_inside_the_index_is_refused(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write(corpus / "a.txt", "Article")
    runner = CliRunner()
    assert runner.invoke(cli, ["index", str(corpus), "--index", str(index)]).exit_code == 0
    run = runner.invoke(cli, ["index", str(index), "--index", str(index)])
    assert run.exit_code == 2, run.output
    assert "index" in run.stderr and "inside" in run.stderr
    assert ids(index) == {"a.txt"}


def test_watching_a_corpus_that_holds_its_index_stays_idle(tmp_path: Path) -> None:
    real = tmp_path / "corpus"
    for i in range(3):
        write(real / f"a{i}.txt", f"Article {i}")
    # The root is named through a symlink, so the index's own writes arrive under that name.
    corpus = tmp_path / "corpus-link"
    corpus.symlink_to(real, target_is_directory=True)
    batches = []
    with Index(real / "index") as ix:
        ix.update([corpus])
        watcher = Watcher(ix, [corpus], delay=0.1, on_batch=batches.append)
        watcher.start()
        try:
            time.sleep(2.5)
            caught_up = list(batches)
            write(real / "a9.txt", "Article nine")
            deadline = time.monotonic() + 10
            while not any(b.added for b in batches) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(2.5)
        finally:
            watcher.stop()
    # The catch-up changes nothing; no batch is caused by the index's own writes.
    assert [b.changed for b in caught_up] == [False], caught_up
    after = batches[len(caught_up) :]
    assert [(b.added, b.updated, b.deleted) for b in after] == [(1, 0, 0)], after
