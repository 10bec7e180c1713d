"""Archive-scale benchmark (issue 10): searchkit, tantivy and SQLite FTS5 side by side in one run.

    PYTHONPATH=$PWD .venv/bin/python bench/scale_bench.py [--sizes 100000,500000] [--workdir DIR]
        [--layouts folder,file] [--queries 200] [--cli-runs 20] [--repeat 1] [--seed 1]
        [--skip-build-peers] [--skip-builds] [--skip-kill] [--max-size SIZE]
        [--out bench/results/scale.json]
    .venv/bin/python bench/scale_bench.py --report bench/results/scale.json

For each size, `../shared/tools/scale_corpus.py N` writes a news-like corpus, laid out two ways
on the same documents: a folder of 20 JSON Lines files (`folder`) and one JSON Lines file
(`file`). Then, in one run:

- builds, each in a fresh process timed from start to exit, with the peak RSS of its largest
  process (getrusage of the children; psutil polling of the process tree as a cross-check):
  `python -m searchkit index DOCS --index IDX`; tantivy 0.27 (title and body `en_stem` text,
  stored, a date, a year and a topics facet; a writer with its default heap and 2 threads, one
  commit); SQLite FTS5 (`porter unicode61`, title and body columns, one transaction);
- in-process queries, top 10, after a warm-up, each engine in a fresh process: 200 title-word
  queries of 1-3 words and the 20 most common body words as one-word queries; searchkit with
  its snippet and two facets (topics, year), tantivy with a `SnippetGenerator` body snippet per
  hit, FTS5 with `snippet()` and `bm25()` (words AND'ed by all three, title weighted 2);
- `searchkit search` end to end (process start to exit) at each size and at 1,000 documents;
- kill and resume: a searchkit build SIGKILLed (its whole process group) at 60% of the full
  build's time, `searchkit stats` on what it left, the build run again and timed; the final
  index must hold exactly the corpus.

searchkit answers in its default mode: when fewer than 10 documents hold every word, documents
holding some of them follow (tantivy and FTS5 stop at the AND), so its median hit count is
shown beside the others'.

Prints markdown tables with the ratios to tantivy and the issue's targets (PASS / MISS), and
writes every figure as JSON to --out (`--report FILE` prints a saved run's tables again). Load
averages are recorded with each build: on a shared machine single figures are noisy, read
medians and ratios. Without --workdir, the corpora and indexes go to a temporary directory
that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from common import summary  # bench/ is the script's folder, so on sys.path

ROOT = Path(__file__).resolve().parents[1]


def find_shared() -> Path:
    """`$SEARCHKIT_SHARED`, else ../shared beside this checkout or, from a git worktree,
    beside the main checkout."""
    if os.environ.get("SEARCHKIT_SHARED"):
        return Path(os.environ["SEARCHKIT_SHARED"])
    candidates = [ROOT.parent / "shared"]
    common = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
    )
    if common.returncode == 0 and common.stdout.strip():
        candidates.append(Path(common.stdout.strip()).parent.parent / "shared")
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED = find_shared()
SCALE_CORPUS = SHARED / "tools" / "scale_corpus.py"
DEFAULT_OUT = ROOT / "bench" / "results" / "scale.json"

LAYOUTS = ("folder", "file")
FOLDER_FILES = 20
ENGINES = ("searchkit", "tantivy", "fts5")
FACETS = ("topics", "year")
TITLE_BOOST = 2.0
COMMON_WORDS = 20
WARMUP_QUERIES = 20
CLI_BASE_SIZE = 1000
KILL_AT = 0.6
# Articles are drawn independently, so the first documents sample the corpus as well as all of
# them do; reading only these keeps query sampling seconds, not minutes, at 500k.
SAMPLE_DOCS = 20_000
POLL_SECONDS = 0.2

TARGET_BUILD_RATIO = 10.0
# "Flat docs/s from 100k to 500k": the largest size keeps at least this share of the smallest
# size's throughput (a 15% allowance for a shared machine's noise).
TARGET_FLAT_SHARE = 0.85
TARGET_RSS_MIB = 500.0
TARGET_TITLE_P50_RATIO = 3.0
TARGET_COMMON_P95_MS = 50.0
TARGET_CLI_RATIO = 1.3
TARGET_RESUME_SHARE = 0.6

# Runs a command and reports its wall time and the peak RSS of its largest process: for
# RUSAGE_CHILDREN, ru_maxrss is the maximum over the waited-for descendants, not a sum. A fresh
# wrapper per measurement keeps one build's peak from leaking into the next.
MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
returncode = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as f:
    json.dump({"returncode": returncode, "seconds": seconds, "peak_rss_kib": peak}, f)
"""


# -- corpora ---------------------------------------------------------------------------------


