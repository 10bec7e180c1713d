"""HTML article bodies: what searchkit indexes from real web pages, against the true article.

    .venv/bin/python bench/formats_bench.py [--pages DIR] [--truth FILE] [--workers N]

The pages are ../shared/corpora/html-articles (121 real news and blog pages, gzipped, with the
true article body of each in ground-truth.json, from the article-extraction benchmark). The
measure is that benchmark's: shingle F1 over 4-grams of `\\w+` tokens, precision and recall
averaged per page (../shared/tools/shingle_f1.py).

- searchkit: the pages indexed as they are (`Index.update` on the folder of `.html.gz` files),
  then each page's body as `searchkit show --format json` prints it;
- trafilatura's default: `trafilatura.extract(html)` on the same bytes.

searchkit's extraction options were chosen on the "tuned" pages only (those whose key starts
with 0-7); the "unseen" pages (8-f) were never looked at while choosing. Pages/s: searchkit's
whole indexing run (decompress, extract, index, commit) and trafilatura's extraction alone.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PAGES = SHARED / "corpora" / "html-articles" / "pages"
TRUTH = SHARED / "corpora" / "html-articles" / "ground-truth.json"
MEASURE = SHARED / "tools" / "shingle_f1.py"


def load_measure():
    """The benchmark's own `score(pairs) -> (f1, precision, recall)`."""
    spec = importlib.util.spec_from_file_location("shingle_f1", MEASURE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.score


def tuned(key: str) -> bool:
    """The pages the extraction options were chosen on."""
    return key[0] < "8"


def searchkit_bodies(pages: Path, keys: list[str], workers: int | None) -> tuple[dict, float]:
    """Each page's body through searchkit's index, and the seconds the indexing run took."""
    from click.testing import CliRunner

    from searchkit import Index
    from searchkit.cli import cli

    with tempfile.TemporaryDirectory() as work:
        index_path = Path(work) / "index"
        started = time.perf_counter()
        with Index(index_path) as index:
            report = index.update([pages], workers=workers)
        seconds = time.perf_counter() - started
        for problem in report.problems:
            print(f"  {'skipped' if problem.skipped else 'warning'}: {problem}")
        runner = CliRunner()
        bodies = {}
        for key in keys:
            result = runner.invoke(
                cli, ["show", f"{key}.html.gz", "--format", "json", "--index", str(index_path)]
            )
            bodies[key] = json.loads(result.stdout)["body"] if result.exit_code == 0 else ""
    return bodies, seconds


def trafilatura_bodies(pages: Path, keys: list[str]) -> tuple[dict, float]:
    """Each page's text by trafilatura's defaults, and the seconds extraction took."""
    import trafilatura

    data = {key: gzip.decompress((pages / f"{key}.html.gz").read_bytes()) for key in keys}
    started = time.perf_counter()
    bodies = {key: trafilatura.extract(html) or "" for key, html in data.items()}
    return bodies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=Path, default=PAGES)
    parser.add_argument("--truth", type=Path, default=TRUTH)
    parser.add_argument("--workers", type=int, default=None, help="indexing processes")
    args = parser.parse_args()
    score = load_measure()
    truth = json.loads(args.truth.read_text(encoding="utf-8"))
    keys = sorted(truth)
    groups = {
        "tuned": [k for k in keys if tuned(k)],
        "unseen": [k for k in keys if not tuned(k)],
        "all": keys,
    }
    import trafilatura

    print(f"{len(keys)} pages, {os.cpu_count()} cores, trafilatura {trafilatura.__version__}")
    ours, our_seconds = searchkit_bodies(args.pages, keys, args.workers)
    theirs, their_seconds = trafilatura_bodies(args.pages, keys)
    print()
    print("| extraction | pages | F1 | precision | recall |")
    print("|---|---:|---:|---:|---:|")
    for name, bodies in (("searchkit (index, show)", ours), ("trafilatura default", theirs)):
        for group, members in groups.items():
            f1, precision, recall = score((truth[k]["articleBody"], bodies[k]) for k in members)
            row = f"{name}, {group} | {len(members)} | {f1:.3f} | {precision:.3f} | {recall:.3f}"
            print(f"| {row} |")
    print()
    print(
        f"searchkit: {len(keys) / our_seconds:.1f} pages/s indexed ({our_seconds:.1f} s for "
        f"{len(keys)}, gzip, extraction, indexing and commit); trafilatura alone: "
        f"{len(keys) / their_seconds:.1f} pages/s extracted"
    )


if __name__ == "__main__":
    main()
