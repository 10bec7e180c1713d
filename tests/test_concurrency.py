"""Concurrency: readers never see a missing or half-written index; writers take turns.

Several processes search without pause while another process updates the index, rebuilds it
(also twice in a row, so that the generation a slow reader holds is removed) and, when watch
mode exists, watches the corpus. A handful of sentinel articles change version at every step:
every search must find each sentinel exactly once, at a version no older than the last one
that reader saw, and the document count never changes. Errors of any kind are counted.

`SEARCHKIT_CONCURRENCY_ROUNDS=N` repeats the writer's sequence N times (default 1).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CORPORA, expected_documents, stored_documents

from searchkit.store import IndexDirectory

ROUNDS = int(os.environ.get("SEARCHKIT_CONCURRENCY_ROUNDS", "1"))
SENTINELS = 5
MARKER = "zqxsentinel"
EXIT_LOCKED = 3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPORA.is_dir(), reason=f"real corpora not found at {CORPORA}"),
]

READER = r"""
import json, os, re, sys, time
from searchkit import Index
from searchkit.store import IndexDirectory

mode, path, stop, n_docs, n_sentinels, marker = sys.argv[1:]
n_docs, n_sentinels = int(n_docs), int(n_sentinels)
wanted = [f"sentinel/s{i}.txt" for i in range(n_sentinels)]
seen = {}
searches = errors = 0
samples = []
versions = set()
index = Index.open(path) if mode == "api" else None


def hits_of(results):
    return [(h.id, h.title) for h in results.hits]


def raw():
    from whoosh.qparser import QueryParser
    _, ix = IndexDirectory(path).open_current()
    with ix.searcher() as s:
        if s.doc_count() != n_docs:
            raise AssertionError(f"{s.doc_count()} documents, not {n_docs}")
        q = QueryParser("body", ix.schema).parse(marker)
        return [(h["id"], h["title"]) for h in s.search(q, limit=50)]


while not os.path.exists(stop):
    searches += 1
    try:
        if mode == "api":
            hits = hits_of(index.search(marker, limit=50, fragments=0))
        elif mode == "fresh":
            with Index.open(path) as fresh:
                hits = hits_of(fresh.search(marker, limit=50, fragments=0))
        else:
            hits = raw()
        ids = sorted(h[0] for h in hits)
        if ids != wanted:
            raise AssertionError(f"sentinels found: {ids}")
        for doc_id, title in hits:
            version = int(re.search(r"version (\d+)", title).group(1))
            versions.add(version)
            if version < seen.get(doc_id, 0):
                raise AssertionError(f"{doc_id} went back from {seen[doc_id]} to {version}")
            seen[doc_id] = version
    except Exception as exc:
        errors += 1
        if len(samples) < 5:
            samples.append(f"{type(exc).__name__}: {exc}"[:300])
    time.sleep(0.01)  # two cores: leave the writer some room
if index is not None:
    index.close()
print(json.dumps({"mode": mode, "searches": searches, "errors": errors, "samples": samples,
                  "versions": len(versions)}))
