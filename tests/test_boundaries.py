"""Boundaries: what searchkit reads, and what it does when its index folder cannot be written.

- Nothing outside the corpus roots is read: symlinks leading out are reported, not followed,
  not even when one replaces a file between the scan and the read.
- Only indexed documents are shown: `Index.get` never turns an id into a file read.
- An index folder that is read-only (a read-only bind mount: we may run as root, for whom
  chmod stops nothing), full (a tiny tmpfs; else a mocked ENOSPC) or corrupt (a truncated
  segment file, table of contents, manifest or pointer file) gives one clear line and exit 2
  from the command line, with a hint where there is one, and never a damaged index; after
  `searchkit index --rebuild` on a corrupt index, everything works again.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import expected_documents, run_cli, stored_documents, write_articles

from searchkit import DocumentNotFound, Index, IndexCorrupt, IndexWriteError
from searchkit import corpus as corpus_module
from searchkit.store import IndexDirectory

SECRET = "zqxoutside"
EXIT_ERROR = 2


def expected(root: Path) -> dict[str, tuple[str, str]]:
    return {doc_id: (d.title, d.body) for doc_id, d in expected_documents(root).items()}


def indexed(index: Path) -> dict[str, tuple[str, str]]:
    return {
        doc_id: (d.get("title", ""), d.get("body", ""))
        for doc_id, d in stored_documents(index).items()
    }


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit 2, no traceback, exactly one line on stderr holding each fragment."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}\n{result.output}"
    )
    assert result.exit_code == EXIT_ERROR, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- nothing outside the roots ----------------------------------------------------------------


@pytest.fixture
def walled(tmp_path: Path) -> tuple[Path, Path]:
    """A corpus with symlinks of every kind, and a secret file beside it (outside)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"Secret {SECRET}\nThe {SECRET} text.\n", "utf-8")
    (outside / "nested").mkdir()
    (outside / "nested" / "deep.txt").write_text(f"Deep {SECRET}\nbody\n", "utf-8")
    root = tmp_path / "corpus"
    write_articles(root, 3)
    (root / "sub").mkdir()
    (root / "link-relative.txt").symlink_to("../outside/secret.txt")
    (root / "link-absolute.txt").symlink_to(outside / "secret.txt")
    (root / "link-dir").symlink_to(outside)
    (root / "sub" / "link-up-and-out").symlink_to("../../outside/nested")
    (root / "sub" / "link-to-root").symlink_to("..")  # inside, a folder: never walked twice
    (root / "loop").symlink_to("loop")
    (root / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (root / "inside-link.txt").symlink_to("article-0000.txt")
    return root, outside


def secret_in_index(index: Path) -> bool:
    _, ix = IndexDirectory(index).open_current()
    with ix.reader() as reader:
        in_terms = any(reader.doc_frequency(f, SECRET) for f in ("title", "body"))
    stored = any(SECRET in json.dumps(d) for d in stored_documents(index).values())
    return in_terms or stored


def test_symlinks_out_of_the_corpus_are_reported_not_followed(walled, tmp_path):
    root, outside = walled
    index = tmp_path / "index"
    report = Index(index).update([root])
    reasons = {Path(p.path).name: p.reason for p in report.problems}
    for name in ("link-relative.txt", "link-absolute.txt", "link-dir", "link-up-and-out"):
        assert "outside the corpus root" in reasons.get(name, ""), (name, reasons)
    assert not secret_in_index(index)
    docs = indexed(index)
    assert {"article-0000.txt", "article-0001.txt", "article-0002.txt"} <= set(docs)
    assert docs["inside-link.txt"] == docs["article-0000.txt"]  # a link inside is fine
    assert not any(d.startswith(("link-", "sub/link", "outside")) for d in docs)

    result = run_cli("index", "--index", str(index), "--rebuild")
    assert result.exit_code == 0, result.output
    assert f"{root / 'link-dir'}: symlink leads outside the corpus root" in result.stderr
    assert not secret_in_index(index)


def test_a_file_swapped_for_a_symlink_after_the_scan_is_not_read(walled, tmp_path, monkeypatch):
    """The scan sees a plain file; before it is read, it becomes a link to a secret outside
    (a race an attacker with write access to the feed folder can win). Not read either."""
    root, outside = walled
    victim = root / "article-0001.txt"
    real_scan = corpus_module.scan

    def scan_then_swap(*args, **kwargs):
        found = real_scan(*args, **kwargs)
        victim.unlink()
        victim.symlink_to(outside / "secret.txt")
        return found

    for module in ("searchkit.corpus", "searchkit.indexer"):
        monkeypatch.setattr(f"{module}.scan", scan_then_swap)
    index = tmp_path / "index"
    Index(index).update([root], workers=1)
    assert not secret_in_index(index), "a file read through a symlink leading outside"


def test_get_shows_only_indexed_documents(walled, tmp_path):
    root, outside = walled
    index = tmp_path / "index"
    Index(index).update([root])
    with Index.open(index) as ix:
        for doc_id in (
            "link-relative.txt",
            str(outside / "secret.txt"),
            "../outside/secret.txt",
            "link-dir/secret.txt",
            "/etc/passwd",
            "",
        ):
            with pytest.raises(DocumentNotFound):
                ix.get(doc_id)
        # The indexed text, not the file as it is now.
        (root / "article-0002.txt").write_text(f"Changed {SECRET}\nnot indexed yet\n", "utf-8")
        doc = ix.get("article-0002.txt")
        assert SECRET not in doc.title + doc.body
        assert doc.title == "Article number 2"
    for doc_id in ("link-relative.txt", str(outside / "secret.txt"), "../outside/secret.txt"):
        result = run_cli("show", "--index", str(index), "--", doc_id)
        assert_one_line_error(result, "no document with id")
        assert SECRET not in result.output
    result = run_cli("show", "--index", str(index), "article-0002.txt")
    assert result.exit_code == 0, result.output
    assert "Article number 2" in result.stdout and SECRET not in result.stdout


# -- read-only, full and corrupt index folders ----------------------------------------------


@pytest.fixture
def mount():
    """`mount(args, target)`; skips the test when mounting is not permitted; unmounts after."""
    mounted: list[Path] = []

    def do_mount(args: list[str], target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount here ({result.stderr.strip()}); see the mocked tests")
        if target not in mounted:
            mounted.append(target)

    yield do_mount
    for target in reversed(mounted):
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_read_only_index_folder_answers_searches_and_refuses_writes(tmp_path, mount):
    root, index, ro = tmp_path / "corpus", tmp_path / "index", tmp_path / "ro"
    write_articles(root, 20)
    assert run_cli("index", str(root), "--index", str(index)).exit_code == 0
    before = indexed(index)
    mount(["--bind", str(index)], ro)
    mount(["-o", "remount,bind,ro"], ro)
    assert subprocess.run(["touch", str(ro / "probe")], capture_output=True).returncode != 0

    # Reading needs no write access.
    assert run_cli("stats", "--index", str(ro)).exit_code == 0
    with Index.open(ro) as ix:
        assert ix.search("harbours").total == 20

    write_articles(root, 5, start=20)
    for args in ([], ["--rebuild"], [str(root)]):
        result = run_cli("index", "--index", str(ro), *args)
        assert_one_line_error(result, "Read-only file system")
    assert indexed(ro) == before


class Process:
    """What `run_process` returns: a CliRunner-like result of a `searchkit` process."""

    def __init__(self, completed: subprocess.CompletedProcess) -> None:
        self.exit_code = completed.returncode
        self.stderr = completed.stderr
        self.output = completed.stdout + completed.stderr
        self.exception = None
        if "Traceback (most recent call last)" in completed.stderr:
            self.exception = RuntimeError(completed.stderr.strip().splitlines()[-1])


def run_process(*args: str) -> Process:
    """`searchkit ARGS` in a process of its own, as a user runs it: whatever a failed run
    held open is closed when it ends (in-process, a failed writer's files live on)."""
    return Process(
        subprocess.run([sys.executable, "-m", "searchkit", *args], capture_output=True, text=True)
    )


def test_full_disk_fails_cleanly_and_the_next_run_converges(tmp_path, mount):
    root, disk = tmp_path / "corpus", tmp_path / "disk"
    mount(["-t", "tmpfs", "-o", "size=400k", "tmpfs"], disk)
    index = disk / "index"
    write_articles(root, 10)
    first = run_process("index", str(root), "--index", str(index))
    assert first.exit_code == 0, first.output
    before = indexed(index)
    assert before == expected(root)

    # Far more than the disk holds: the update and the rebuild fail, the index stays as it was.
    write_articles(root, 400, start=10, words=200)
    for args in ([], ["--rebuild"], []):
        result = run_process("index", "--index", str(index), *args)
        assert_one_line_error(result, "No space left on device")
        assert indexed(index) == before
        assert run_process("stats", "--index", str(index)).exit_code == 0
    # Nothing a failed write left behind keeps the disk full: with the big articles gone
    # again, a small change fits.
    for path in sorted(root.glob("article-*.txt"))[10:]:
        path.unlink()
    write_articles(root, 3, start=10)
    result = run_process("index", "--index", str(index))
    assert result.exit_code == 0, f"{result.output}\n{sorted(os.listdir(index))}"
    assert indexed(index) == expected(root)

    # More room: everything goes in.
    mount(["-o", "remount,size=64m"], disk)
    write_articles(root, 400, start=13, words=200)
    result = run_process("index", "--index", str(index))
    assert result.exit_code == 0, result.output
    assert indexed(index) == expected(root)


def test_a_write_error_is_a_searchkit_error_and_leaves_the_index(tmp_path, monkeypatch):
    """The same without mounts: every file Whoosh creates fails with ENOSPC."""
    from whoosh.filedb.filestore import FileStorage

    root, index = tmp_path / "corpus", tmp_path / "index"
    write_articles(root, 10)
    Index(index).update([root])
    before = indexed(index)

    def no_space(self, name, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)

    monkeypatch.setattr(FileStorage, "create_file", no_space)
    write_articles(root, 5, start=10)
    for rebuild in (False, True):
        with pytest.raises(IndexWriteError, match="No space left on device"):
            Index(index).update(rebuild=rebuild)
        assert indexed(index) == before
        result = run_cli("index", "--index", str(index), *(["--rebuild"] if rebuild else []))
        assert_one_line_error(result, "No space left on device")
    monkeypatch.undo()
    Index(index).update()
    assert indexed(index) == expected(root)


def _truncate(path: Path, size: int | None = None) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2 if size is None else size)


CORRUPTIONS = {
    "segment emptied": lambda g: _truncate(next(g.glob("*.seg")), 0),
    "segment cut short": lambda g: _truncate(next(g.glob("*.seg"))),
    "segment cut to 100 bytes": lambda g: _truncate(next(g.glob("*.seg")), 100),
    "segment deleted": lambda g: next(g.glob("*.seg")).unlink(),
    "table of contents cut short": lambda g: _truncate(next(g.glob("_MAIN_*.toc"))),
    "manifest cut short": lambda g: _truncate(next(g.glob("manifest-*.json"))),
    "manifest deleted": lambda g: next(g.glob("manifest-*.json")).unlink(),
    "pointer file garbage": lambda g: (g.parent / "searchkit.json").write_text("{garbage"),
}


@pytest.mark.parametrize("damage", list(CORRUPTIONS))
def test_corrupt_index_gives_one_line_with_a_hint_and_rebuild_repairs_it(tmp_path, damage):
    root, index = tmp_path / "corpus", tmp_path / "index"
    write_articles(root, 30)
    assert run_cli("index", str(root), "--index", str(index)).exit_code == 0
    meta = IndexDirectory(index).read_meta()
    CORRUPTIONS[damage](index / meta.current)
    write_articles(root, 2, start=30)  # something to write

    hint = "hint: run `searchkit index --rebuild`"
    if damage.startswith("manifest"):
        # Reading never needs the manifest; the next update must not trust a broken one.
        assert run_cli("stats", "--index", str(index)).exit_code == 0
        result = run_cli("index", "--index", str(index))
        if result.exit_code == 0:
            assert indexed(index) == expected(root), "the update did not converge"
        else:
            assert_one_line_error(result, "cannot be read", hint)
    else:
        assert_one_line_error(run_cli("stats", "--index", str(index)), "cannot be read", hint)
        assert_one_line_error(run_cli("index", "--index", str(index)), "cannot be read", hint)
        with pytest.raises(IndexCorrupt), Index.open(index) as ix:
            ix.search("harbours")

    # The hint works: with the corpus named when the pointer file lost the roots.
    result = run_cli("index", "--index", str(index), "--rebuild", str(root))
    assert result.exit_code == 0, result.output
    assert run_cli("stats", "--index", str(index)).exit_code == 0
    with Index.open(index) as ix:
        assert ix.search("harbours").total == 32
    assert indexed(index) == expected(root)
    assert run_cli("index", "--index", str(index)).exit_code == 0
    assert indexed(index) == expected(root)


def test_rebuild_repairs_a_corrupt_pointer_file_with_the_recorded_roots_unknown(tmp_path):
    """`searchkit.json` is garbage: the message's own hint, `searchkit index --rebuild`, must
    work as printed (the corpus default `corpus/` applies, as for a new index)."""
    root, index = tmp_path / "corpus", tmp_path / "index"
    write_articles(root, 5)
    env = dict(os.environ, SEARCHKIT_INDEX=str(index))
    cmd = [sys.executable, "-m", "searchkit", "index"]
    assert subprocess.run(cmd, cwd=tmp_path, env=env).returncode == 0
    (index / "searchkit.json").write_text("{garbage", encoding="utf-8")
    stats = subprocess.run(
        [sys.executable, "-m", "searchkit", "stats"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert stats.returncode == EXIT_ERROR
    assert "searchkit index --rebuild" in stats.stderr
    result = subprocess.run(
        [*cmd, "--rebuild"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert indexed(index) == expected(root)