def generate(workdir: Path, size: int, seed: int) -> Path:
    """The corpus of `size` articles (generated once per workdir, size and seed)."""
    path = workdir / f"corpus-{size}-s{seed}.jsonl"
    if not path.exists():
        print(f"generating {size:,} articles into {path} ...", flush=True)
        partial = path.with_suffix(".partial")
        subprocess.run(
            [sys.executable, str(SCALE_CORPUS), str(size), str(partial), "--seed", str(seed)],
            check=True,
        )
        partial.rename(path)
    return path


def lay_out(generated: Path, layout: str) -> Path:
    """A folder holding the corpus as 20 JSON Lines files (`folder`) or as one (`file`)."""
    docs = generated.parent / f"{generated.stem}-{layout}"
    # Beside the folder, not in it: every engine indexes the whole folder.
    complete = docs.with_name(docs.name + ".complete")
    if complete.exists():
        return docs
    shutil.rmtree(docs, ignore_errors=True)
    docs.mkdir()
    if layout == "file":
        os.link(generated, docs / generated.name)
    else:
        total = count_lines(generated)
        outs = [
            open(docs / f"part-{i:02d}.jsonl", "w", encoding="utf-8") for i in range(FOLDER_FILES)
        ]
        try:
            with open(generated, encoding="utf-8") as f:
                for number, line in enumerate(f):
                    outs[number * FOLDER_FILES // total].write(line)
        finally:
            for out in outs:
                out.close()
    complete.write_text("")
    return docs


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def corpus_files(docs: Path) -> list[Path]:
    return sorted(docs.glob("*.jsonl"))


def read_records(docs: Path):
    """Every article of a corpus folder, streamed in file order."""
    for path in corpus_files(docs):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def head_records(generated: Path, count: int) -> list[dict]:
    records = []
    with open(generated, encoding="utf-8") as f:
        for line in f:
            records.append(json.loads(line))
            if len(records) == count:
                break
    return records


# -- queries ---------------------------------------------------------------------------------


def stop_words() -> frozenset[str]:
    from whoosh.analysis import STOP_WORDS

    return frozenset(STOP_WORDS)


def title_queries(records: list[dict], count: int, seed: int) -> list[str]:
    """`count` queries of 1-3 consecutive title words (3+ letters, no stop words)."""
    from common import title_queries as common_title_queries

    return common_title_queries([r["title"] for r in records], count, seed, stop_words())


def common_words(records: list[dict], count: int) -> list[str]:
    """The `count` most frequent body words of 3+ letters, stop words left out: searchkit's
    analyzer drops them (an empty query) where tantivy's and FTS5's keep them."""
    stop = stop_words()
    counts: Counter[str] = Counter()
    for record in records:
        counts.update(w for w in re.findall(r"[a-z]{3,}", record["body"].lower()) if w not in stop)
    return [word for word, _ in counts.most_common(count)]


# -- children: each engine's build and queries in a fresh process ----------------------------


def parse_date(text: str | None) -> datetime | None:
    """`2020`, `2020-03` or `2020-03-14` as the first day it covers."""
    if not text:
        return None
    parts = [int(p) for p in text.split("-")]
    parts += [1] * (3 - len(parts))
    return datetime(parts[0], parts[1], parts[2], tzinfo=timezone.utc)


def child_build_tantivy(docs: str, index: str) -> dict:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=True, tokenizer_name="en_stem")
    builder.add_date_field("date", stored=True, indexed=True, fast=True)
    builder.add_integer_field("year", stored=True, indexed=True, fast=True)
    builder.add_facet_field("topics")
    schema = builder.build()
    os.makedirs(index, exist_ok=True)
    ix = tantivy.Index(schema, path=index)
    writer = ix.writer(num_threads=2)
    count = 0
    for record in read_records(Path(docs)):
        doc = tantivy.Document(id=record["id"], title=record["title"], body=record["body"])
        date = parse_date(record.get("date"))
        if date is not None:
            doc.add_date("date", date)
            doc.add_integer("year", date.year)
        for topic in record.get("topics") or ():
            doc.add_facet("topics", tantivy.Facet.from_string(f"/{topic}"))
        writer.add_document(doc)
        count += 1
    writer.commit()
    writer.wait_merging_threads()
    return {"documents": count}


FTS5_SCHEMA = (
    "CREATE VIRTUAL TABLE docs USING fts5("
    "id UNINDEXED, title, body, date UNINDEXED, topics UNINDEXED, "
    "tokenize='porter unicode61')"
)
# Weights per column (id, title, body): the title counts twice, as in searchkit.
FTS5_QUERY = (
    "SELECT id, title, date, topics, snippet(docs, 2, '[', ']', '...', 16) FROM docs "
    f"WHERE docs MATCH ? ORDER BY bm25(docs, 0.0, {TITLE_BOOST}, 1.0) LIMIT 10"
)


