"""Interrupted builds resume: a long sync commits checkpoints; a build killed (SIGKILL, the
whole process group) once one is committed leaves a searchable index holding what was
committed, and the next run goes on from there without redoing it and ends with exactly the
corpus, for a folder of files and for one large JSON Lines file.

The kill comes when the index directory shows a committed checkpoint (the pointer file and a
table of contents that holds documents), never after a fixed sleep. The expected documents
are computed independently with `parse_file` (`helpers.expected_documents`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import expected_documents, write_articles

from searchkit import Document, Index
from searchkit.planning import CHECKPOINT_ENV
from searchkit.store import IndexDirectory

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")

#: Bytes of input between two checkpoints in these tests (the default is megabytes).
SHARE = 60_000


def _feed(path: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):
            body = " ".join(f"term{rng.randrange(3000)}" for _ in range(rng.randrange(40, 120)))
            record = {"title": f"Dispatch {i} about harbours", "body": body}
            if i % 3:
                record["id"] = f"{path.stem}-{i}"
            f.write(json.dumps(record) + "\n")


def _indexed(index: Path) -> dict[str, Document]:
    with Index(index) as ix:
        return {d.id: d for d in ix.documents()}


def _committed_documents(index: Path) -> int:
    """Documents in the live generation's committed table of contents (0 while there is
    none); read from the directory, never through a half-written file."""
    directory = IndexDirectory(index)
    if not directory.exists():
        return 0
    try:
        _, ix = directory.open_current()
        return ix.doc_count()
    except Exception:  # noqa: BLE001 - the pointer may name a generation not yet readable
        return 0


def _build(corpus: Path, index: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env[CHECKPOINT_ENV] = str(SHARE)
    return subprocess.Popen(
        [sys.executable, "-m", "searchkit", "index", str(corpus), "--index", str(index), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes its workers too
    )


def _kill_after_first_checkpoint(proc: subprocess.Popen, index: Path, before: int = 0) -> int:
    """SIGKILL the build's process group once a checkpoint holds more than `before`
    documents; their number."""
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        committed = _committed_documents(index)
        if committed > before:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            return committed
        assert proc.poll() is None, f"the build ended before a checkpoint was seen: {proc.stderr}"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("no checkpoint committed within 200 s")


def _kill_resume_and_check(corpus: Path, tmp_path: Path, *extra: str) -> None:
    expected = expected_documents(corpus)
    index = tmp_path / "idx"
    before = _committed_documents(index)
    proc = _build(corpus, index, *extra)
    committed = _kill_after_first_checkpoint(proc, index, before)
    assert proc.returncode == -signal.SIGKILL

    # A build killed early leaves a searchable index of what it committed.
    assert before < committed < len(expected)
    with Index(index) as ix:
        hits = ix.search("harbours", limit=5)
        assert hits.total >= 1
    partial = _indexed(index)
    assert len(partial) >= committed
    for doc_id, doc in partial.items():
        assert doc == expected[doc_id], doc_id

    resumed = _build(corpus, index, "--format", "json", *extra)
    out, err = resumed.communicate(timeout=250)
    assert resumed.returncode == 0, err.decode()
    report = json.loads(out)
    # What was committed is not done again: the resumed run adds only the rest.
    assert report["added"] == len(expected) - len(partial)
    assert report["unchanged"] == len(partial)
    assert _indexed(index) == expected
    again = _build(corpus, index, "--format", "json", *extra)
    out, err = again.communicate(timeout=120)
    assert json.loads(out)["added"] == 0, err.decode()


@pytest.mark.timeout(300)
def test_a_killed_first_build_of_a_folder_resumes(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write_articles(corpus / "a", 150, words=80)
    (corpus / "b").mkdir()
    for n in range(6):
        _feed(corpus / "b" / f"wire-{n}.jsonl", 60, seed=n)
    write_articles(corpus / "c", 150, start=500, words=80)
    _kill_resume_and_check(corpus, tmp_path)


@pytest.mark.timeout(300)
def test_a_killed_first_build_of_one_large_jsonl_file_resumes(tmp_path: Path):
    """One JSON Lines file bigger than the limit (so it is streamed) and than a checkpoint's
    share: it is committed in parts, and the next run reads on from the last part's end."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _feed(corpus / "dump.jsonl", 900, seed=3)
    assert (corpus / "dump.jsonl").stat().st_size > 6 * SHARE
    _kill_resume_and_check(corpus, tmp_path, "--max-size", "20K")


@pytest.mark.timeout(300)
def test_a_killed_update_resumes(tmp_path: Path):
    """An update with many new files commits checkpoints too: killed after one, the index
    holds the old documents and the committed new ones; the next run adds only the rest."""
    corpus = tmp_path / "corpus"
    write_articles(corpus / "a", 40, words=80)
    with Index(tmp_path / "idx") as ix:
        ix.update([corpus])
    write_articles(corpus / "b", 150, start=100, words=80)
    (corpus / "c").mkdir()
    for n in range(4):
        _feed(corpus / "c" / f"wire-{n}.jsonl", 60, seed=n)
    _kill_resume_and_check(corpus, tmp_path)
