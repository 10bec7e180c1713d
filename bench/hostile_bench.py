"""Hostile-query benchmark: how long the queries a hostile user would type take on Reuters.

    .venv/bin/python bench/hostile_bench.py [--workdir DIR] [--repeat 3] [--slow-ms 1000]
                                            [--no-cli] [--no-profile] [--only SUBSTRING]

Issue 8, class 7: every query has a bounded cost, and every hostile query answers within about
a second on Reuters-21578 (../shared/corpora/reuters21578/reuters.jsonl). For each query of
`hostile_queries`:

- in process: `Index.search(q, limit=10)` on an open index, one untimed call first (it opens
  the searcher and warms the caches), then the median of --repeat timed calls;
- on the command line: one cold `python -m searchkit search Q --index IDX`, process start
  included (bytecode is cached beforehand, as after a normal install);
- the number of hits, and the notes searchkit returned (`Results.notes`: what it limited).

Wall-clock times are what a user waits for; the CPU time of the same runs is printed beside
them because on a shared machine the wall time grows with the load and the CPU time much less.

Queries slower than --slow-ms in process are flagged and profiled (cProfile: the 15 entries
with the highest cumulative time, then the 7 with the highest own time), so that the report
says where the time goes. The index is built once into --workdir and reused. The table is
printed as markdown; everything measured is written to bench/results/hostile.json.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import resource
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REUTERS = SHARED / "corpora" / "reuters21578" / "reuters.jsonl"
RESULTS = ROOT / "bench" / "results" / "hostile.json"
sys.path.insert(0, str(ROOT))
from common import searchkit_reuters  # noqa: E402

SEED = 8
SLOW_MS = 1000.0
CLI_TIMEOUT_S = 600


# -- the queries -----------------------------------------------------------------------------


def reuters_words() -> list[str]:
    """The distinct lower-case words of 3+ letters in Reuters titles and bodies, sorted."""
    words: set[str] = set()
    with open(REUTERS, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            text = f"{record.get('title') or ''} {record.get('body') or ''}".lower()
            words.update(re.findall(r"[a-z]{3,}", text))
    return sorted(words)


def hostile_queries(vocabulary: list[str]) -> list[tuple[str, str]]:
    """(label, query) pairs; the generated ones come from a fixed seed, so runs compare."""
    rng = random.Random(SEED)
    known = set(vocabulary)

    def letters(n: int) -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=n))

    def unknown_word() -> str:
        # `vocabulary` holds every Reuters word of 3+ letters, so every 8-letter one.
        while (word := letters(8)) in known:
            pass
        return word

    many_words = []
    while sum(len(w) + 1 for w in many_words) < 2000:
        many_words.append(letters(rng.randint(2, 10)))
    many_words_query = " ".join(many_words)[:2000].rstrip()

    prefixes = [f"{string.ascii_lowercase[i % 26]}*" for i in range(600)]
    long_words = [w for w in vocabulary if len(w) >= 5]
    short_words = [w for w in vocabulary if len(w) <= 5]
    fuzzy = [f"{w}~2" for w in rng.sample(long_words, 200)]
    # Of words of 5+ letters the phrase is longer than the query limit and is cut (its closing
    # quote with it); of short words it fits, and is searched as a 300-word phrase.
    phrase = " ".join(rng.choices(long_words, k=300))
    short_phrase = " ".join(rng.choices(short_words, k=300))

    return [
        ("cocoa~5", "cocoa~5"),
        ("cocoa~2", "cocoa~2"),
        ("*e*", "*e*"),
        ("e*", "e*"),
        ("*", "*"),
        ("?*", "?*"),
        ("body:*", "body:*"),
        ("title:*", "title:*"),
        ("body:[a TO z]", "body:[a TO z]"),
        ("*e* *a* *o*", "*e* *a* *o*"),
        ("one 2,000-letter word", letters(2000)),
        ("2,000 chars of random words", many_words_query),
        ("300 unknown 8-letter words OR'ed", " OR ".join(unknown_word() for _ in range(300))),
        ("600 one-letter prefixes OR'ed", " OR ".join(prefixes)),
        ("200 Reuters word~2 OR'ed", " OR ".join(fuzzy)),
        ('300-word "phrase", cut at 2,000 chars', f'"{phrase}"'),
        ('300-word "phrase" of short words', f'"{short_phrase}"'),
        ("500-deep parentheses", "(" * 500 + "cocoa" + ")" * 500),
    ]


# -- measuring -------------------------------------------------------------------------------


def elapsed_ms(run) -> tuple[float, float, object]:
    """(wall ms, CPU ms of this process, the value of `run()`)."""
    started, cpu = time.perf_counter(), time.process_time()
    value = run()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000, value


def in_process(ix, query: str, repeat: int) -> dict:
    from searchkit import SearchkitError

    try:
        first_ms, _, results = elapsed_ms(lambda: ix.search(query, limit=10))
    except SearchkitError as e:
        # A refusal is an answer too (cheap and explained); it is reported, not timed.
        return {"error": f"{type(e).__name__}: {e}"}
    timed = [elapsed_ms(lambda: ix.search(query, limit=10)) for _ in range(repeat)]
    return {
        "first_ms": first_ms,
        "times_ms": [wall for wall, _, _ in timed],
        "median_ms": statistics.median(wall for wall, _, _ in timed),
        "cpu_median_ms": statistics.median(cpu for _, cpu, _ in timed),
        "hits": results.total,
        "notes": list(results.notes),
        "suggestion": results.suggestion,
        "relaxed": results.relaxed,
    }


def cli_env(workdir: Path) -> dict:
    # Bytecode is cached as after a normal install, even where PYTHONDONTWRITEBYTECODE is set;
    # NO_COLOR and a pipe keep the pager and colours out of the timing.
    env = dict(os.environ, NO_COLOR="1", PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def command_line(index: Path, query: str, env: dict) -> dict:
    argv = [sys.executable, "-m", "searchkit", "search", query, "--index", str(index)]
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"ms": None, "exit": None, "stderr": f"timed out after {CLI_TIMEOUT_S} s"}
    ms = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return {
        "ms": ms,
        "cpu_ms": cpu_ms,
        "exit": done.returncode,
        "stderr": done.stderr.strip()[-2000:],
    }


def profile(ix, query: str, top: int = 15) -> str:
    """cProfile of one warm search: the `top` entries by cumulative time, then by own time
    (the cumulative list starts with the wrappers every search goes through)."""
    profiler = cProfile.Profile()
    profiler.runcall(ix.search, query, limit=10)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top // 2)
    return out.getvalue()


# -- report ----------------------------------------------------------------------------------


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def notes_cell(notes: list[str], shown: int = 3) -> str:
    # A query of 200 fuzzy words has 200 notes: the table keeps a few, the JSON keeps all.
    cells = [shorten(n, 110) for n in notes[:shown]]
    if len(notes) > shown:
        cells.append(f"(+{len(notes) - shown} more)")
    return "; ".join(cells) or "-"


def print_table(rows: list[dict], slow_ms: float) -> None:
    print(
        "\n| query | chars | hits | in-process median ms (CPU) | CLI ms (CPU, exit) | notes "
        "| over 1 s |"
    )
    print("|---|---:|---:|---:|---:|---|---|")
    for row in rows:
        inproc, cli = row["in_process"], row.get("cli") or {}
        if "error" in inproc:
            hits, median, notes = "-", "-", inproc["error"]
        else:
            hits = f"{inproc['hits']:,}"
            median = f"{inproc['median_ms']:,.0f} ({inproc['cpu_median_ms']:,.0f})"
            notes = notes_cell(inproc["notes"])
        if cli.get("ms") is None:
            cli_ms = "-"
        else:
            cli_ms = f"{cli['ms']:,.0f} ({cli['cpu_ms']:,.0f}, {cli['exit']})"
        slow = [
            name
            for name, ms in (("in-process", inproc.get("median_ms")), ("CLI", cli.get("ms")))
            if ms is not None and ms > slow_ms
        ]
        if cli and cli.get("ms") is None:
            slow.append("CLI timed out")
        print(
            f"| `{cell(shorten(row['label'], 40))}` | {len(row['query']):,} | {hits} | {median} "
            f"| {cli_ms} | {cell(notes)} | {'**SLOW: ' + ', '.join(slow) + '**' if slow else ''} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hostile-bench")
    ap.add_argument("--repeat", type=int, default=3, help="timed in-process calls per query")
    ap.add_argument("--slow-ms", type=float, default=SLOW_MS, help="flag and profile above this")
    ap.add_argument("--no-cli", action="store_true", help="skip the command-line runs")
    ap.add_argument("--no-profile", action="store_true", help="skip profiling slow queries")
    ap.add_argument("--only", help="run only the queries whose label contains this")
    args = ap.parse_args()
    if not REUTERS.is_file():
        sys.exit(f"{REUTERS} not found: the benchmark needs the shared corpora")
    args.workdir.mkdir(parents=True, exist_ok=True)

    from searchkit import Index

    load_before = os.getloadavg()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"load {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"workdir {args.workdir}",
        flush=True,
    )
    index = searchkit_reuters(args.workdir, REUTERS)
    queries = hostile_queries(reuters_words())
    if args.only:
        queries = [(label, q) for label, q in queries if args.only in label]
    env = cli_env(args.workdir)
    if not args.no_cli:
        command_line(index, "cocoa", env)  # fills the bytecode cache and the disk cache

    rows = []
    with Index(index) as ix:
        ix.search("cocoa", limit=10)  # opens the searcher once, outside every measurement
        for label, query in queries:
            print(f"  {label} ...", end=" ", flush=True)
            row = {"label": label, "query": query, "in_process": in_process(ix, query, args.repeat)}
            median = row["in_process"].get("median_ms")
            print("refused" if median is None else f"{median:,.0f} ms", end="", flush=True)
            if not args.no_cli:
                row["cli"] = command_line(index, query, env)
                ms = row["cli"]["ms"]
                print("" if ms is None else f", CLI {ms:,.0f} ms", end="", flush=True)
            print(flush=True)
            if median is not None and median > args.slow_ms and not args.no_profile:
                row["profile"] = profile(ix, query)
            rows.append(row)

    load_after = os.getloadavg()
    print_table(rows, args.slow_ms)
    slow = [r for r in rows if r["in_process"].get("median_ms", 0) > args.slow_ms]
    print(
        f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"(1 min; {os.cpu_count()} cores). "
        f"{len(slow)} of {len(rows)} queries over {args.slow_ms:,.0f} ms in process."
    )
    for row in rows:
        if "profile" in row:
            print(f"\n### profile: {row['label']}\n```\n{row['profile'].strip()}\n```")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "cores": os.cpu_count(),
                "load_before": load_before,
                "load_after": load_after,
                "repeat": args.repeat,
                "slow_ms": args.slow_ms,
                "index": str(index),
                "queries": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\nwritten: {RESULTS}")


if __name__ == "__main__":
    main()