def child_build_fts5(docs: str, database: str) -> dict:
    import sqlite3

    con = sqlite3.connect(database)
    count = 0
    with con:  # one transaction for the whole build
        con.execute(FTS5_SCHEMA)
        for record in read_records(Path(docs)):
            con.execute(
                "INSERT INTO docs VALUES (?, ?, ?, ?, ?)",
                (
                    record["id"],
                    record["title"],
                    record["body"],
                    record.get("date"),
                    " ".join(record.get("topics") or ()),
                ),
            )
            count += 1
    con.close()
    return {"documents": count}


def searchkit_runner(index: str):
    from searchkit import Index

    ix = Index.open(index)

    def run(q: str) -> tuple[int | None, int]:
        results = ix.search(q, limit=10, facets=FACETS)
        return results.total, sum(1 for h in results.hits if h.snippet.text)

    return run


def tantivy_runner(index: str):
    import tantivy

    ix = tantivy.Index.open(index)
    searcher = ix.searcher()
    schema = ix.schema

    def run(q: str) -> tuple[int | None, int]:
        query = ix.parse_query(
            q, ["title", "body"], field_boosts={"title": TITLE_BOOST}, conjunction_by_default=True
        )
        result = searcher.search(query, 10)
        snippets = tantivy.SnippetGenerator.create(searcher, query, schema, "body")
        made = 0
        for _score, address in result.hits:
            if snippets.snippet_from_doc(searcher.doc(address)).to_html():
                made += 1
        return result.count, made

    return run


def fts5_runner(database: str):
    import sqlite3

    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True)

    def run(q: str) -> tuple[int | None, int]:
        # Quoted words: FTS5 reads bare AND / OR / NOT / NEAR as operators.
        match = " ".join(f'"{w}"' for w in q.split())
        rows = con.execute(FTS5_QUERY, (match,)).fetchall()
        return None, sum(1 for row in rows if row[4])

    return run


RUNNERS = {"searchkit": searchkit_runner, "tantivy": tantivy_runner, "fts5": fts5_runner}


def child_query(engine: str, index: str, queries_file: str, repeat: str) -> dict:
    spec = json.loads(Path(queries_file).read_text(encoding="utf-8"))
    started = time.perf_counter()
    run = RUNNERS[engine](index)
    first_total, _ = run(spec["warmup"][0])
    # Opening and the first answer in a fresh process: what a one-shot command pays.
    first_ms = (time.perf_counter() - started) * 1000
    for q in spec["warmup"]:
        run(q)
    out = {"first_query_ms": first_ms}
    for kind in ("title", "common"):
        times, totals, snippets, hits_with_snippets = [], [], 0, 0
        for _ in range(int(repeat)):
            for q in spec[kind]:
                began = time.perf_counter()
                total, made = run(q)
                times.append((time.perf_counter() - began) * 1000)
                totals.append(total)
                snippets += made
                hits_with_snippets += 1 if made else 0
        out[kind] = {
            **summary(times),
            "median_total": None if None in totals else statistics.median(totals),
            "snippets": snippets,
            "queries_with_snippets": hits_with_snippets,
        }
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def child_verify(index: str, generated: str) -> dict:
    """Document count and, where the API can list them, the ids against the corpus's ids."""
    from searchkit import Index

    expected = []
    with open(generated, encoding="utf-8") as f:
        for line in f:
            expected.append(json.loads(line)["id"])
    with Index.open(index) as ix:
        documents = ix.stats().documents
        lister = getattr(ix, "documents", None)
        ids_match = None
        if callable(lister):
            ids = [getattr(d, "id", d) for d in lister()]
            ids_match = len(ids) == len(set(ids)) and set(ids) == set(expected)
    return {
        "documents": documents,
        "expected": len(expected),
        "ids_checked": ids_match is not None,
        "exact": documents == len(expected) and ids_match is not False,
    }


CHILDREN = {
    "build-tantivy": child_build_tantivy,
    "build-fts5": child_build_fts5,
    "query": child_query,
    "verify": child_verify,
}


# -- measuring -------------------------------------------------------------------------------


