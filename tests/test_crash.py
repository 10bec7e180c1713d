"""Crash safety: `searchkit index` killed with SIGKILL at random moments never loses an article.

The harness copies a slice of the real corpora from ../shared (20news, Reuters split into a few
JSON Lines files, BBC), then, kill point after kill point, changes the corpus (adds, modifies,
deletes files and JSON lines), starts `searchkit index` or `searchkit index --rebuild` (or a
first build) in its own process group and SIGKILLs the whole group: at a random moment spread
over the run's measured duration, or just after the commit began (the manifest of the next
table of contents appears) - denser in the last part of the run, where the commit happens.
After every kill:

- the index is exactly the corpus before the run or exactly the corpus after it (a commit and
  a generation swap are atomic), opens, and answers a query;
- the next `searchkit index --lock-timeout 0` (the dead writer's lock must be free at once)
  exits 0 and the index is exactly the corpus: the same ids, no duplicates, current titles and
  bodies, computed independently here with `parse_file`, the readers' contract.

`SEARCHKIT_KILL_POINTS=N` sets the number of kill points (default 12), `SEARCHKIT_SEED` the
seed; the seed is printed, and named in every failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import CORPORA, stored_documents

from searchkit import Index, IndexNotFound
from searchkit.readers import parse_file

KILL_POINTS = int(os.environ.get("SEARCHKIT_KILL_POINTS", "12"))
SEED = int(os.environ.get("SEARCHKIT_SEED", str(random.randrange(2**32))))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPORA.is_dir(), reason=f"real corpora not found at {CORPORA}"),
    pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups"),
]

#: What the index holds of a document: title, body, source path.
Docs = dict[str, tuple[str, str, str]]


# -- the corpus -------------------------------------------------------------------------------


def _copy_files(src: Path, dest: Path, names: list[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(src / name, dest / name)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A slice of the real corpora: ~2,400 documents, ~4.5 MB (so reading uses the worker pool
    and a full build the parallel writer), plus a reserve of articles to add later."""
    base = tmp_path_factory.mktemp("crash-corpus")
    corpus, reserve = base / "corpus", base / "reserve"
    space = sorted(os.listdir(CORPORA / "20news/sci.space"))
    autos = sorted(os.listdir(CORPORA / "20news/rec.autos"))
    tech = sorted(os.listdir(CORPORA / "bbc/tech"))
    business = sorted(os.listdir(CORPORA / "bbc/business"))
    _copy_files(CORPORA / "20news/sci.space", corpus / "news/sci.space", space[:800])
    _copy_files(CORPORA / "bbc/tech", corpus / "bbc/tech", tech)
    _copy_files(CORPORA / "20news/rec.autos", reserve / "news/rec.autos", autos[:300])
    _copy_files(CORPORA / "bbc/business", reserve / "bbc/business", business[:120])
    with open(CORPORA / "reuters21578/reuters.jsonl", encoding="utf-8") as f:
        lines = [next(f) for _ in range(1500)]
    (corpus / "reuters").mkdir()
    for part in range(3):
        chunk = lines[part * 400 : (part + 1) * 400]
        (corpus / "reuters" / f"part-{part}.jsonl").write_text("".join(chunk), encoding="utf-8")
    (reserve / "reuters.jsonl").write_text("".join(lines[1200:]), encoding="utf-8")
    return base