"""


def write_sentinels(corpus: Path, version: int) -> None:
    folder = corpus / "sentinel"
    folder.mkdir(exist_ok=True)
    for i in range(SENTINELS):
        (folder / f"s{i}.txt").write_text(
            f"Sentinel {i} version {version:04d}\n"
            f"The {MARKER} article number {i}, as written at step {version}.\n",
            encoding="utf-8",
        )


def churn_reuters(corpus: Path, version: int) -> None:
    """Change the bodies of a few hundred JSON lines: the commit has real work to do."""
    for path in sorted((corpus / "reuters").glob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
        for r in records[::4]:
            r["body"] = re.sub(r"\n\[step \d+\]$", "", r.get("body", "")) + f"\n[step {version}]"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def expected_ids(root: Path) -> set[str]:
    return set(expected_documents(root))


def indexed_ids(index: Path) -> list[str]:
    return list(stored_documents(index))


def sentinel_versions(index: Path) -> set[int]:
    stored = stored_documents(index)
    titles = [d["title"] for doc_id, d in stored.items() if doc_id.startswith("sentinel/")]
    return {int(t.rpartition(" ")[2]) for t in titles}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    shutil.copytree(CORPORA / "bbc/tech", root / "bbc/tech")
    with open(CORPORA / "reuters21578/reuters.jsonl", encoding="utf-8") as f:
        lines = [next(f) for _ in range(600)]
    (root / "reuters").mkdir()
    for part in range(2):
        chunk = "".join(lines[part * 300 : (part + 1) * 300])
        (root / "reuters" / f"part-{part}.jsonl").write_text(chunk, encoding="utf-8")
    write_sentinels(root, 1)
    return root


def searchkit(index: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, SEARCHKIT_INDEX=str(index))
    return subprocess.run(
        [sys.executable, "-m", "searchkit", *args],
        env=env,
        capture_output=True,
        text=True,
        **kwargs,
    )


def test_searches_never_fail_while_the_index_is_updated_rebuilt_and_watched(corpus, tmp_path):
    index, stop = tmp_path / "index", tmp_path / "stop"
    first = searchkit(index, "index", str(corpus), "-q")
    assert first.returncode == 0, first.stderr
    n_docs = len(indexed_ids(index))
    assert n_docs == len(expected_ids(corpus))

    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, mode, str(index), str(stop), str(n_docs)]
            + [str(SENTINELS), MARKER],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("api", "fresh", "raw")
    ]
    version = 1
    steps: list[str] = []
    started = time.monotonic()
    try:
        time.sleep(1.0)  # the readers are searching before the first write
        for _ in range(ROUNDS):
            for _ in range(3):
                version += 1
                write_sentinels(corpus, version)
                churn_reuters(corpus, version)
                result = searchkit(index, "index", "-q", "--lock-timeout", "30")
                assert result.returncode == 0, result.stderr
                steps.append(f"index {time.monotonic() - started:.1f}")
            for _ in range(1):
                version += 1
                write_sentinels(corpus, version)
                result = searchkit(index, "index", "--rebuild", "-q", "--lock-timeout", "30")
                assert result.returncode == 0, result.stderr
                steps.append(f"rebuild {time.monotonic() - started:.1f}")
            # Back to back in one process: the generation replaced by the first rebuild is
            # removed by the second a moment later, under any reader that still holds it.
            version += 1
            write_sentinels(corpus, version)
            code = (
                "import sys; from searchkit import Index\n"
                "ix = Index(sys.argv[1], lock_timeout=30)\n"
                "for _ in range(2): ix.update(rebuild=True)\n"
            )
            result = subprocess.run(
                [sys.executable, "-c", code, str(index)], capture_output=True, text=True
            )
            assert result.returncode == 0, result.stderr
            steps.append(f"2 rebuilds in a row {time.monotonic() - started:.1f}")
            if importlib.util.find_spec("searchkit.watch") is not None:
                version = watch_a_few_changes(index, corpus, version)
                steps.append(f"watch {time.monotonic() - started:.1f}")
    finally:
        stop.touch()
        outputs = [r.communicate(timeout=60) for r in readers]
    seconds = time.monotonic() - started

    reports = []
    for (out, err), reader in zip(outputs, readers, strict=True):
        assert reader.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    searches = sum(r["searches"] for r in reports)
    errors = sum(r["errors"] for r in reports)
    print(
        f"concurrency: {searches} searches by {len(readers)} processes in {seconds:.1f}s during"
        f" {', '.join(steps)}: {errors} errors"
    )
    for r in reports:
        print(f"  {r['mode']}: {r['searches']} searches, {r['errors']} errors, {r['samples']}")
    assert errors == 0, [r["samples"] for r in reports if r["errors"]]
    assert all(r["searches"] > 10 for r in reports), reports
    # The readers did see the index change under them, not one frozen state.
    assert all(r["versions"] > 1 for r in reports), reports
    assert sentinel_versions(index) == {version}
    assert sorted(indexed_ids(index)) == sorted(expected_ids(corpus))


def watch_a_few_changes(index: Path, corpus: Path, version: int) -> int:
    """`searchkit watch` keeps the index current through a few bursts, then stops on SIGTERM."""
    env = dict(os.environ, SEARCHKIT_INDEX=str(index))
    watcher = subprocess.Popen(
        [sys.executable, "-m", "searchkit", "watch", "--delay", "0.2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(2):
            version += 1
            write_sentinels(corpus, version)
            churn_reuters(corpus, version)
            deadline = time.monotonic() + 30
            while sentinel_versions(index) != {version}:
                assert watcher.poll() is None, watcher.stderr.read()
                assert time.monotonic() < deadline, "watch did not take in the change"
                time.sleep(0.05)
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 0, err
    return version


def test_two_writers_at_once_one_waits_or_fails_cleanly(corpus, tmp_path):
    index = tmp_path / "index"
    assert searchkit(index, "index", str(corpus), "-q").returncode == 0
    env = dict(os.environ, SEARCHKIT_INDEX=str(index))
    expected = sorted(expected_ids(corpus))

    def both(*args: str) -> list[tuple]:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "searchkit", "index", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        return [(p, *p.communicate(timeout=120)) for p in procs]

    # No waiting: exactly one of two rebuilds started together runs, the other is refused
    # with its own exit code and one line.
    results = both("--rebuild", "-q", "--lock-timeout", "0")
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, EXIT_LOCKED], [err for _, _, err in results]
    refused = next(err for p, _, err in results if p.returncode == EXIT_LOCKED)
    assert refused.startswith(f"Error: index at {index} is locked by another writer")
    assert len(refused.strip().splitlines()) == 1
    assert sorted(indexed_ids(index)) == expected

    # Waiting: the second runs after the first, and both succeed.
    write_sentinels(corpus, 2)
    results = both("--rebuild", "-q", "--lock-timeout", "120")
    assert [p.returncode for p, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert sorted(indexed_ids(index)) == expected
    assert sentinel_versions(index) == {2}

    # An update and a rebuild at once: whichever order, the index ends up exactly the corpus.
    write_sentinels(corpus, 3)
    churn_reuters(corpus, 3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "searchkit", "index", *extra, "-q", "--lock-timeout", "120"],
            env=env,
        )
        for extra in ([], ["--rebuild"])
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert sorted(indexed_ids(index)) == expected
    assert sentinel_versions(index) == {3}
    check = searchkit(index, "index", "--format", "json")
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert (report["added"], report["updated"], report["deleted"]) == (0, 0, 0)


def test_a_reader_that_stalls_between_pointer_and_generation_still_answers(
    corpus, tmp_path, monkeypatch
):
    """A reader reads the pointer, is descheduled, and two rebuilds later opens the generation
    it was told about, which the second rebuild has removed. (Back-to-back rebuilds in one
    process remove it milliseconds after the first swap.) The reader must follow the pointer
    to the live generation, not fail."""
    index = tmp_path / "index"
    assert searchkit(index, "index", str(corpus), "-q").returncode == 0
    directory = IndexDirectory(index)
    stale = directory.read_meta()
    from searchkit import Index

    with Index(index) as writer:
        writer.update(rebuild=True)
        writer.update(rebuild=True)
    assert not (index / stale.current).exists()

    real_read_meta = IndexDirectory.read_meta
    calls = {"n": 0}

    def stalled_read_meta(self):
        calls["n"] += 1
        return stale if calls["n"] == 1 else real_read_meta(self)

    monkeypatch.setattr(IndexDirectory, "read_meta", stalled_read_meta)
    meta, ix = IndexDirectory(index).open_current()
    assert meta.current != stale.current
    with ix.searcher() as s:
        assert s.doc_count() == len(expected_ids(corpus))

    calls["n"] = 0
    with Index.open(index) as reader:
        calls["n"] = 0  # opening read the pointer once; the search reads it next
        results = reader.search(MARKER, limit=50, fragments=0)
    assert sorted(h.id for h in results.hits) == [f"sentinel/s{i}.txt" for i in range(SENTINELS)]