def child_env(workdir: Path) -> dict:
    """The environment of every child: this checkout's searchkit, bytecode cached."""
    env = dict(os.environ, NO_COLOR="1", PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    # Compiling searchkit from source in every process would add ~40 ms to each CLI run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(argv: list[str], *, env: dict, log: Path) -> dict:
    """Run `argv` to its end: wall seconds, peak RSS of its largest process, its stdout."""
    import psutil

    result_file = log.with_suffix(".measure.json")
    load = os.getloadavg()[0]
    with open(log.with_suffix(".out"), "wb") as out, open(log.with_suffix(".err"), "wb") as err:
        wrapper = subprocess.Popen(
            [sys.executable, "-c", MEASURE, str(result_file), *argv],
            stdout=out,
            stderr=err,
            env=env,
        )
        polled = 0
        try:
            parent = psutil.Process(wrapper.pid)
            while wrapper.poll() is None:
                for process in parent.children(recursive=True):
                    try:
                        polled = max(polled, process.memory_info().rss)
                    except psutil.Error:
                        pass  # it ended between the listing and the reading
                time.sleep(POLL_SECONDS)
        except psutil.Error:
            pass  # the wrapper ended before the first poll
        wrapper.wait()
    result = json.loads(result_file.read_text())
    stdout = log.with_suffix(".out").read_text(encoding="utf-8", errors="replace")
    if result["returncode"] != 0:
        tail = log.with_suffix(".err").read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(argv)} exited {result['returncode']}:\n{tail}")
    return {
        "seconds": result["seconds"],
        "peak_rss_mib": result["peak_rss_kib"] / 1024,
        "polled_rss_mib": polled / 1024**2,
        "load_before": load,
        "stdout": stdout,
    }