class Expected:
    """The documents a corpus must produce, computed with the readers' own `parse_file`."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, bytes], list[tuple[str, tuple[str, str, str]]]] = {}

    def of(self, root: Path) -> Docs:
        """id -> (title, body, path) for every file under `root` (no hidden files there)."""
        docs: Docs = {}
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                data = Path(path).read_bytes()
                key = (path, hashlib.blake2b(data, digest_size=16).digest())
                if key not in self._cache:
                    rel = os.path.relpath(path, root).replace(os.sep, "/")
                    result = parse_file(data, path=path, id_base=rel, folder=rel.rpartition("/")[0])
                    self._cache[key] = [(d.id, (d.title, d.body, d.path)) for d in result.documents]
                for doc_id, value in self._cache[key]:
                    assert doc_id not in docs, f"the test corpus repeats id {doc_id!r}"
                    docs[doc_id] = value
        return docs


def indexed(index_path: Path) -> Docs:
    """id -> (title, body, path) of every live document, read straight from Whoosh."""
    return {
        doc_id: (d.get("title", ""), d.get("body", ""), d.get("path", ""))
        for doc_id, d in stored_documents(index_path).items()
    }


def answer_a_query(index_path: Path, word: str) -> int:
    """The number of documents a search for `word` finds, through the public API."""
    with Index.open(index_path) as index:
        return index.search(word).total


def diff(actual: Docs, expected: Docs) -> str:
    """A short account of how two document sets differ."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    stale = sorted(k for k in set(actual) & set(expected) if actual[k] != expected[k])
    lines = [f"{len(actual)} indexed, {len(expected)} expected"]
    for label, ids in (("missing", missing), ("unexpected", extra), ("stale", stale)):
        if ids:
            lines.append(f"{label} ({len(ids)}): {ids[:8]}")
    if stale:
        k = stale[0]
        lines.append(f"  {k}: indexed {actual[k]!r:.300}\n  {k}: expected {expected[k]!r:.300}")
    return "\n".join(lines)


class Mutator:
    """Random changes to the corpus: new, modified and deleted files and JSON lines."""

    def __init__(self, base: Path, rng: random.Random) -> None:
        self.corpus = base / "corpus"
        self.rng = rng
        self.revision = 0
        reserve = base / "reserve"
        self.reserve_files = sorted(
            p for p in reserve.rglob("*") if p.is_file() and p.suffix != ".jsonl"
        )
        self.reserve_lines = (reserve / "reuters.jsonl").read_text(encoding="utf-8").splitlines()
        self.reserve_base = reserve

    def text_files(self) -> list[Path]:
        return sorted(p for p in self.corpus.rglob("*") if p.is_file() and p.suffix != ".jsonl")

    def jsonl_files(self) -> list[Path]:
        return sorted(self.corpus.rglob("*.jsonl"))

    def small(self) -> list[str]:
        ops = [self.rng.choice(self.OPS) for _ in range(self.rng.randint(1, 4))]
        return [op(self) for op in ops]

    def large(self) -> list[str]:
        """Rewrite every JSON line (hundreds of updates), add and delete a few dozen files."""
        self.revision += 1
        for path in self.jsonl_files():
            records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
            for r in records:
                r["body"] = f"{r.get('body', '')}\nRevised in round {self.revision}."
            self._write_jsonl(path, records)
        return ["rewrote all JSON lines", self.add_files(40), self.delete_files(30)]

    def add_files(self, n: int | None = None) -> str:
        n = n or self.rng.randint(1, 6)
        picked = self.rng.sample(self.reserve_files, min(n, len(self.reserve_files)))
        for src in picked:
            dest = self.corpus / src.relative_to(self.reserve_base)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dest)
            self.reserve_files.remove(src)
        return f"added {len(picked)} files"

    def delete_files(self, n: int | None = None) -> str:
        n = n or self.rng.randint(1, 5)
        picked = self.rng.sample(self.text_files(), n)
        for path in picked:
            # Back to the reserve: it may come back later under the same name (same ids).
            back = self.reserve_base / path.relative_to(self.corpus)
            back.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, back)
            self.reserve_files.append(back)
        return f"deleted {len(picked)} files"

    def modify_files(self) -> str:
        self.revision += 1
        picked = self.rng.sample(self.text_files(), self.rng.randint(1, 5))
        for path in picked:
            st = path.stat()
            data = path.read_bytes()
            if self.rng.random() < 0.5:
                data += f"\nA paragraph added in revision {self.revision}.\n".encode()
            else:
                # Same size, and the old mtime put back: only the content hash can tell.
                stamp = f"REV{self.revision:05d}".encode()
                data = data[: -len(stamp) - 1] + stamp + b"\n"
            path.write_bytes(data)
            if self.rng.random() < 0.5:
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return f"modified {len(picked)} files"

    def retitle_lines(self) -> str:
        self.revision += 1
        path = self.rng.choice(self.jsonl_files())
        records = self._read_jsonl(path)
        for r in self.rng.sample(records, min(len(records), self.rng.randint(1, 10))):
            r["title"] = f"{r.get('title', '')} (rev {self.revision})"
        self._write_jsonl(path, records)
        return f"retitled lines in {path.name}"

    def drop_lines(self) -> str:
        path = self.rng.choice(self.jsonl_files())
        records = self._read_jsonl(path)
        for r in self.rng.sample(records, max(0, min(len(records) - 1, self.rng.randint(1, 5)))):
            records.remove(r)
            self.reserve_lines.append(json.dumps(r))
        self._write_jsonl(path, records)
        return f"dropped lines of {path.name}"

    def append_lines(self) -> str:
        path = self.rng.choice(self.jsonl_files())
        records = self._read_jsonl(path)
        n = min(len(self.reserve_lines), self.rng.randint(1, 8))
        for _ in range(n):
            records.append(json.loads(self.reserve_lines.pop()))
        self._write_jsonl(path, records)
        return f"appended {n} lines to {path.name}"

    def move_lines(self) -> str:
        """Lines (ids) move from one JSON Lines file to another: a split, in one run."""
        src, dest = self.rng.sample(self.jsonl_files(), 2)
        a, b = self._read_jsonl(src), self._read_jsonl(dest)
        n = min(len(a) - 1, self.rng.randint(1, 20))
        if n < 1:
            return "moved no lines"
        b.extend(a[-n:])
        self._write_jsonl(src, a[:-n])
        self._write_jsonl(dest, b)
        return f"moved {n} lines from {src.name} to {dest.name}"

    @staticmethod
    def _read_jsonl(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]

    @staticmethod
    def _write_jsonl(path: Path, records: list[dict]) -> None:
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    OPS = (
        add_files,
        delete_files,
        modify_files,
        retitle_lines,
        drop_lines,
        append_lines,
        move_lines,
    )


