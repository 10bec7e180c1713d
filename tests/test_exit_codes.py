"""Exit codes mean one thing: Ctrl-C and SIGTERM (130, 143), a reader that closed the pipe
early (0, quietly), bare `searchkit` (0). Real subprocesses where a real signal or a real
pipe is the point; click's CliRunner for the rest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from searchkit import Document, Index, PartialDate
from searchkit.cli import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    INTERRUPTED_INDEX,
    cli,
)

PROJECT = Path(__file__).resolve().parents[1]
WORDS = (
    "harvest rain port export strike market crop cargo vessel quota tariff grain wheat "
    "shipping freight dock union wage price index bank loan rate bond yield"
).split()


def write_articles(root: Path, start: int, stop: int) -> None:
    """Plain-text articles `a<i>.txt`, one document each, ~300 words (slow enough to index)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        body = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(300))
        (root / f"a{i:05d}.txt").write_text(f"Report number {i}\n\n{body}\n", encoding="utf-8")


def searchkit(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "searchkit", *args],
        capture_output=True,
        text=True,
        timeout=240,
        **kwargs,
    )


def indexed_ids(index_path: Path) -> set[str]:
    """Every id in the index, read through the library (not through the CLI under test)."""
    with Index.open(index_path) as index:
        results = index.search("report", limit=100_000, fragments=0)
        return {hit.id for hit in results.hits}