def run_child(name: str, *args: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


class Bench:
    """One run: its options, its working directory and the figures gathered so far."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.env = child_env(workdir)
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def searchkit_argv(self, docs: Path, index: Path) -> list[str]:
        argv = [sys.executable, "-m", "searchkit", "index", str(docs), "--index", str(index)]
        argv += ["--format", "json"]
        if self.args.max_size:
            argv += ["--max-size", self.args.max_size]
        return argv

    def build_argv(self, engine: str, docs: Path, index: Path) -> list[str]:
        if engine == "searchkit":
            return self.searchkit_argv(docs, index)
        return [sys.executable, __file__, "--child", f"build-{engine}", str(docs), str(index)]

    def index_path(self, size: int, layout: str, engine: str) -> Path:
        suffix = ".sqlite" if engine == "fts5" else ""
        return self.workdir / f"index-{size}-{layout}-{engine}{suffix}"

    def build(self, engine: str, size: int, layout: str, docs: Path) -> dict | None:
        """Median build over --repeat fresh builds (max of the peaks); None if skipped."""
        index = self.index_path(size, layout, engine)
        saved = Path(f"{index}.build.json")
        if self.args.skip_builds or (engine != "searchkit" and self.args.skip_build_peers):
            # The index and the figures of the last build in the workdir: for measuring
            # query-side changes without building again (the build figures are that run's).
            if saved.exists():
                return json.loads(saved.read_text())
            print(f"  {engine}: skipped (no earlier build in the workdir)")
            return None
        runs = []
        for attempt in range(self.args.repeat):
            remove(index)
            log = self.logs / f"build-{size}-{layout}-{engine}-{attempt}"
            print(f"  {engine} build ({layout}, run {attempt + 1}) ...", end=" ", flush=True)
            runs.append(measure(self.build_argv(engine, docs, index), env=self.env, log=log))
            print(f"{runs[-1]['seconds']:.1f} s, {runs[-1]['peak_rss_mib']:.0f} MiB", flush=True)
        seconds = statistics.median(r["seconds"] for r in runs)
        figures = {
            "seconds": seconds,
            "runs": [r["seconds"] for r in runs],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "polled_rss_mib": max(r["polled_rss_mib"] for r in runs),
            "load_before": [r["load_before"] for r in runs],
        }
        last = json.loads(
            runs[-1]["stdout"].strip().splitlines()[-1]
            if engine != "searchkit"
            else runs[-1]["stdout"]
        )
        figures["documents"] = last["documents"]
        # Of the documents indexed: a build that skipped a file is not faster per document.
        figures["docs_per_s"] = last["documents"] / seconds
        if engine == "searchkit":
            report = last
            figures["report"] = {
                k: report[k] for k in ("added", "skipped", "warnings", "documents", "seconds")
            }
            figures["problems"] = [p.get("reason", str(p)) for p in report["problems"]][:5]
        saved.write_text(json.dumps(figures))
        return figures

    def kill_and_resume(self, size: int, layout: str, docs: Path, full: dict, generated: Path):
        """A build SIGKILLed at 60% of `full`'s time, what it left, and the resumed build."""
        index = self.workdir / f"index-{size}-{layout}-searchkit-killed"
        remove(index)
        delay = KILL_AT * full["seconds"]
        log = self.logs / f"kill-{size}-{layout}"
        print(f"  searchkit build killed after {delay:.1f} s ({layout}) ...", end=" ", flush=True)
        with open(log.with_suffix(".err"), "wb") as err:
            # Its own session: the SIGKILL reaches the build and every worker it started.
            build = subprocess.Popen(
                self.searchkit_argv(docs, index),
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=self.env,
                start_new_session=True,
            )
            try:
                build.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                os.killpg(build.pid, signal.SIGKILL)
                build.wait()
                killed = True
        stats = subprocess.run(
            [sys.executable, "-m", "searchkit", "stats", "--index", str(index), "--format", "json"],
            capture_output=True,
            text=True,
            env=self.env,
        )
        after_kill = json.loads(stats.stdout)["documents"] if stats.returncode == 0 else None
        print(f"stats exit {stats.returncode}, {after_kill} documents; resuming ...", end=" ")
        try:
            resumed = measure(
                self.searchkit_argv(docs, index),
                env=self.env,
                log=self.logs / f"resume-{size}-{layout}",
            )
        except RuntimeError as error:
            # A resume that fails is a finding to report, not a reason to lose the run.
            print(f"failed: {error}", flush=True)
            return {
                "killed_at_s": delay,
                "killed": killed,
                "stats_exit": stats.returncode,
                "documents_after_kill": after_kill,
                "resume_error": str(error)[-1000:],
            }
        print(f"{resumed['seconds']:.1f} s", flush=True)
        final = run_child("verify", str(index), str(generated), env=self.env)
        return {
            "killed_at_s": delay,
            "killed": killed,
            "stats_exit": stats.returncode,
            "stats_error": stats.stderr.strip()[-300:] if stats.returncode else "",
            "documents_after_kill": after_kill,
            "resumed_s": resumed["seconds"],
            "resumed_share": resumed["seconds"] / full["seconds"],
            "resumed_peak_rss_mib": resumed["peak_rss_mib"],
            "final": final,
        }

    def queries(self, size: int, layout: str, generated: Path) -> dict:
        records = head_records(generated, SAMPLE_DOCS)
        spec = {
            "title": title_queries(records, self.args.queries, seed=20),
            "common": common_words(records, COMMON_WORDS),
            "warmup": title_queries(records, WARMUP_QUERIES, seed=21),
        }
        queries_file = self.workdir / f"queries-{size}.json"
        queries_file.write_text(json.dumps(spec))
        out = {"layout": layout, "common_words": spec["common"]}
        for engine in ENGINES:
            index = self.index_path(size, layout, engine)
            if not index.exists():
                continue
            print(f"  {engine} queries ...", end=" ", flush=True)
            args = (engine, str(index), str(queries_file), str(self.args.repeat))
            out[engine] = run_child("query", *args, env=self.env)
            t, c = out[engine]["title"], out[engine]["common"]
            print(f"title p50 {t['p50']:.1f} ms, common p95 {c['p95']:.1f} ms", flush=True)
        return out

    def cli(self, indexes: dict[int, Path], queries: list[str]) -> dict[int, dict]:
        """`searchkit search` with two facets, process start to exit, per index.

        The indexes take turns, one query each, so that a change in the machine's load during
        the runs weighs on every size alike and their ratios hold.
        """

        def argv(index: Path, q: str) -> list[str]:
            return [sys.executable, "-m", "searchkit", "search", q, "--index", str(index)] + [
                a for f in FACETS for a in ("--facet", f)
            ]

        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": self.env}
        for index in indexes.values():
            subprocess.run(argv(index, queries[0]), **quiet)  # warms bytecode and the disk
        times: dict[int, list[float]] = {size: [] for size in indexes}
        for q in queries:
            for size, index in indexes.items():
                started = time.perf_counter()
                subprocess.run(argv(index, q), **quiet)
                times[size].append((time.perf_counter() - started) * 1000)
        return {size: summary(t) for size, t in times.items()}


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# -- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> dict:
    import sqlite3

    import tantivy

    bench = Bench(args, workdir)
    results: dict = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_at_start": os.getloadavg(),
            "python": sys.version.split()[0],
            "tantivy": getattr(tantivy, "__version__", "?"),
            "sqlite": sqlite3.sqlite_version,
            "searchkit_commit": git_head(),
        },
        "options": {k: v for k, v in vars(args).items() if k != "child"},
        "sizes": {},
    }

    # The 1k index and its CLI queries: the base of the "within 1.3x of 1k" target. The CLI
    # queries come from the first 1,000 titles, which every larger corpus holds too (the
    # generator draws articles in sequence from one seeded stream).
    base = generate(workdir, CLI_BASE_SIZE, args.seed)
    cli_queries = title_queries(head_records(base, CLI_BASE_SIZE), args.cli_runs, seed=22)
    base_docs = lay_out(base, "folder")
    base_index = workdir / f"index-{CLI_BASE_SIZE}-searchkit"
    remove(base_index)
    print(f"{CLI_BASE_SIZE:,} articles: searchkit build (the command line's baseline)", flush=True)
    measure(bench.searchkit_argv(base_docs, base_index), env=bench.env, log=bench.logs / "base")

    for size in args.sizes:
        print(f"\n{size:,} articles", flush=True)
        generated = generate(workdir, size, args.seed)
        entry: dict = {"corpus_bytes": generated.stat().st_size, "layouts": {}}
        results["sizes"][str(size)] = entry
        for layout in args.layouts:
            docs = lay_out(generated, layout)
            builds = {engine: bench.build(engine, size, layout, docs) for engine in ENGINES}
            sk_index = bench.index_path(size, layout, "searchkit")
            verified = run_child("verify", str(sk_index), str(generated), env=bench.env)
            entry["layouts"][layout] = {"builds": builds, "verify": verified}
            if not args.skip_kill:
                entry["layouts"][layout]["kill"] = bench.kill_and_resume(
                    size, layout, docs, builds["searchkit"], generated
                )
        primary = args.layouts[0]
        entry["queries"] = bench.queries(size, primary, generated)
        write_json(args.out, results)  # a long run leaves its figures so far
    print("\nsearchkit search end to end ...", flush=True)
    indexes = {CLI_BASE_SIZE: base_index}
    indexes.update({s: bench.index_path(s, args.layouts[0], "searchkit") for s in args.sizes})
    cli = bench.cli(indexes, cli_queries)
    results["cli_base"] = {"size": CLI_BASE_SIZE, **cli[CLI_BASE_SIZE]}
    for size in args.sizes:
        results["sizes"][str(size)]["cli"] = cli[size]
    results["machine"]["load_at_end"] = os.getloadavg()
    results["targets"] = targets(results)
    return results


