"""Search benchmark: searchkit against plain Whoosh defaults and ripgrep, side by side in one run.

    .venv/bin/python bench/search_bench.py [--workdir DIR] [--queries 300] [--cli-queries 30]
                                          [--skip-latency] [--skip-quality]

Latency, on Reuters-21578 (../shared/corpora/reuters21578/reuters.jsonl), for queries of one
to three words taken from titles (a fixed random sample):

- in-process, with a snippet per hit and two facets (topics, month), after a warm-up on other
  queries: `Index.search` against plain Whoosh defaults - `MultifieldParser(["title", "body"])`,
  `searcher.search(limit=10, groupedby=topics, month)` and `hit.highlights("body")` - and the
  same plain Whoosh without facets;
- end to end through a command line, process start included: `searchkit search ... --facet
  topics --facet month` against a plain Whoosh script doing the above and `rg -i` over the
  JSONL file.

Quality, on the judged collections in ../shared/ir (cran, cisi, med): nDCG@10 and MAP@100 of
searchkit's default mode (`Index.search(text, limit=100)`) against plain Whoosh defaults (the
same parser over a stock schema, AND'ed words as Whoosh parses them) and plain Whoosh with
OR'ed words (its best setting for questions).

Indexes are built once into --workdir and reused. Figures are medians (p50) and 95th
percentiles in milliseconds; ratios are searchkit / other (below 1: searchkit is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REUTERS = SHARED / "corpora" / "reuters21578" / "reuters.jsonl"
IR = SHARED / "ir"
COLLECTIONS = ("cran", "cisi", "med")
FACETS = ("topics", "month")
sys.path.insert(0, str(ROOT))
from common import average_precision_at, ndcg_at, searchkit_reuters, summary  # noqa: E402
from common import title_queries as common_title_queries  # noqa: E402

TARGET_INPROCESS_P50_MS = 5.0
TARGET_CLI_P50_MS = 250.0

# The plain Whoosh command line: open, parse, search with two facets, highlight, print.
WHOOSH_SCRIPT = """
import sys
from whoosh import index, qparser, sorting
ix = index.open_dir(sys.argv[1])
with ix.searcher() as s:
    q = qparser.MultifieldParser(["title", "body"], ix.schema).parse(sys.argv[2])
    facets = {"topics": sorting.FieldFacet("topics", allow_overlap=True),
              "month": sorting.FieldFacet("month")}
    r = s.search(q, limit=10, groupedby=facets)
    for h in r:
        print(h.rank + 1, h["id"], h["title"], h.score)
        print("   ", h.highlights("body"))
    print(r.groups("topics"), r.groups("month"))
    print(len(r), "hits")
