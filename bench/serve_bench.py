"""`searchkit serve` benchmark: page and API latency under 4 concurrent clients, and the
command line with and without a server, on Reuters-21578.

    .venv/bin/python bench/serve_bench.py [--workdir DIR] [--seconds 20] [--clients 4]
                                          [--cli-runs 10]

Starts `searchkit serve --port 0` on an index of ../shared/corpora/reuters21578/reuters.jsonl
(built once into --workdir), then:

- for --seconds, --clients threads each loop over 200 title-word queries, asking in turn the
  page (`/?q=...`: hits, snippets, the default facets, the year bars) and the API
  (`/api/search?q=...&facet=topics`); p50/p95 per kind and the number of errors (any answer
  but 200) are reported;
- `searchkit search Q` end to end (process start included) for --cli-runs queries, once with
  `SEARCHKIT_WARM=0` (the command opens the index itself, as without a server) and once asking
  the server; p50/p95 of each, and the ratio.

Prints a markdown table; everything measured goes to bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from common import REUTERS, ROOT, searchkit_reuters, summary, title_queries

RESULTS = ROOT / "bench" / "results" / "serve.json"
STOP = frozenset("the and for with from that this are was its has have will into over says".split())


def load_titles(limit: int = 5000) -> list[str]:
    titles = []
    with open(REUTERS, encoding="utf-8") as f:
        for line in f:
            title = json.loads(line).get("title")
            if title:
                titles.append(title)
            if len(titles) >= limit:
                break
    return titles


def start_server(index: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "searchkit", "serve", "--index", str(index), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=workdir,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        raise SystemExit("searchkit serve did not start")
    return process, url


def load(url: str, queries: list[str], seconds: float, clients: int) -> dict:
    """Each client asks the page and the API in turn until the time is up."""
    times: dict[str, list[float]] = {"page": [], "api": []}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        i, asked = n, 0
        while time.monotonic() < deadline:
            q = queries[i % len(queries)]
            kind = "page" if (n + asked) % 2 == 0 else "api"
            asked += 1
            target = (
                f"{url}?{urlencode({'q': q})}"
                if kind == "page"
                else f"{url}api/search?{urlencode({'q': q, 'facet': 'topics'})}"
            )
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(target, timeout=60) as response:
                    response.read()
                    ok = response.status == 200
            except OSError as exc:
                ok = False
                with lock:
                    errors.append(f"{target}: {exc}")
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if ok:
                    times[kind].append(elapsed)
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "page": summary(times["page"]),
        "api": summary(times["api"]),
        "errors": len(errors),
        "first_errors": errors[:5],
    }


def cli_times(index: Path, workdir: Path, queries: list[str], warm: bool) -> list[float]:
    env = dict(os.environ, NO_COLOR="1", SEARCHKIT_WARM="1" if warm else "0")
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    times = []
    for q in queries:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "searchkit", "search", q, "--index", str(index)],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "serve-bench")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--cli-runs", type=int, default=10)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    index = searchkit_reuters(args.workdir, REUTERS)
    queries = title_queries(load_titles(), 200, seed=12, stop=STOP)
    load_avg = os.getloadavg()[0]
    process, url = start_server(index, args.workdir)
    try:
        urllib.request.urlopen(f"{url}?q=oil", timeout=120).read()  # opens the searcher
        measured = load(url, queries, args.seconds, args.clients)
        cli_queries = queries[: args.cli_runs]
        cli_times(index, args.workdir, cli_queries[:1], warm=False)  # bytecode cached first
        cold = cli_times(index, args.workdir, cli_queries, warm=False)
        warm = cli_times(index, args.workdir, cli_queries, warm=True)
    finally:
        process.terminate()
        process.wait(30)
    measured["cli_cold"] = summary(cold)
    measured["cli_warm"] = summary(warm)
    measured["load_average"] = load_avg
    measured["clients"] = args.clients
    measured["seconds"] = args.seconds
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    p, a, c, w = (measured[k] for k in ("page", "api", "cli_cold", "cli_warm"))
    print(
        f"\nReuters-21578, {args.clients} clients for {args.seconds:g} s "
        f"(load average {load_avg:.1f}), {measured['errors']} errors\n"
    )
    print("| | p50 | p95 | requests |")
    print("|---|---:|---:|---:|")
    print(f"| page `/?q=...` | {p['p50']:.0f} ms | {p['p95']:.0f} ms | {p['n']} |")
    print(
        f"| API `/api/search?q=...&facet=topics` | {a['p50']:.0f} ms | {a['p95']:.0f} ms "
        f"| {a['n']} |"
    )
    print(
        f"| `searchkit search` without a server | {c['p50']:.0f} ms | {c['p95']:.0f} ms "
        f"| {c['n']} |"
    )
    print(
        f"| `searchkit search` with the server | {w['p50']:.0f} ms | {w['p95']:.0f} ms | {w['n']} |"
    )
    print(f"\nCLI with the server: {w['p50'] / c['p50']:.2f}x the time without (p50)")


if __name__ == "__main__":
    main()