def git_head() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    )
    return out.stdout.strip()


def write_json(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


# -- targets and report ----------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def targets(results: dict) -> list[dict]:
    """The issue's targets, each with the measured figure and PASS / MISS."""
    rows = []

    def add(target: str, measured: str, ok: bool | None) -> None:
        rows.append({"target": target, "measured": measured, "verdict": verdict(ok)})

    def incomplete(figures: dict) -> str | None:
        """Why a searchkit build's time and memory compare to nothing, if they don't."""
        v = figures["verify"]
        if v["exact"]:
            return None
        return f"not comparable: {v['documents']:,} of {v['expected']:,} documents indexed"

    sizes = sorted(int(s) for s in results["sizes"])
    largest = sizes[-1]
    at = f"{largest:,}" + ("" if largest >= 500_000 else " (the issue: 500,000)")
    for size in sizes:
        for layout, figures in results["sizes"][str(size)]["layouts"].items():
            sk, tv = figures["builds"]["searchkit"], figures["builds"]["tantivy"]
            if incomplete(figures):
                add(
                    f"build <= {TARGET_BUILD_RATIO:g}x tantivy ({size:,}, {layout})",
                    incomplete(figures),
                    None,
                )
            elif tv is not None:
                ratio = sk["seconds"] / tv["seconds"]
                add(
                    f"build <= {TARGET_BUILD_RATIO:g}x tantivy ({size:,}, {layout})",
                    f"{ratio:.1f}x ({sk['seconds']:.1f} s / {tv['seconds']:.1f} s)",
                    ratio <= TARGET_BUILD_RATIO,
                )
    if len(sizes) > 1:
        for layout in results["sizes"][str(largest)]["layouts"]:
            ends = [results["sizes"][str(s)]["layouts"][layout] for s in (sizes[0], largest)]
            small, big = (e["builds"]["searchkit"] for e in ends)
            share = big["docs_per_s"] / small["docs_per_s"]
            target = (
                f"flat docs/s {sizes[0]:,} -> {largest:,} ({layout}; >= "
                f"{TARGET_FLAT_SHARE:.0%} kept)"
            )
            why = incomplete(ends[0]) or incomplete(ends[1])
            if why:
                add(target, why, None)
                continue
            add(
                target,
                f"{small['docs_per_s']:.0f} -> {big['docs_per_s']:.0f} docs/s ({share:.0%})",
                share >= TARGET_FLAT_SHARE,
            )
    for layout, figures in results["sizes"][str(largest)]["layouts"].items():
        peak = figures["builds"]["searchkit"]["peak_rss_mib"]
        target = f"peak RSS of the largest process <= {TARGET_RSS_MIB:g} MiB ({at}, {layout})"
        if incomplete(figures):
            add(target, incomplete(figures), None)
        else:
            add(target, f"{peak:.0f} MiB", peak <= TARGET_RSS_MIB)
    for size in sizes:
        q = results["sizes"][str(size)]["queries"]
        if "tantivy" in q and "searchkit" in q:
            ratio = q["searchkit"]["title"]["p50"] / q["tantivy"]["title"]["p50"]
            add(
                f"title-word p50 <= {TARGET_TITLE_P50_RATIO:g}x tantivy's ({size:,})",
                f"{ratio:.1f}x ({q['searchkit']['title']['p50']:.1f} / "
                f"{q['tantivy']['title']['p50']:.1f} ms)",
                ratio <= TARGET_TITLE_P50_RATIO,
            )
    common = results["sizes"][str(largest)]["queries"]["searchkit"]["common"]["p95"]
    add(
        f"common-word p95 with two facets <= {TARGET_COMMON_P95_MS:g} ms ({at})",
        f"{common:.1f} ms",
        common <= TARGET_COMMON_P95_MS,
    )
    base = results["cli_base"]["p50"]
    cli = results["sizes"][str(largest)]["cli"]["p50"]
    add(
        f"`searchkit search` p50 <= {TARGET_CLI_RATIO:g}x the same at 1,000 ({at})",
        f"{cli / base:.2f}x ({cli:.0f} / {base:.0f} ms)",
        cli / base <= TARGET_CLI_RATIO,
    )
    for size in sizes:
        for layout, figures in results["sizes"][str(size)]["layouts"].items():
            kill = figures.get("kill")
            if kill is None:
                continue
            where = f"({size:,}, {layout})"
            expected = kill.get("final", {}).get("expected")
            if not kill["killed"] or kill["documents_after_kill"] == expected:
                # This build ran faster than the full one (the machine's load fell): 60% of
                # that time was not 60% of this build, and nothing was left to resume.
                add(f"killed at 60% {where}", "the build was done before the kill: run again", None)
                continue
            add(
                f"killed at 60% leaves a searchable index {where}",
                f"stats exit {kill['stats_exit']}, {kill['documents_after_kill']} documents",
                kill["stats_exit"] == 0 and bool(kill["documents_after_kill"]),
            )
            if "resume_error" in kill:
                add(f"resumed build completes {where}", kill["resume_error"][-200:], False)
                continue
            add(
                f"resumed build <= {TARGET_RESUME_SHARE:.0%} of a full one {where}",
                f"{kill['resumed_share']:.0%} ({kill['resumed_s']:.1f} s)",
                kill["resumed_share"] <= TARGET_RESUME_SHARE,
            )
            final = kill["final"]
            add(
                f"final index holds exactly the corpus {where}",
                f"{final['documents']:,} of {final['expected']:,} documents"
                + ("" if final["ids_checked"] else " (count only: no Index.documents())"),
                final["exact"],
            )
    for size in sizes:
        for layout, figures in results["sizes"][str(size)]["layouts"].items():
            v = figures["verify"]
            add(
                f"full build holds exactly the corpus ({size:,}, {layout})",
                f"{v['documents']:,} of {v['expected']:,} documents",
                v["exact"],
            )
    return rows


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def report(results: dict) -> str:
    """The run as markdown tables."""
    m = results["machine"]
    load_start = ", ".join(f"{x:.1f}" for x in m["load_at_start"])
    load_end = ", ".join(f"{x:.1f}" for x in m.get("load_at_end", ()))
    lines = [
        f"searchkit {m['searchkit_commit']}; {m['tantivy']}; SQLite {m['sqlite']}; "
        f"Python {m['python']}; {m['cpus']} cores; load average {load_start} at start, "
        f"{load_end} at end",
        "",
        "Full builds (one fresh process each, start to exit; peak RSS of the largest process)",
        "",
        "| articles | layout | engine | seconds | docs/s | peak RSS MiB | x tantivy | indexed |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for size, entry in results["sizes"].items():
        for layout, figures in entry["layouts"].items():
            tv = figures["builds"]["tantivy"]
            for engine in ENGINES:
                b = figures["builds"][engine]
                if b is None:
                    continue
                ratio = f"{b['seconds'] / tv['seconds']:.1f}" if tv else "-"
                indexed = (
                    figures["verify"]["documents"] if engine == "searchkit" else b["documents"]
                )
                lines.append(
                    f"| {int(size):,} | {layout} | {engine} | {b['seconds']:.1f} | "
                    f"{indexed / b['seconds']:.0f} | {b['peak_rss_mib']:.0f} | {ratio} | "
                    f"{indexed:,} |"
                )
    for size, entry in results["sizes"].items():
        for layout, figures in entry["layouts"].items():
            for problem in figures["builds"]["searchkit"].get("problems", ()):
                lines.append(f"\nsearchkit, {int(size):,} {layout}: {problem}")
    lines += [
        "",
        "In-process queries, top 10 with snippets (searchkit: two facets too), ms after a warm-up",
        "",
        "| articles | engine | title p50 | title p95 | common p50 | common p95 | "
        "title p50 x tantivy | first query, fresh process | title median hits |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, entry in results["sizes"].items():
        q = entry["queries"]
        tv = q.get("tantivy")
        for engine in ENGINES:
            if engine not in q:
                continue
            e = q[engine]
            ratio = f"{e['title']['p50'] / tv['title']['p50']:.1f}" if tv else "-"
            lines.append(
                f"| {int(size):,} | {engine} | {e['title']['p50']:.1f} | {e['title']['p95']:.1f}"
                f" | {e['common']['p50']:.1f} | {e['common']['p95']:.1f} | {ratio} | "
                f"{e['first_query_ms']:.0f} | {fmt(e['title']['median_total'], '.0f')} |"
            )
    base = results["cli_base"]
    lines += [
        "",
        "`searchkit search` end to end (process start to exit, two facets), ms",
        "",
        "| articles | p50 | p95 | x 1,000 |",
        "|---:|---:|---:|---:|",
        f"| {base['size']:,} | {base['p50']:.0f} | {base['p95']:.0f} | 1.00 |",
    ]
    for size, entry in results["sizes"].items():
        c = entry["cli"]
        lines.append(
            f"| {int(size):,} | {c['p50']:.0f} | {c['p95']:.0f} | {c['p50'] / base['p50']:.2f} |"
        )
    kills = [
        (size, layout, figures["kill"])
        for size, entry in results["sizes"].items()
        for layout, figures in entry["layouts"].items()
        if "kill" in figures
    ]
    if kills:
        lines += [
            "",
            "searchkit build killed at 60% of its full time, then run again",
            "",
            "| articles | layout | killed at s | stats exit | documents after kill | "
            "resumed s | resumed / full | final documents |",
            "|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for size, layout, k in kills:
            if "resume_error" in k:
                lines.append(
                    f"| {int(size):,} | {layout} | {k['killed_at_s']:.1f} | {k['stats_exit']} | "
                    f"{fmt(k['documents_after_kill'], ',')} | failed | - | - |"
                )
                continue
            lines.append(
                f"| {int(size):,} | {layout} | {k['killed_at_s']:.1f} | {k['stats_exit']} | "
                f"{fmt(k['documents_after_kill'], ',')} | {k['resumed_s']:.1f} | "
                f"{k['resumed_share']:.0%} | {k['final']['documents']:,} |"
            )
    lines += ["", "Targets (issue 10)", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {t['verdict']} |" for t in results["targets"]]
    return "\n".join(lines)


# -- command line ----------------------------------------------------------------------------


def sizes_list(text: str) -> list[int]:
    sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 100:
        raise argparse.ArgumentTypeError(f"sizes must be 100 or more: {text!r}")
    return sizes


def layouts_list(text: str) -> list[str]:
    layouts = [s.strip() for s in text.split(",") if s.strip()]
    unknown = set(layouts) - set(LAYOUTS)
    if not layouts or unknown:
        raise argparse.ArgumentTypeError(f"layouts are {', '.join(LAYOUTS)}: {text!r}")
    return layouts


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(CHILDREN[sys.argv[2]](*sys.argv[3:])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=sizes_list, default=[100_000, 500_000], help="100000,500000")
    ap.add_argument("--layouts", type=layouts_list, default=list(LAYOUTS), help="folder,file")
    ap.add_argument("--workdir", type=Path, help="kept and reused (default: a temporary one)")
    ap.add_argument("--seed", type=int, default=1, help="scale_corpus.py's seed")
    ap.add_argument("--queries", type=int, default=200, help="title-word queries")
    ap.add_argument("--cli-runs", type=int, default=20, help="`searchkit search` runs per size")
    ap.add_argument("--repeat", type=int, default=1, help="builds and query passes per figure")
    ap.add_argument("--skip-build-peers", action="store_true", help="reuse tantivy/FTS5 indexes")
    ap.add_argument(
        "--skip-builds",
        action="store_true",
        help="reuse every index of the workdir with its saved build figures (queries only)",
    )
    ap.add_argument("--skip-kill", action="store_true", help="no kill-and-resume run")
    ap.add_argument("--max-size", help="passed to `searchkit index --max-size` (e.g. 2G)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--report", type=Path, metavar="JSON", help="print a saved run's tables")
    args = ap.parse_args()
    if args.report is not None:
        results = json.loads(args.report.read_text(encoding="utf-8"))
        results["targets"] = targets(results)  # as this version of the benchmark judges them
        print(report(results))
        return
    for module in ("tantivy", "psutil"):
        try:
            __import__(module)
        except ImportError:
            sys.exit(f"{module} is not installed: pip install -e '.[bench]'")
    if not SCALE_CORPUS.exists():
        sys.exit(f"{SCALE_CORPUS} not found: the benchmark needs the shared corpora and tools")
    if args.workdir is not None:
        workdir = args.workdir.resolve()
        if workdir.is_relative_to(SHARED.resolve()):
            sys.exit(f"--workdir must not be inside {SHARED}: it is read-only for benchmarks")
        workdir.mkdir(parents=True, exist_ok=True)
        results = run(args, workdir)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="searchkit-scale-"))
        try:
            results = run(args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    write_json(args.out, results)
    print("\n" + report(results))
    print(f"\nfigures in {args.out}")


if __name__ == "__main__":
    main()