"""


# -- data ------------------------------------------------------------------------------------


def reuters_records() -> list[dict]:
    with open(REUTERS, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def title_queries(records: list[dict], count: int, seed: int) -> list[str]:
    """`count` queries of 1-3 consecutive words (3+ letters, no stop words) from titles."""
    from whoosh.analysis import STOP_WORDS

    return common_title_queries([r["title"] for r in records], count, seed, STOP_WORDS)


def whoosh_reuters(workdir: Path, records: list[dict]) -> Path:
    """The same articles in a stock Whoosh schema (what a plain Whoosh user would write)."""
    from whoosh import fields, index

    path = workdir / "reuters-whoosh"
    marker = path / ".complete"
    if not marker.exists():
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        print(f"building the plain Whoosh index in {path} ...", flush=True)
        started = time.perf_counter()
        schema = fields.Schema(
            id=fields.ID(stored=True, unique=True),
            title=fields.TEXT(stored=True),
            body=fields.TEXT(stored=True),
            topics=fields.KEYWORD(stored=True, commas=True, lowercase=True),
            month=fields.ID(stored=True, sortable=True),
        )
        ix = index.create_in(str(path), schema)
        writer = ix.writer(procs=2, multisegment=True, limitmb=128)
        for r in records:
            writer.add_document(
                id=r["id"],
                title=r.get("title") or "",
                body=r.get("body") or "",
                topics=",".join(r.get("topics") or []),
                month=(r.get("date") or "")[:7] or None,
            )
        writer.commit()
        marker.write_text("")
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    return path


# -- measuring -------------------------------------------------------------------------------


def time_each(run, queries: list[str]) -> list[float]:
    times = []
    for q in queries:
        started = time.perf_counter()
        run(q)
        times.append((time.perf_counter() - started) * 1000)
    return times


def in_process(sk_path: Path, wh_path: Path, queries: list[str], warmup: list[str]) -> dict:
    from whoosh import index, qparser, sorting

    from searchkit import Index

    sk = Index(sk_path)

    def searchkit_search(q: str) -> None:
        sk.search(q, facets=FACETS, fragments=1)

    wix = index.open_dir(str(wh_path))
    searcher = wix.searcher()
    parser = qparser.MultifieldParser(["title", "body"], wix.schema)
    facets = {
        "topics": sorting.FieldFacet("topics", allow_overlap=True),
        "month": sorting.FieldFacet("month"),
    }

    def whoosh_search(q: str, grouped: bool = True) -> None:
        kwargs = {"groupedby": facets} if grouped else {}
        results = searcher.search(parser.parse(q), limit=10, **kwargs)
        for hit in results:
            hit.highlights("body")
        if grouped:
            results.groups("topics")
            results.groups("month")

    out = {}
    for name, run in [
        ("searchkit (snippets, 2 facets)", searchkit_search),
        ("plain Whoosh (highlights, 2 facets)", whoosh_search),
        ("plain Whoosh (highlights, no facets)", lambda q: whoosh_search(q, grouped=False)),
    ]:
        time_each(run, warmup)
        out[name] = summary(time_each(run, queries))
    searcher.close()
    sk.close()
    return out


def command_line(sk_path: Path, wh_path: Path, queries: list[str], pycache: Path) -> dict:
    script = Path(sys.executable).with_name("searchkit")
    searchkit = [str(script)] if script.exists() else [sys.executable, "-m", "searchkit"]
    runs = {
        "searchkit search (2 facets)": lambda q: (
            searchkit
            + ["search", q, "--facet", "topics", "--facet", "month", "--index", str(sk_path)]
        ),
        "searchkit search (no facets)": lambda q: (
            searchkit + ["search", q, "--index", str(sk_path)]
        ),
        "plain Whoosh script (2 facets)": lambda q: [
            sys.executable,
            "-c",
            WHOOSH_SCRIPT,
            str(wh_path),
            q,
        ],
    }
    rg = shutil.which("rg")
    if rg:
        runs["rg -i"] = lambda q: [
            rg,
            "-i",
            *[a for w in q.split() for a in ("-e", w)],
            str(REUTERS),
        ]
    else:
        print("rg not found: the ripgrep comparison is skipped (apt-get install ripgrep)")
    out = {}
    # Bytecode is cached as after a normal install, even where PYTHONDONTWRITEBYTECODE is set
    # (compiling searchkit's modules from source would add ~40 ms to every run).
    env = dict(os.environ, NO_COLOR="1", PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name, argv in runs.items():
        subprocess.run(argv(queries[0]), stdout=subprocess.DEVNULL, env=env)  # warm the disk

        def run(q: str, argv=argv) -> None:
            subprocess.run(argv(q), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

        out[name] = summary(time_each(run, queries))
    return out


# -- quality ---------------------------------------------------------------------------------


def load_collection(name: str):
    folder = IR / name
    with open(folder / "docs.jsonl", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    queries = []
    with open(folder / "queries.tsv", encoding="utf-8") as f:
        for line in f:
            qid, _, text = line.rstrip("\n").partition("\t")
            queries.append((qid, text))
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels.txt", encoding="utf-8") as f:
        for line in f:
            qid, _, docid, rel = line.split()
            qrels.setdefault(qid, {})[docid] = int(rel)
    return docs, [(q, t) for q, t in queries if q in qrels], qrels


def score(queries, qrels, rankings: list[list[str]]) -> tuple[float, float]:
    """(mean nDCG@10, mean average precision at 100) of one ranking per query."""
    pairs = [(qid, r) for (qid, _), r in zip(queries, rankings, strict=True)]
    nd = statistics.mean(ndcg_at(r, qrels[qid]) for qid, r in pairs)
    ap = statistics.mean(average_precision_at(r, qrels[qid]) for qid, r in pairs)
    return nd, ap


def quality(workdir: Path) -> dict:
    from whoosh import fields, index, qparser
    from whoosh.qparser import syntax

    from searchkit import Document, Index

    table = {}
    for name in COLLECTIONS:
        docs, queries, qrels = load_collection(name)
        sk_path = workdir / f"ir-{name}-searchkit"
        if not (sk_path / ".complete").exists():
            shutil.rmtree(sk_path, ignore_errors=True)
            with Index(sk_path) as ix:
                ix.add(Document(id=d["id"], title=d["title"], body=d["body"]) for d in docs)
            (sk_path / ".complete").write_text("")
        wh_path = workdir / f"ir-{name}-whoosh"
        if not (wh_path / ".complete").exists():
            shutil.rmtree(wh_path, ignore_errors=True)
            wh_path.mkdir(parents=True)
            schema = fields.Schema(
                id=fields.ID(stored=True), title=fields.TEXT(), body=fields.TEXT()
            )
            wix = index.create_in(str(wh_path), schema)
            with wix.writer() as writer:
                for d in docs:
                    writer.add_document(id=d["id"], title=d["title"], body=d["body"])
            (wh_path / ".complete").write_text("")

        with Index(sk_path) as ix:
            table[(name, "searchkit")] = score(
                queries,
                qrels,
                [[h.id for h in ix.search(t, limit=100, fragments=0).hits] for _, t in queries],
            )
        wix = index.open_dir(str(wh_path))
        with wix.searcher() as s:
            for label, group in [("plain Whoosh", syntax.AndGroup), ("Whoosh, OR", syntax.OrGroup)]:
                parser = qparser.MultifieldParser(["title", "body"], wix.schema, group=group)
                table[(name, label)] = score(
                    queries,
                    qrels,
                    [[h["id"] for h in s.search(parser.parse(t), limit=100)] for _, t in queries],
                )
    return table


# -- report ----------------------------------------------------------------------------------


def print_latency(title: str, rows: dict, target: float | None) -> None:
    print(f"\n{title}")
    print(f"  {'':40} {'p50 ms':>9} {'p95 ms':>9}   p50 ratio searchkit/other")
    first = next(iter(rows.values()))
    for name, s in rows.items():
        ratio = "" if s is first else f"{first['p50'] / s['p50']:.2f}"
        print(f"  {name:40} {s['p50']:9.1f} {s['p95']:9.1f}   {ratio}")
    if target is not None:
        verdict = "met" if first["p50"] <= target else "MISSED"
        print(f"  target p50 <= {target:g} ms: {verdict} ({first['p50']:.1f} ms, n={first['n']})")


def print_quality(table: dict) -> None:
    print("\nranking quality (../shared/ir; searchkit default mode vs plain Whoosh)")
    print(f"  {'':11}" + "".join(f"{c:>22}" for c in COLLECTIONS))
    print(f"  {'':11}" + "".join(f"{'nDCG@10  MAP@100':>22}" for _ in COLLECTIONS))
    for label in ("searchkit", "plain Whoosh", "Whoosh, OR"):
        cells = "".join(
            f"{table[(c, label)][0]:>13.4f}{table[(c, label)][1]:>9.4f}" for c in COLLECTIONS
        )
        print(f"  {label:11}{cells}")
    ok = all(
        table[(c, "searchkit")][0]
        >= max(table[(c, "plain Whoosh")][0], table[(c, "Whoosh, OR")][0])
        for c in COLLECTIONS
    )
    print(f"  target nDCG@10 >= plain Whoosh on all three: {'met' if ok else 'MISSED'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "searchkit-bench")
    ap.add_argument("--queries", type=int, default=300, help="in-process queries")
    ap.add_argument("--cli-queries", type=int, default=30, help="command-line runs per tool")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: the benchmark needs the shared corpora")
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, workdir {args.workdir}")
    if not args.skip_latency:
        records = reuters_records()
        sk_path = searchkit_reuters(args.workdir)
        wh_path = whoosh_reuters(args.workdir, records)
        queries = title_queries(records, args.queries, seed=20)
        warmup = title_queries(records, 50, seed=21)
        print_latency(
            f"in-process, {len(queries)} queries of 1-3 title words on Reuters-21578 "
            "(top 10, snippets, facets topics + month)",
            in_process(sk_path, wh_path, queries, warmup),
            TARGET_INPROCESS_P50_MS,
        )
        cli_queries = title_queries(records, args.cli_queries, seed=22)
        print_latency(
            f"command line end to end (process start included), {len(cli_queries)} queries",
            command_line(sk_path, wh_path, cli_queries, args.workdir / "pycache"),
            TARGET_CLI_P50_MS,
        )
    if not args.skip_quality:
        print_quality(quality(args.workdir))


if __name__ == "__main__":
    main()
