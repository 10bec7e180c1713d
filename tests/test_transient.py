"""A transient condition never deletes documents (issue 8, class 1).

A folder that cannot be listed, a file that cannot be read, a corpus root that vanished (an
unmounted disk, a moved folder): the documents under it stay, one warning names the place and
the reason, the other places sync normally, and the exit status says the run was partial
(`EXIT_PARTIAL`). Forgetting a root is its own command (`searchkit forget`), never a side effect.

Permissions mean nothing to root, so those runs go through `setpriv` as an unprivileged user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Index
from searchkit.cli import cli
from searchkit.readers import parse_file

#: `searchkit index` exit status for a run that could not read every place.
EXIT_PARTIAL = 4
NOBODY = 65534
SETPRIV = shutil.which("setpriv")
# Run by root, setpriv can drop to another user; run by anyone else, the test is unprivileged
# already and chmod alone does the job.
needs_unprivileged = pytest.mark.skipif(
    os.geteuid() == 0 and SETPRIV is None,
    reason="running as root without setpriv: permissions cannot be tested (root ignores them)",
)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder the unprivileged user may use (pytest's own tmp folders are root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="searchkit-transient-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        for folder, dirs, _ in os.walk(path):  # make it removable whatever a test left
            for d in dirs:
                os.chmod(os.path.join(folder, d), 0o777)
        shutil.rmtree(path, ignore_errors=True)


def write(path: Path, title: str, words: str = "harbour cranes report") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{title}\nA story about {words} and {title.lower()}.\n", encoding="utf-8")


def expected_ids(*roots: Path) -> set[str]:
    """Every id the readers give for the files under the roots, computed without searchkit's
    indexer: one document per plain-text file, named by its path below its root."""
    ids: set[str] = set()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            result = parse_file(
                path.read_bytes(), path=str(path), id_base=rel, folder=rel.rpartition("/")[0]
            )
            ids.update(d.id for d in result.documents)
    return ids


def indexed_ids(index: Path) -> set[str]:
    with Index(index) as ix:
        return {d.id for d in ix.documents()}


def run_as_user(*args: str) -> subprocess.CompletedProcess:
    """`python -m searchkit ARGS` as an unprivileged user (or as ourselves when not root)."""
    cmd = [sys.executable, "-m", "searchkit", *args]
    if os.geteuid() == 0:
        cmd = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def give_to_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    for folder, dirs, files in os.walk(path):
        os.chown(folder, NOBODY, NOBODY)
        for name in dirs + files:
            os.chown(os.path.join(folder, name), NOBODY, NOBODY)


def warning_lines(stderr: str, *fragments: str) -> list[str]:
    return [line for line in stderr.splitlines() if all(f in line for f in fragments)]


@needs_unprivileged
def test_an_unlistable_folder_keeps_its_documents_and_the_rest_syncs(shared_tmp: Path) -> None:
    corpus, index = shared_tmp / "corpus", shared_tmp / "index"
    for i in range(3):
        write(corpus / "world" / f"w{i}.txt", f"World {i}")
        write(corpus / "sport" / f"s{i}.txt", f"Sport {i}")
    give_to_user(shared_tmp)
    first = run_as_user("index", str(corpus), "--index", str(index), "-q")
    assert first.returncode == 0, first.stderr
    before = expected_ids(corpus)
    assert indexed_ids(index) == before

    write(corpus / "world" / "w9.txt", "World nine")
    give_to_user(corpus)
    (corpus / "sport").chmod(0o000)
    try:
        run = run_as_user("index", "--index", str(index))
    finally:
        (corpus / "sport").chmod(0o755)
    assert run.returncode == EXIT_PARTIAL, run.stderr
    assert "Traceback" not in run.stderr
    lines = warning_lines(run.stderr, str(corpus / "sport"), "ermission denied")
    assert len(lines) == 1, run.stderr
    # Nothing under the unreadable folder was deleted, and the new article elsewhere arrived.
    assert indexed_ids(index) == before | {"world/w9.txt"}

    again = run_as_user("index", "--index", str(index))
    assert again.returncode == 0, again.stderr
    assert indexed_ids(index) == expected_ids(corpus)


@needs_unprivileged
def test_an_unlistable_corpus_root_empties_nothing(shared_tmp: Path) -> None:
    corpus, index = shared_tmp / "corpus", shared_tmp / "index"
    for i in range(4):
        write(corpus / f"a{i}.txt", f"Article {i}")
    give_to_user(shared_tmp)
    assert run_as_user("index", str(corpus), "--index", str(index), "-q").returncode == 0
    before = indexed_ids(index)
    assert before == expected_ids(corpus)

    corpus.chmod(0o000)
    try:
        run = run_as_user("index", "--index", str(index))
    finally:
        corpus.chmod(0o755)
    assert run.returncode == EXIT_PARTIAL, run.stderr
    assert len(warning_lines(run.stderr, str(corpus), "ermission denied")) == 1, run.stderr
    assert indexed_ids(index) == before


@needs_unprivileged
def test_an_unreadable_file_keeps_its_documents(shared_tmp: Path) -> None:
    corpus, index = shared_tmp / "corpus", shared_tmp / "index"
    for i in range(3):
        write(corpus / f"a{i}.txt", f"Article {i}")
    give_to_user(shared_tmp)
    assert run_as_user("index", str(corpus), "--index", str(index), "-q").returncode == 0
    before = indexed_ids(index)

    # A changed file that cannot be read now: its stat differs, so it would be re-read.
    write(corpus / "a1.txt", "Article one, rewritten")
    give_to_user(corpus)
    (corpus / "a1.txt").chmod(0o000)
    run = run_as_user("index", "--index", str(index))
    assert run.returncode == EXIT_PARTIAL, run.stderr
    assert len(warning_lines(run.stderr, str(corpus / "a1.txt"), "ermission denied")) == 1
    assert indexed_ids(index) == before

    (corpus / "a1.txt").chmod(0o644)
    again = run_as_user("index", "--index", str(index))
    assert again.returncode == 0, again.stderr
    with Index(index) as ix:
        assert ix.get("a1.txt").title == "Article one, rewritten"


def test_a_vanished_root_keeps_its_documents_and_the_other_roots_sync(tmp_path: Path) -> None:
    news, wire, index = tmp_path / "news", tmp_path / "wire", tmp_path / "index"
    for i in range(3):
        write(news / f"n{i}.txt", f"News {i}")
        write(wire / f"w{i}.txt", f"Wire {i}")
    runner = CliRunner()
    first = runner.invoke(cli, ["index", str(news), str(wire), "--index", str(index), "-q"])
    assert first.exit_code == 0, first.output
    news_ids, wire_ids = expected_ids(news), expected_ids(wire)
    # Both roots name their files the same way (n0.txt vs w0.txt): the union is every article.
    before = indexed_ids(index)
    assert before == news_ids | wire_ids

    moved = tmp_path / "news-unmounted"
    news.rename(moved)  # an unmounted disk, a moved folder
    write(wire / "w9.txt", "Wire nine")
    run = runner.invoke(cli, ["index", "--index", str(index)])
    assert run.exit_code == EXIT_PARTIAL, run.output
    assert run.exception is None or isinstance(run.exception, SystemExit), run.exception
    assert len(warning_lines(run.stderr, str(news), "not found")) == 1, run.stderr
    assert indexed_ids(index) == before | {"w9.txt"}
    # Syncing only the other root does not touch the missing one, nor call the run partial.
    write(wire / "w8.txt", "Wire eight")
    only_wire = runner.invoke(cli, ["index", str(wire), "--index", str(index)])
    assert only_wire.exit_code == 0, only_wire.output
    assert indexed_ids(index) == before | {"w9.txt", "w8.txt"}
    # A rebuild would drop what the missing root held: refused, nothing changed.
    rebuild = runner.invoke(cli, ["index", "--rebuild", "--index", str(index)])
    assert rebuild.exit_code == 2, rebuild.output
    assert "forget" in rebuild.stderr
    assert indexed_ids(index) == before | {"w9.txt", "w8.txt"}

    # The root is still recorded: when the disk is back, it syncs again.
    moved.rename(news)
    write(news / "n9.txt", "News nine")
    back = runner.invoke(cli, ["index", "--index", str(index)])
    assert back.exit_code == 0, back.output
    assert indexed_ids(index) == expected_ids(news) | expected_ids(wire)


def test_forgetting_a_root_is_explicit(tmp_path: Path) -> None:
    news, wire, index = tmp_path / "news", tmp_path / "wire", tmp_path / "index"
    for i in range(3):
        write(news / f"n{i}.txt", f"News {i}")
        write(wire / f"w{i}.txt", f"Wire {i}")
    runner = CliRunner()
    assert runner.invoke(cli, ["index", str(news), str(wire), "--index", str(index)]).exit_code == 0
    shutil.rmtree(news)

    forget = runner.invoke(cli, ["forget", str(news), "--index", str(index)])
    assert forget.exit_code == 0, forget.output
    assert indexed_ids(index) == expected_ids(wire)
    with Index(index) as ix:
        assert ix.stats().roots == (str(wire),)
    # With the root forgotten, a plain run is complete again.
    assert runner.invoke(cli, ["index", "--index", str(index)]).exit_code == 0

    # Forgetting what is not a recorded root is an error that changes nothing.
    wrong = runner.invoke(cli, ["forget", str(tmp_path / "elsewhere"), "--index", str(index)])
    assert wrong.exit_code == 2, wrong.output
    assert "not a corpus root" in wrong.stderr
    assert indexed_ids(index) == expected_ids(wire)


def test_the_api_reports_a_partial_run(tmp_path: Path) -> None:
    news, wire, index = tmp_path / "news", tmp_path / "wire", tmp_path / "index"
    write(news / "n0.txt", "News")
    write(wire / "w0.txt", "Wire")
    with Index(index) as ix:
        assert not ix.update([news, wire]).partial
        shutil.rmtree(news)
        report = ix.update()
        assert report.partial
        assert report.unavailable == (str(news),)
        assert report.deleted == 0
        assert {d.id for d in ix.documents()} == {"n0.txt", "w0.txt"}
        forgotten = ix.forget([news])
        assert forgotten.deleted == 1
        assert {d.id for d in ix.documents()} == {"w0.txt"}


def test_a_missing_new_path_is_still_an_error(tmp_path: Path) -> None:
    """A path never indexed that does not exist is a typo, not a transient condition."""
    runner = CliRunner()
    run = runner.invoke(cli, ["index", str(tmp_path / "nope"), "--index", str(tmp_path / "ix")])
    assert run.exit_code == 2
    assert "corpus path not found" in run.stderr


def test_a_rebuild_refuses_to_drop_what_it_cannot_read(tmp_path: Path, monkeypatch) -> None:
    """A rebuild starts from nothing, so it cannot keep an unreadable folder's documents: it
    refuses, and the live index keeps them (the incremental run keeps them too)."""
    from searchkit import corpus as corpus_module

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write(corpus / "a.txt", "Article a")
    write(corpus / "sub" / "b.txt", "Article b")
    with Index(index) as ix:
        ix.update([corpus])
        real_scandir = os.scandir

        def scandir(path):
            if os.fspath(path) == str(corpus / "sub"):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_scandir(path)

        monkeypatch.setattr(corpus_module.os, "scandir", scandir)
        assert ix.update().partial
        run = CliRunner().invoke(cli, ["index", "--rebuild", "--index", str(index)])
        assert run.exit_code == 2, run.output
        assert "rebuild would drop" in run.stderr
        assert {d.id for d in ix.documents()} == {"a.txt", "sub/b.txt"}


def test_an_emptied_root_is_taken_for_an_unmounted_disk(tmp_path: Path) -> None:
    """Unmounting leaves the mount point behind, empty: its documents stay (exit 4) until
    the disk is back or the root is forgotten."""
    news, wire, index = tmp_path / "news", tmp_path / "wire", tmp_path / "index"
    write(news / "n0.txt", "News")
    write(wire / "w0.txt", "Wire")
    runner = CliRunner()
    assert runner.invoke(cli, ["index", str(news), str(wire), "--index", str(index)]).exit_code == 0
    moved = tmp_path / "elsewhere"
    news.rename(moved)
    news.mkdir()  # the empty mount point
    run = runner.invoke(cli, ["index", "--index", str(index)])
    assert run.exit_code == EXIT_PARTIAL, run.output
    assert len(warning_lines(run.stderr, str(news), "empty")) == 1, run.stderr
    assert indexed_ids(index) == {"n0.txt", "w0.txt"}
    news.rmdir()
    moved.rename(news)
    assert runner.invoke(cli, ["index", "--index", str(index)]).exit_code == 0
    assert indexed_ids(index) == {"n0.txt", "w0.txt"}
