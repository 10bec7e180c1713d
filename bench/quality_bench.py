"""Ranking quality: searchkit against four other engines on the judged collections, side by side.

    .venv/bin/python bench/quality_bench.py [--workdir DIR] [--ir DIR] [--rebuild]
                                           [--collections adi cran cisi med] [--engines ...]

Every engine indexes each collection of ../shared/ir (docs.jsonl: id, title, body) and answers
every judged query as typed, top 100:

- plain Whoosh: 2.7 defaults over a stock schema (`TEXT(analyzer=StemmingAnalyzer())` for
  title and body), `MultifieldParser(["title", "body"], schema, group=OrGroup)`, BM25F;
- tantivy: title and body with its `en_stem` tokenizer, `parse_query_lenient` (words OR'ed),
  its default BM25;
- bm25s: `bm25s.tokenize(title + body, stopwords="en", stemmer=Stemmer.Stemmer("english"))`,
  `bm25s.BM25()` defaults (Lucene's BM25, k1 1.5, b 0.75);
- SQLite FTS5: `fts5(title, body, tokenize='porter unicode61')`, words OR'ed, `bm25()`;
- searchkit: `Index.search(text, limit=100)` in its default mode, on the code that is imported
  (run with PYTHONPATH set to a worktree to measure that worktree);
- the proposed ranking: bench/ranking_lab.py's PROPOSED recipe, computed by the lab's
  standalone scorer (what searchkit should measure once it ranks that way).

Measures (binary relevance is a grade above 0; nDCG uses the grade as gain): nDCG@10, MAP@100,
P@10, R@100, averaged over the judged queries. adi is tiny (82 documents): a smoke test, left out
of the target, which is searchkit >= the best other engine on cran, cisi and med for nDCG@10 and
MAP@100; a paired randomization test says how far each difference from the best other engine
could be chance. Indexes are built once into --workdir and reused; build times are shown only for
indexes built in this run.

The peers come from the bench extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The judged collections; $SEARCHKIT_IR points elsewhere (a worktree has no ../shared).
IR = Path(os.environ.get("SEARCHKIT_IR") or ROOT.parent / "shared" / "ir")
COLLECTIONS = ("adi", "cran", "cisi", "med")
TARGET_COLLECTIONS = ("cran", "cisi", "med")
sys.path.insert(0, str(ROOT))
from common import average_precision_at, ndcg_at  # noqa: E402

#: A ranking function: query text -> document ids, best first (at most 100).
Search = Callable[[str], list[str]]


# -- collections and measures ----------------------------------------------------------------


@dataclass(frozen=True)
class Collection:
    """A judged collection: documents, the queries that have judgements, graded judgements."""

    name: str
    docs: list[dict]
    queries: list[tuple[str, str]]
    qrels: dict[str, dict[str, int]]


def load_collection(name: str, root: Path = IR) -> Collection:
    """Read docs.jsonl, queries.tsv (id TAB text) and qrels.txt (TREC: qid 0 docid grade)."""
    folder = root / name
    with open(folder / "docs.jsonl", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels.txt", encoding="utf-8") as f:
        for line in f:
            qid, _, docid, grade = line.split()
            qrels.setdefault(qid, {})[docid] = int(grade)
    queries = []
    with open(folder / "queries.tsv", encoding="utf-8") as f:
        for line in f:
            qid, _, text = line.rstrip("\n").partition("\t")
            # Queries without a single relevant document cannot be scored (nDCG 0/0).
            if any(g > 0 for g in qrels.get(qid, {}).values()):
                queries.append((qid, text))
    return Collection(name, docs, queries, qrels)


def precision_at(ranked: list[str], grades: dict[str, int], k: int = 10) -> float:
    return sum(1 for d in ranked[:k] if grades.get(d, 0) > 0) / k


def recall_at(ranked: list[str], grades: dict[str, int], k: int = 100) -> float:
    relevant = sum(1 for g in grades.values() if g > 0)
    return sum(1 for d in ranked[:k] if grades.get(d, 0) > 0) / relevant if relevant else 0.0


MEASURES = {
    "nDCG@10": ndcg_at,
    "MAP@100": average_precision_at,
    "P@10": precision_at,
    "R@100": recall_at,
}


def per_query(collection: Collection, rankings: list[list[str]]) -> dict[str, list[float]]:
    """Each measure for each judged query (one ranking per query, in order)."""
    pairs = list(zip(collection.queries, rankings, strict=True))
    return {
        name: [measure(r, collection.qrels[qid]) for (qid, _), r in pairs]
        for name, measure in MEASURES.items()
    }


def evaluate(collection: Collection, rankings: list[list[str]]) -> dict[str, float]:
    """Each measure averaged over the judged queries (one ranking per query, in order)."""
    return {name: statistics.mean(v) for name, v in per_query(collection, rankings).items()}


def paired_p(ours: list[float], theirs: list[float], rounds: int = 10_000) -> float:
    """Two-sided p-value of a paired randomization test (random sign flips, fixed seed)."""
    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    observed = abs(sum(diffs))
    rng = random.Random(0)
    hits = sum(
        abs(sum(d if rng.random() < 0.5 else -d for d in diffs)) >= observed - 1e-12
        for _ in range(rounds)
    )
    return hits / rounds


# -- engines ---------------------------------------------------------------------------------
# Each engine builds (or reopens) its index of one collection under `path` and returns a
# search function. A `.complete` marker says a cached index was written to the end.


def _cached(path: Path) -> bool:
    if (path / ".complete").exists():
        return True
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return False


def searchkit_engine(docs: list[dict], path: Path) -> Search:
    from searchkit import Document, Index

    if not _cached(path):
        with Index(path) as ix:
            ix.add(Document(id=d["id"], title=d["title"], body=d["body"]) for d in docs)
        (path / ".complete").write_text("")
    ix = Index(path)
    return lambda text: [h.id for h in ix.search(text, limit=100, fragments=0).hits]


def whoosh_engine(docs: list[dict], path: Path) -> Search:
    from whoosh import fields, index, qparser
    from whoosh.analysis import StemmingAnalyzer

    if not _cached(path):
        schema = fields.Schema(
            id=fields.ID(stored=True),
            title=fields.TEXT(analyzer=StemmingAnalyzer()),
            body=fields.TEXT(analyzer=StemmingAnalyzer()),
        )
        wix = index.create_in(str(path), schema)
        with wix.writer() as writer:
            for d in docs:
                writer.add_document(id=d["id"], title=d["title"], body=d["body"])
        (path / ".complete").write_text("")
    wix = index.open_dir(str(path))
    searcher = wix.searcher()
    parser = qparser.MultifieldParser(["title", "body"], wix.schema, group=qparser.OrGroup)
    return lambda text: [h["id"] for h in searcher.search(parser.parse(text), limit=100)]


def tantivy_engine(docs: list[dict], path: Path) -> Search:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", tokenizer_name="en_stem")
    builder.add_text_field("body", tokenizer_name="en_stem")
    schema = builder.build()
    if not _cached(path):
        tix = tantivy.Index(schema, path=str(path))
        writer = tix.writer()
        for d in docs:
            writer.add_document(tantivy.Document(id=d["id"], title=d["title"], body=d["body"]))
        writer.commit()
        writer.wait_merging_threads()
        (path / ".complete").write_text("")
    tix = tantivy.Index(schema, path=str(path))
    tix.reload()
    searcher = tix.searcher()

    def search(text: str) -> list[str]:
        # Lenient: a question mark or a colon in a question is not a syntax error.
        query, _ = tix.parse_query_lenient(text, ["title", "body"])
        hits = searcher.search(query, limit=100).hits
        return [searcher.doc(address)["id"][0] for _, address in hits]

    return search


def bm25s_engine(docs: list[dict], path: Path) -> Search:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = [d["id"] for d in docs]
    if not _cached(path):
        corpus = [f"{d['title']} {d['body']}" for d in docs]
        retriever = bm25s.BM25()
        retriever.index(
            bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False),
            show_progress=False,
        )
        retriever.save(str(path))
        (path / ".complete").write_text("")
    retriever = bm25s.BM25.load(str(path), load_corpus=False)

    def search(text: str) -> list[str]:
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.vocab:  # only stop words
            return []
        k = min(100, len(ids))
        found, scores = retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        # bm25s fills the k places even with documents that share no word (score 0).
        return [ids[i] for i, s in zip(found[0], scores[0], strict=True) if s > 0]

    return search


def fts5_engine(docs: list[dict], path: Path) -> Search:
    db = path / "fts.sqlite"
    if not _cached(path):
        with sqlite3.connect(db) as conn:
            conn.execute(
                "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body,"
                " tokenize='porter unicode61')"
            )
            conn.executemany(
                "INSERT INTO docs VALUES (?, ?, ?)",
                ((d["id"], d["title"], d["body"]) for d in docs),
            )
        (path / ".complete").write_text("")
    conn = sqlite3.connect(db)

    def search(text: str) -> list[str]:
        # Each word quoted (FTS5 would read AND, NOT, `-`, `:` as syntax), then OR'ed.
        words = re.findall(r"\w+", text)
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        rows = conn.execute(
            "SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT 100", (match,)
        )
        return [row[0] for row in rows]

    return search


def proposal_engine(docs: list[dict], path: Path) -> Search:
    """The ranking proposed for issue 11, as bench/ranking_lab.py computes it (no index)."""
    import ranking_lab

    tokenised = ranking_lab.tokenise(docs, ranking_lab.PROPOSED)
    return lambda text: ranking_lab.rank(ranking_lab.PROPOSED, tokenised, text)


@dataclass(frozen=True)
class Engine:
    """A row of the table: its label, how to build it, and whether it is a peer (not ours)."""

    label: str
    build: Callable[[list[dict], Path], Search]
    peer: bool = True
    needs: tuple[str, ...] = ()  # modules from the bench extra

    def missing(self) -> list[str]:
        return [m for m in self.needs if importlib.util.find_spec(m) is None]


ENGINES = {
    "whoosh": Engine("plain Whoosh (OR)", whoosh_engine),
    "tantivy": Engine("tantivy (en_stem)", tantivy_engine, needs=("tantivy",)),
    "bm25s": Engine("bm25s (stemmer, stop words)", bm25s_engine, needs=("bm25s", "Stemmer")),
    "fts5": Engine("SQLite FTS5 (porter)", fts5_engine),
    "searchkit": Engine("searchkit", searchkit_engine, peer=False),
    "proposal": Engine(
        "proposed ranking (ranking_lab.py)",
        proposal_engine,
        peer=False,
        needs=("numpy", "bm25s", "Stemmer"),
    ),
}


@dataclass(frozen=True)
class Run:
    """One engine on one collection: the measures, build seconds (None: cached), ms a query."""

    measures: dict[str, float]
    build_s: float | None
    query_ms: float
    queries: dict[str, list[float]]  # each measure, query by query


def run_engine(engine: Engine, collection: Collection, path: Path) -> Run:
    cached = (path / ".complete").exists()
    started = time.perf_counter()
    search = engine.build(collection.docs, path)
    build_s = None if cached else time.perf_counter() - started
    started = time.perf_counter()
    rankings = [search(text) for _, text in collection.queries]
    query_ms = (time.perf_counter() - started) * 1000 / len(collection.queries)
    queries = per_query(collection, rankings)
    measures = {name: statistics.mean(v) for name, v in queries.items()}
    return Run(measures, build_s, query_ms, queries)


# -- report ----------------------------------------------------------------------------------


def print_collection(name: str, count: int, runs: dict[str, Run]) -> None:
    print(f"\n### {name} ({count} judged queries)\n")
    print("| engine | " + " | ".join(MEASURES) + " | build s | ms / query |")
    print("|---" * (len(MEASURES) + 3) + "|")
    for label, run in runs.items():
        cells = " | ".join(f"{run.measures[m]:.3f}" for m in MEASURES)
        build = "cached" if run.build_s is None else f"{run.build_s:.1f}"
        print(f"| {label} | {cells} | {build} | {run.query_ms:.1f} |")


def print_summary(table: dict[str, dict[str, Run]], engines: list[Engine]) -> None:
    names = [c for c in table if c in TARGET_COLLECTIONS]
    peers = [e.label for e in engines if e.peer]
    if not names or not peers:
        return
    print("\n### nDCG@10 / MAP@100 (best other engine in bold)\n")
    print("| engine | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    pairs = [(c, m) for c in names for m in ("nDCG@10", "MAP@100")]
    best = {(c, m): max(table[c][p].measures[m] for p in peers) for c, m in pairs}
    for engine in engines:
        cells = []
        for c in names:
            parts = []
            for m in ("nDCG@10", "MAP@100"):
                value = table[c][engine.label].measures[m]
                bold = engine.peer and value == best[(c, m)]
                parts.append(f"**{value:.3f}**" if bold else f"{value:.3f}")
            cells.append(" / ".join(parts))
        print(f"| {engine.label} | " + " | ".join(cells) + " |")
    print()
    for engine in engines:
        if engine.peer:
            continue
        missed = [
            f"{c} {m} {table[c][engine.label].measures[m]:.3f} < {best[(c, m)]:.3f}"
            for c, m in pairs
            if table[c][engine.label].measures[m] < best[(c, m)]
        ]
        verdict = "met" if not missed else "MISSED (" + "; ".join(missed) + ")"
        print(f"target {engine.label} >= best other engine, nDCG@10 and MAP@100: {verdict}")
        # Thirty med queries cannot tell a 0.01 difference from chance: say how sure each is.
        parts = []
        for c, m in pairs:
            ours = table[c][engine.label]
            peer = max(peers, key=lambda p, c=c, m=m: table[c][p].measures[m])
            diff = ours.measures[m] - table[c][peer].measures[m]
            p = paired_p(ours.queries[m], table[c][peer].queries[m])
            parts.append(f"{c} {m} {diff:+.3f} vs {peer} (p {p:.3f})")
        print("  paired randomization test: " + "; ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "searchkit-quality"
    )
    ap.add_argument("--collections", nargs="+", default=list(COLLECTIONS), choices=COLLECTIONS)
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--ir", type=Path, default=IR, help=f"judged collections (default {IR})")
    ap.add_argument("--rebuild", action="store_true", help="ignore cached indexes")
    args = ap.parse_args()
    if not args.ir.is_dir():
        sys.exit(f"{args.ir} not found: the benchmark needs the shared judged collections")
    if args.rebuild:
        shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, workdir {args.workdir}")
    engines = []
    for key in args.engines:
        missing = ENGINES[key].missing()
        if missing:
            print(
                f"{ENGINES[key].label}: skipped, {', '.join(missing)} not installed"
                " (pip install -e '.[bench]')"
            )
        else:
            engines.append(key)
    table: dict[str, dict[str, Run]] = {}
    for name in args.collections:
        collection = load_collection(name, args.ir)
        runs = {}
        for key in engines:
            engine = ENGINES[key]
            runs[engine.label] = run_engine(engine, collection, args.workdir / f"{name}-{key}")
        table[name] = runs
        print_collection(name, len(collection.queries), runs)
    print_summary(table, [ENGINES[key] for key in engines])


if __name__ == "__main__":
    main()