# -- interrupting `index` ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)]
)
def test_an_interrupted_index_exits_128_plus_the_signal_and_the_next_run_converges(
    tmp_path, signum, code
):
    corpus, index_path = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, 0, 20)
    first = searchkit("index", str(corpus), "--index", str(index_path), "-q")
    assert first.returncode == 0, first.stderr
    before = indexed_ids(index_path)
    assert before == {f"a{i:05d}.txt" for i in range(20)}

    files_before = sorted(p.relative_to(index_path) for p in index_path.rglob("*"))

    write_articles(corpus, 20, 2000)
    # Its own session, so that the signal goes to the whole process group (and its worker
    # processes), as a terminal sends Ctrl-C.
    run = subprocess.Popen(
        [sys.executable, "-m", "searchkit", "index", "--index", str(index_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lock = index_path / "write.lock"
    deadline = time.monotonic() + 60
    # The writer writes its pid into the lock file once it holds the lock: work has started.
    while time.monotonic() < deadline and lock.read_text().strip() != str(run.pid):
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(run.pid, signum)
    out, err = run.communicate(timeout=120)

    assert run.returncode == code, err
    assert err.splitlines()[-1] == INTERRUPTED_INDEX
    assert "Traceback" not in err and "Aborted!" not in err and "KeyboardInterrupt" not in err
    assert out == ""
    # Interrupted half a second into reading 1,980 new files, long before the final commit:
    # the index opens and is exactly what it was.
    assert indexed_ids(index_path) == before
    assert sorted(p.relative_to(index_path) for p in index_path.rglob("*")) == files_before

    again = searchkit("index", "--index", str(index_path), "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["added"] == 1980
    assert indexed_ids(index_path) == {f"a{i:05d}.txt" for i in range(2000)}
    assert len(list(corpus.iterdir())) == 2000


@pytest.mark.parametrize("moment", ["before", "after"])
def test_the_interrupted_message_holds_at_both_edges_of_the_commit(tmp_path, monkeypatch, moment):
    # The message says: nothing committed, unless the interrupt came during the final commit
    # (then all of it). Interrupt just before the table of contents is renamed into place, and
    # just after, and read what the index holds each time.
    from whoosh.writing import SegmentWriter

    corpus, index_path = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, 0, 5)
    runner = CliRunner()
    assert runner.invoke(cli, ["index", str(corpus), "--index", str(index_path)]).exit_code == 0
    write_articles(corpus, 5, 12)

    name = "_commit_toc" if moment == "before" else "_finish"
    original = getattr(SegmentWriter, name)

    def interrupted(self, *args, **kwargs):
        if moment == "after":
            original(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(SegmentWriter, name, interrupted)
    result = runner.invoke(cli, ["index", "--index", str(index_path), "--workers", "1"])
    monkeypatch.setattr(SegmentWriter, name, original)
    assert result.exit_code == EXIT_INTERRUPTED
    assert result.stderr.splitlines()[-1] == INTERRUPTED_INDEX
    committed = 12 if moment == "after" else 5
    assert indexed_ids(index_path) == {f"a{i:05d}.txt" for i in range(committed)}
    rerun = runner.invoke(cli, ["index", "--index", str(index_path), "--format", "json"])
    assert json.loads(rerun.stdout)["added"] == 12 - committed
    assert indexed_ids(index_path) == {f"a{i:05d}.txt" for i in range(12)}


def test_an_interrupted_dry_run_says_nothing_was_written(tmp_path, monkeypatch):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Index, "update", interrupted)
    result = CliRunner().invoke(cli, ["index", "--dry-run", "--index", str(tmp_path / "i")])
    assert result.exit_code == EXIT_INTERRUPTED
    assert result.stderr == "interrupted: nothing was written (dry run)\n"


DOCS = [
    Document(
        id=f"d{i}",
        title=f"Storm {WORDS[i % len(WORDS)]}",
        body="storm " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(60)),
        date=PartialDate.parse(f"2020-03-{1 + i % 28:02d}"),
        fields={"places": ("Italy",)},
    )
    for i in range(400)
]


@pytest.fixture(scope="module")
def big_index(tmp_path_factory) -> Path:
    """400 documents: enough output in any format to overflow a pipe (64 KiB)."""
    path = tmp_path_factory.mktemp("exit-codes") / "index"
    with Index(path) as index:
        index.add(DOCS)
    return path


@pytest.mark.parametrize(
    ("args", "method"),
    [
        (["search", "storm"], "search"),
        (["similar", "d1"], "similar"),
        (["show", "d1"], "get"),
        (["stats"], "stats"),
    ],
)
def test_ctrl_c_in_a_reading_command_exits_130_quietly(big_index, monkeypatch, args, method):
    def interrupted(self, *a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(Index, method, interrupted)
    result = CliRunner().invoke(cli, [*args, "--index", str(big_index)])
    assert result.exit_code == EXIT_INTERRUPTED
    assert result.output == ""  # no "Aborted!", no traceback


# -- a closed pipe ---------------------------------------------------------------------------

PIPED = (
    [
        (["search", "storm", "-n", "400", "--fragments", "3"], fmt)
        for fmt in ("text", "json", "jsonl")
    ]
    + [
        (["similar", "d1", "-n", "400", "--fragments", "3"], fmt)
        for fmt in ("text", "json", "jsonl")
    ]
    + [(["show", "d1"], fmt) for fmt in ("text", "json")]
    + [(["stats"], fmt) for fmt in ("text", "json")]
)


@pytest.mark.parametrize(("args", "fmt"), PIPED, ids=[f"{a[0]}-{f}" for a, f in PIPED])
def test_a_reader_that_leaves_early_ends_every_command_quietly(big_index, args, fmt):
    run = subprocess.Popen(
        [sys.executable, "-m", "searchkit", *args, "--format", fmt, "--index", str(big_index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert run.stdout.readline()  # `| head -1`: one line, then the reader is gone
    run.stdout.close()
    err = run.stderr.read().decode()
    assert run.wait(timeout=120) == 0, err
    assert err == ""


def test_a_reader_of_warnings_that_leaves_early_does_not_cut_an_index_run_short(tmp_path):
    # `searchkit index 2>&1 | head -1`: more warnings than a pipe holds (64 KiB), so that
    # writing them fails once the reader is gone; the run must still index every article.
    corpus, index_path = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, 0, 60)
    for i in range(1500):
        (corpus / f"broken-{i:04d}-{'x' * 40}.txt").write_bytes(b"\x00\x01binary")
    run = subprocess.Popen(
        [sys.executable, "-m", "searchkit", "index", str(corpus), "--index", str(index_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert run.stderr.readline().startswith(b"skipped: ")
    run.stderr.close()
    assert run.wait(timeout=240) == 0
    assert indexed_ids(index_path) == {f"a{i:05d}.txt" for i in range(60)}


# -- help ------------------------------------------------------------------------------------


def test_bare_searchkit_prints_the_help_and_succeeds():
    runner = CliRunner()
    bare = runner.invoke(cli, [])
    assert bare.exit_code == 0
    assert bare.output == runner.invoke(cli, ["--help"]).output
    assert "Commands:" in bare.output


OPTIONS = [
    (name, param)
    for name, command in sorted(cli.commands.items())
    for param in command.params
    if isinstance(param, click.Option) and "--help" not in param.opts
]


@pytest.mark.parametrize(("command", "option"), OPTIONS, ids=[f"{c}{o.opts}" for c, o in OPTIONS])
def test_every_option_has_help_text(command, option):
    assert option.help, f"{command} {'/'.join(option.opts)} has no help text"


def test_command_summaries_are_whole_sentences():
    listing = CliRunner().invoke(cli, ["--help"]).output
    commands = listing.split("Commands:\n", 1)[1].splitlines()
    assert len(commands) == len(cli.commands)
    for line in commands:
        assert not line.rstrip().endswith("..."), line
        assert line.rstrip().endswith("."), line


# -- make clean ------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_leaves_an_index_folder_the_demo_can_build_in(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SEARCHKIT_INDEX"}
    # The clean recipe itself, run on a copy: the project's own index/ is never touched.
    repo = tmp_path / "repo"
    (repo / "index").mkdir(parents=True)
    shutil.copy(PROJECT / "Makefile", repo / "Makefile")
    shutil.copy(PROJECT / "index" / ".gitignore", repo / "index" / ".gitignore")
    write_articles(repo / "corpus", 0, 3)
    built = searchkit("index", "-q", cwd=repo, env=env)
    assert built.returncode == 0, built.stderr
    (repo / "index" / ".searchkit.json.999.tmp").write_text("{}")  # an interrupted pointer write
    (repo / "index" / "watch.lock").write_text("")
    (repo / "venv").mkdir()

    done = subprocess.run(
        ["make", "clean", f"VENV={repo / 'venv'}"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert os.listdir(repo / "index") == [".gitignore"]
    assert not (repo / "venv").exists()
    # `make demo` after `make clean`: index, then stats.
    again = searchkit("index", "-q", cwd=repo, env=env)
    assert again.returncode == 0, again.stderr
    stats = searchkit("stats", "--format", "json", cwd=repo, env=env)
    assert json.loads(stats.stdout)["documents"] == 3