# -- running and killing `searchkit index` ----------------------------------------------------


def group_alive(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes of a process group."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(int(entry))
    return alive


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process and all its workers, and wait until every one of them is gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.monotonic() + 10
    while group_alive(proc.pid):
        assert time.monotonic() < deadline, f"processes {group_alive(proc.pid)} survived SIGKILL"
        time.sleep(0.01)


def commit_markers(index_path: Path) -> set[tuple[str, int]]:
    """The manifests in every generation (name, inode); a new one means a commit is starting."""
    found = set()
    try:
        gens = [e for e in os.scandir(index_path) if e.name.startswith("gen-")]
        for gen in gens:
            for e in os.scandir(gen.path):
                if e.name.startswith("manifest-"):
                    found.add((os.path.join(gen.name, e.name), e.inode()))
    except OSError:
        pass  # a generation being removed meanwhile
    return found


@dataclass
class Kill:
    """When to kill: `after` seconds from the start, or `after` seconds into the commit."""

    after: float
    in_commit: bool = False


@dataclass
class Run:
    returncode: int | None
    killed: bool
    seconds: float
    commit_seconds: float | None  # from the commit marker to the end, for completed runs
    stderr: str = ""
    stdout: str = ""


@dataclass
class Harness:
    base: Path
    index: Path
    seed: int
    expected: Expected = field(default_factory=Expected)
    log: list[str] = field(default_factory=list)

    @property
    def corpus(self) -> Path:
        return self.base / "corpus"

    def run(self, *args: str, kill: Kill | None = None) -> Run:
        env = dict(os.environ, SEARCHKIT_INDEX=str(self.index))
        out, err = self.base / "stdout.txt", self.base / "stderr.txt"
        before = commit_markers(self.index)
        started = time.monotonic()
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "searchkit", "index", *args],
                env=env,
                cwd=self.base,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        commit_at = None
        killed = False
        try:
            while proc.poll() is None:
                now = time.monotonic() - started
                if commit_at is None and commit_markers(self.index) - before:
                    commit_at = now
                if kill is not None:
                    if kill.in_commit:
                        due = None if commit_at is None else commit_at + kill.after
                    else:
                        due = kill.after
                    if due is not None and now >= due:
                        kill_group(proc)
                        killed = True
                        break
                time.sleep(0.002)
        finally:
            if proc.poll() is None:
                kill_group(proc)
        seconds = time.monotonic() - started
        return Run(
            returncode=None if killed else proc.returncode,
            killed=killed,
            seconds=seconds,
            commit_seconds=None if killed or commit_at is None else seconds - commit_at,
            stdout=out.read_text(errors="replace"),
            stderr=err.read_text(errors="replace"),
        )

    def fail(self, message: str) -> str:
        return f"{message}\nseed {self.seed} (SEARCHKIT_SEED={self.seed}); so far:\n" + "\n".join(
            self.log[-12:]
        )


