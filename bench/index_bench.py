"""Indexing benchmark: searchkit against plain Whoosh defaults, side by side in one run.

    .venv/bin/python bench/index_bench.py [--corpus reuters|20news|all] [--repeat N]

For each corpus: full build time and its ratio to plain Whoosh defaults (one writer,
StemmingAnalyzer, the same fields done the stock Whoosh way; and a minimal plain schema without
spelling and date facets, as a lower bound), a no-change re-run, adding 1% new documents to an
index of the other 99% (as a new file, and for Reuters also appended to the same JSON Lines
file), and the peak RSS of each build. Every measurement runs in a fresh child process so that
memory and caches do not leak from one to the next; figures are medians over --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPORA = {
    "reuters": SHARED / "corpora" / "reuters21578" / "reuters.jsonl",
    "20news": SHARED / "corpora" / "20news",
}
sys.path.insert(0, str(ROOT))


# -- children: one measurement each, printing a JSON line ----------------------------------


def child_build_searchkit(corpus: str, index: str, workers: int | None) -> dict:
    from searchkit import Index

    started = time.perf_counter()
    with Index(index) as ix:
        report = ix.update([corpus], workers=workers)
    return {"seconds": time.perf_counter() - started, "documents": report.documents}


def child_update_searchkit(corpus: str, index: str) -> dict:
    from searchkit import Index

    started = time.perf_counter()
    with Index(index) as ix:
        report = ix.update([corpus])
    return {
        "seconds": time.perf_counter() - started,
        "added": report.added,
        "unchanged": report.unchanged,
    }


def _corpus_files(corpus: str):
    from searchkit.corpus import resolve_roots, scan

    files, _ = scan(resolve_roots([corpus]))
    return files


def child_build_plain(corpus: str, index: str, variant: str) -> dict:
    """Plain Whoosh defaults: one writer, StemmingAnalyzer, Whoosh's stock features.

    `same-fields`: the fields searchkit indexes (full text with accent folding and spelling,
    date start and end, year/month/day columns, metadata keywords), each the stock Whoosh way.
    `minimal`: id, path, title, body, date and metadata keywords only: a lower bound.
    """
    from whoosh import index as whoosh_index
    from whoosh.analysis import CharsetFilter, StemmingAnalyzer
    from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
    from whoosh.support.charset import accent_map

    from searchkit.readers import parse_file

    started = time.perf_counter()
    full = variant == "same-fields"
    analyzer = StemmingAnalyzer() | CharsetFilter(accent_map) if full else StemmingAnalyzer()
    fields = {
        "id": ID(stored=True, unique=True, sortable=full),
        "path": ID(stored=True),
        "title": TEXT(analyzer=analyzer, stored=True, field_boost=2.0, spelling=full),
        "body": TEXT(analyzer=analyzer, stored=True, spelling=full),
        "date": DATETIME(stored=True, sortable=full),
        "meta": STORED(),
    }
    if full:
        fields.update(
            date_end=DATETIME(),
            year=ID(sortable=True),
            month=ID(sortable=True),
            day=ID(sortable=True),
        )
    schema = Schema(**fields)
    schema.add("*", KEYWORD(stored=False, commas=True, lowercase=True), glob=True)
    os.makedirs(index, exist_ok=True)
    ix = whoosh_index.create_in(index, schema)
    writer = ix.writer()
    count = 0
    for cf in _corpus_files(corpus):
        data = Path(cf.path).read_bytes()
        result = parse_file(data, path=cf.path, id_base=cf.id_base, folder=cf.folder)
        for doc in result.documents:
            values = {"id": doc.id, "path": doc.path, "title": doc.title, "body": doc.body}
            values["meta"] = {k: list(v) for k, v in doc.fields.items()}
            if doc.date is not None:
                values["date"] = doc.date.start
                if full:
                    values["date_end"] = doc.date.end
                    values["year"] = doc.date.year_key
                    if doc.date.month_key:
                        values["month"] = doc.date.month_key
                    if doc.date.day_key:
                        values["day"] = doc.date.day_key
            for name, vals in doc.fields.items():
                values[name] = ",".join(v.replace(",", " ") for v in vals)
            writer.add_document(**values)
            count += 1
    writer.commit()
    return {"seconds": time.perf_counter() - started, "documents": count}


def run_child(*args: str) -> dict:
    """Run one measurement in a fresh interpreter: its JSON result with its peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- preparing corpora for the 1% update ---------------------------------------------------


