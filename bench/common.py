"""What the benchmarks share: the Reuters index they search, title-word queries, and the
ranking measures (nDCG, average precision) of the judged collections."""

from __future__ import annotations

import math
import random
import re
import shutil
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REUTERS = ROOT.parent / "shared" / "corpora" / "reuters21578" / "reuters.jsonl"


def searchkit_reuters(workdir: Path, reuters: Path = REUTERS) -> Path:
    """A searchkit index of Reuters-21578 in `workdir`, built once (a marker says complete)."""
    from searchkit import Index

    path = workdir / "reuters-searchkit"
    marker = path / ".complete"
    if not marker.exists():
        shutil.rmtree(path, ignore_errors=True)
        print(f"building the searchkit index of {reuters.name} in {path} ...", flush=True)
        started = time.perf_counter()
        with Index(path) as ix:
            ix.update([reuters])
        marker.write_text("")
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    return path


def title_queries(titles: list[str], count: int, seed: int, stop: frozenset[str]) -> list[str]:
    """`count` queries of 1-3 consecutive title words (3+ letters, no stop words)."""
    rng = random.Random(seed)
    queries: list[str] = []
    while len(queries) < count:
        words = [w.lower() for w in re.findall(r"[A-Za-z]{3,}", rng.choice(titles))]
        words = [w for w in words if w not in stop]
        if not words:
            continue
        n = rng.randint(1, min(3, len(words)))
        start = rng.randint(0, len(words) - n)
        queries.append(" ".join(words[start : start + n]))
    return queries


def ndcg_at(ranked: list[str], grades: dict[str, int], k: int = 10) -> float:
    """nDCG with linear gains (the relevance grade) and a log2 discount."""
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def average_precision_at(ranked: list[str], grades: dict[str, int], k: int = 100) -> float:
    """Average precision over the first k, divided by every relevant document (trec_eval's)."""
    relevant = sum(1 for g in grades.values() if g > 0)
    found, total = 0, 0.0
    for i, d in enumerate(ranked[:k]):
        if grades.get(d, 0) > 0:
            found += 1
            total += found / (i + 1)
    return total / relevant if relevant else 0.0


def summary(times_ms: list[float]) -> dict:
    """p50, p95 and count of a list of timings."""
    ordered = sorted(times_ms)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "n": len(ordered),
    }