# A whole real corpus (or a dozen killed builds): minutes on a quiet machine, more
# when it is shared; a hang still fails with a stack, later.
@pytest.mark.timeout(1200)
def test_sigkill_at_random_moments_never_loses_an_article(pristine, tmp_path):
    rng = random.Random(SEED)
    print(f"crash harness: seed {SEED}, {KILL_POINTS} kill points")
    shutil.copytree(pristine, tmp_path / "base")
    h = Harness(base=tmp_path / "base", index=tmp_path / "index", seed=SEED)
    mutator = Mutator(h.base, rng)

    started = time.monotonic()
    first = h.run(str(h.corpus), "-q")
    assert first.returncode == 0, h.fail(f"first build failed:\n{first.stderr}")
    current = h.expected.of(h.corpus)
    assert len(current) > 2000
    assert indexed(h.index) == current, h.fail(diff(indexed(h.index), current))
    rebuild = h.run("--rebuild", "-q")
    assert rebuild.returncode == 0, h.fail(f"rebuild failed:\n{rebuild.stderr}")
    assert indexed(h.index) == current, h.fail(diff(indexed(h.index), current))
    # (run seconds, commit seconds) of each kind of run, refreshed by uninterrupted runs.
    estimate = {
        "first": (first.seconds, first.commit_seconds or first.seconds / 2),
        "rebuild": (rebuild.seconds, rebuild.commit_seconds or rebuild.seconds / 2),
        "large": (rebuild.seconds / 2, rebuild.seconds / 4),
        "small": (0.5, 0.05),
    }
    print(f"uninterrupted: first build {first.seconds:.2f}s, rebuild {rebuild.seconds:.2f}s")

    # A run that ends before its kill moment is checked too, but is no kill point: go on
    # until KILL_POINTS runs were really killed.
    deck = ["first"] + ["rebuild", "large", "small"] * 3
    killed = {"time": 0, "commit": 0}
    completed = 0
    point = 0
    while sum(killed.values()) < KILL_POINTS:
        point += 1
        assert point <= 3 * KILL_POINTS + 5, h.fail("most runs finished before their kill")
        kind = rng.choice(deck)
        old = current
        if kind == "large":
            changes = mutator.large()
        elif kind == "first" or rng.random() < 0.7:
            changes = mutator.small()
        else:
            changes = []
        new = h.expected.of(h.corpus)
        total, commit = estimate[kind]
        if rng.random() < 0.5:
            strategy = "commit"
            kill = Kill(after=rng.uniform(0, 0.9 * commit), in_commit=True)
        else:
            strategy = "time"
            # Half spread over the whole run, half in its last part, where the commit is.
            lo = 0.0 if rng.random() < 0.5 else 0.6
            kill = Kill(after=total * rng.uniform(lo, 0.95))
        args = ["-q"]
        if kind == "first":
            shutil.rmtree(h.index)
            args.append(str(h.corpus))
        elif kind == "rebuild":
            args.append("--rebuild")
        run = h.run(*args, kill=kill)
        moment = f"{kill.after:.3f}s into the {'commit' if kill.in_commit else 'run'}"
        h.log.append(f"#{point} {kind}: {'; '.join(changes) or 'no change'}; kill {moment}")
        if run.killed:
            killed[strategy] += 1
        else:
            completed += 1
            assert run.returncode == 0, h.fail(f"#{point} failed unkilled:\n{run.stderr}")
            h.log[-1] += f" (finished first, in {run.seconds:.2f}s)"

        # The index after the kill: the state before the run or the state after it.
        try:
            now = indexed(h.index)
        except IndexNotFound:
            assert kind == "first", h.fail(f"#{point}: the index vanished")
            now = None
        if now is not None:
            states = (new,) if kind == "first" else (old, new)
            assert now in states, h.fail(f"#{point}: neither old nor new state\n{diff(now, new)}")
            assert answer_a_query(h.index, "space") > 0, h.fail(f"#{point}: no hits")

        # The next run, not killed, finds the lock free and converges to the corpus. After a
        # killed rebuild, half the time a plain update: it must cope with the half-built one.
        again = args[1:]
        if kind == "rebuild" and rng.random() < 0.5:
            again = []
        recovery = h.run("--lock-timeout", "0", "--format", "json", *again)
        assert recovery.returncode == 0, h.fail(
            f"#{point}: run after the kill exited {recovery.returncode}:\n{recovery.stderr}"
        )
        report = json.loads(recovery.stdout)
        current = new
        after = indexed(h.index)
        assert after == current, h.fail(f"#{point}: did not converge\n{diff(after, current)}")
        assert report["documents"] == len(current), h.fail(f"#{point}: report {report}")
        assert answer_a_query(h.index, "space") > 0
        # A run that did the same work uninterrupted tells how long such a run takes.
        if kind == "rebuild":
            redone = bool(again)
        elif kind == "first":
            redone = now is None
        else:
            redone = now == old != new
        if not run.killed:
            estimate[kind] = (run.seconds, run.commit_seconds or estimate[kind][1])
        elif redone and recovery.commit_seconds is not None:
            estimate[kind] = (recovery.seconds, recovery.commit_seconds)

    leftovers = sorted(os.listdir(h.index))
    print(
        f"crash harness: {KILL_POINTS} kill points survived in {time.monotonic() - started:.1f}s"
        f" ({killed['time']} killed at a random moment of the run, {killed['commit']} inside"
        f" the commit; {completed} more runs finished before their kill moment);"
        f" index folder holds {leftovers}"
    )
    print("\n".join(h.log))