def split_reuters(src: Path, work: Path) -> tuple[Path, list[str]]:
    """A copy of Reuters without its last 1% of lines (returned separately)."""
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = len(lines) - max(1, len(lines) // 100)
    folder = work / "reuters"
    folder.mkdir(parents=True)
    (folder / "reuters.jsonl").write_text("".join(lines[:cut]), encoding="utf-8")
    return folder, lines[cut:]


def split_folder(src: Path, work: Path) -> tuple[Path, list[Path]]:
    """A copy of a folder corpus without 1% of its files (returned as paths to copy later)."""
    folder = work / src.name
    files = sorted(p for p in src.rglob("*") if p.is_file())
    held_back = set(files[::100])
    for p in files:
        if p in held_back:
            continue
        target = folder / p.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)
    return folder, sorted(held_back)


# -- the benchmark -------------------------------------------------------------------------


def measure(name: str, corpus: Path, repeat: int, workers: int | None) -> dict:
    figures: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    docs = {}

    def note(key: str, result: dict) -> None:
        figures.setdefault(key, []).append(result["seconds"])
        rss.setdefault(key, []).append(max(result["peak_rss_mb"], result["worker_rss_mb"]))

    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="skbench-") as tmp:
            work = Path(tmp)
            # Side by side: plain Whoosh and searchkit on the same input, in the same run.
            plain = run_child("build-plain", str(corpus), str(work / "plain"), "same-fields")
            note("plain full build", plain)
            minimal = run_child("build-plain", str(corpus), str(work / "min"), "minimal")
            note("plain minimal full build", minimal)
            wk = str(workers or 0)
            ours = run_child("build-searchkit", str(corpus), str(work / "sk"), wk)
            note("searchkit full build", ours)
            docs = {"plain": plain["documents"], "searchkit": ours["documents"]}
            # What the second core buys: the same build with one process.
            note(
                "searchkit full build, 1 process",
                run_child("build-searchkit", str(corpus), str(work / "sk1"), "1"),
            )
            note("searchkit no-change re-run", run_child("update", str(corpus), str(work / "sk")))

            if corpus.is_file():
                base, extra_lines = split_reuters(corpus, work)
                run_child("build-searchkit", str(base), str(work / "sk99"), wk)
                (base / "new.jsonl").write_text("".join(extra_lines), encoding="utf-8")
                note(
                    "searchkit add 1% (new file)",
                    run_child("update", str(base), str(work / "sk99")),
                )
                (base / "new.jsonl").unlink()
                run_child("update", str(base), str(work / "sk99"))
                with open(base / "reuters.jsonl", "a", encoding="utf-8") as f:
                    f.write("".join(extra_lines))
                note(
                    "searchkit add 1% (appended)",
                    run_child("update", str(base), str(work / "sk99")),
                )
            else:
                base, held_back = split_folder(corpus, work)
                run_child("build-searchkit", str(base), str(work / "sk99"), wk)
                for p in held_back:
                    target = base / p.relative_to(corpus)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(p, target)
                note(
                    "searchkit add 1% (new files)",
                    run_child("update", str(base), str(work / "sk99")),
                )

    med = {k: statistics.median(v) for k, v in figures.items()}
    full = med["searchkit full build"]
    print(f"\n## {name}: {docs.get('searchkit')} documents (plain Whoosh: {docs.get('plain')})")
    print("peak RSS: the largest single process (the indexer or one of its workers)")
    print(f"{'measurement':34} {'median s':>9} {'ratio':>28} {'peak RSS MB':>12}")
    for key, seconds in med.items():
        if key == "searchkit full build":
            ratio = f"{med['plain full build'] / seconds:.2f}x faster than plain"
        elif key == "searchkit full build, 1 process":
            ratio = f"parallel build {seconds / full:.2f}x faster"
        elif key == "plain minimal full build":
            ratio = f"searchkit {seconds / full:.2f}x faster"
        elif key.startswith("searchkit add"):
            ratio = f"{100 * seconds / full:.1f}% of a full build"
        else:
            ratio = ""
        peak = f"{statistics.median(rss[key]):.0f}" if key in rss else "-"
        print(f"{key:34} {seconds:9.2f} {ratio:>28} {peak:>12}")
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=["reuters", "20news", "all"], default="all")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "build-searchkit":
            workers = int(rest[2]) or None
            result = child_build_searchkit(rest[0], rest[1], workers)
        elif kind == "update":
            result = child_update_searchkit(rest[0], rest[1])
        else:
            result = child_build_plain(rest[0], rest[1], rest[2])
        # Peak RSS of this process and, separately, of the largest worker it started (KiB).
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["worker_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps(result))
        return
    if not SHARED.exists():
        sys.exit("../shared (real corpora) is not present: nothing to benchmark")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, repeat={args.repeat}")
    names = ["reuters", "20news"] if args.corpus == "all" else [args.corpus]
    for name in names:
        measure(name, CORPORA[name], args.repeat, args.workers)


if __name__ == "__main__":
    main()