# -- stale locks ----------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from searchkit.store import IndexDirectory
with IndexDirectory(sys.argv[1]).write_lock(timeout=0):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_killed_lock_holder_never_blocks_the_next_run(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Lock test\nThe lock holder is killed.\n", encoding="utf-8")
    index = tmp_path / "index"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(index)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        cmd = [sys.executable, "-m", "searchkit", "index", str(corpus), "--index", str(index)]
        blocked = subprocess.run([*cmd, "--lock-timeout", "0"], capture_output=True, text=True)
        assert blocked.returncode == 3, blocked.stderr  # the lock really is held
        assert "locked by another writer" in blocked.stderr
    finally:
        kill_group(holder)
        holder.stdout.close()
    result = subprocess.run([*cmd, "--lock-timeout", "0"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert set(indexed(index)) == {"a.txt"}


@pytest.mark.parametrize("phase", ["reading", "writing"])
def test_killing_only_the_main_process_leaves_no_lock_and_no_orphans(pristine, tmp_path, phase):
    """`kill -9 <pid>` of `searchkit index` alone, as a user would: its worker processes (the
    reading pool, Whoosh's sub-writers) must not live on holding the index locked."""
    shutil.copytree(pristine / "corpus", tmp_path / "corpus")
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    env = dict(os.environ, SEARCHKIT_INDEX=str(index))
    cmd = [sys.executable, "-m", "searchkit", "index", "-q"]
    if phase == "writing":
        # An existing index, then thousands of new documents: Whoosh's parallel writer runs
        # in the live generation, whose own MAIN_WRITELOCK its sub-writers inherit.
        aside = tmp_path / "aside"
        aside.mkdir()
        for name in ("news", "reuters"):
            shutil.move(corpus / name, aside / name)
        subprocess.run([*cmd, str(corpus)], env=env, check=True)
        for name in ("news", "reuters"):
            shutil.move(aside / name, corpus / name)
    proc = subprocess.Popen(
        [*cmd, str(corpus)], env=env, start_new_session=True, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the run ended before its workers were seen"
            assert time.monotonic() < deadline
            workers = [p for p in group_alive(proc.pid) if p != proc.pid]
            in_writer = any(index.glob("gen-*/MAIN.tmp"))
            if workers and (phase == "reading") != in_writer:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        orphans = group_alive(proc.pid)
        result = subprocess.run(
            [*cmd, str(corpus), "--lock-timeout", "0"], env=env, capture_output=True, text=True
        )
    finally:
        kill_group(proc)
    assert not orphans, f"worker processes {orphans} outlived the killed indexer"
    assert result.returncode == 0, result.stderr
    expected = Expected().of(corpus)
    assert indexed(index) == expected, diff(indexed(index), expected)
