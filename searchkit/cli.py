"""The `searchkit` command line: each command parses options, makes one library call, prints.

Exit codes: 0 success (a search found something; also a reader that closed the pipe early),
1 a search found nothing, 2 an error (bad option, bad query, missing corpus or index), 3 the
index is locked by another writer, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM, `index`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
from dataclasses import asdict

import click

from .corpus import DEFAULT_MAX_FILE_SIZE
from .errors import IndexLocked, SearchkitError
from .index import INDEX_ENV, Index, default_index_path

EXIT_NO_MATCH = 1
EXIT_ERROR = 2
EXIT_LOCKED = 3
#: `index` could not read every place (a vanished root, a folder without permission); what
#: those places held stays indexed.
EXIT_PARTIAL = 4
#: 128 + the signal number, as shells report a command that a signal ended.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM

#: What an interrupted `index` has written, from how the indexer writes (indexer.py): a run
#: commits once, at its end (a rebuild writes a new generation and swaps it in at its end), and
#: a write that is interrupted is abandoned and its files removed. Only an interrupt in the last
#: moments, after the commit's table of contents is renamed into place, finds it committed.
INTERRUPTED_INDEX = (
    "interrupted: nothing from this run was committed, unless the interrupt came during its "
    "final commit (then all of it was); the index is intact: run searchkit index to finish"
)
INTERRUPTED_DRY_RUN = "interrupted: nothing was written (dry run)"


class SearchkitClickError(click.ClickException):
    """A library error at the CLI edge: one line, an exit code chosen by the error's kind."""

    def __init__(self, error: SearchkitError) -> None:
        message = str(error)
        if error.hint:
            message += f" (hint: {error.hint})"
        super().__init__(message)
        self.exit_code = EXIT_LOCKED if isinstance(error, IndexLocked) else EXIT_ERROR


def library_errors(func):
    """Turn `SearchkitError` into a one-line message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SearchkitError as exc:
            raise SearchkitClickError(exc) from None

    return wrapper


class Signalled(KeyboardInterrupt):
    """SIGINT or SIGTERM during `index`: a KeyboardInterrupt, so that the write in hand is
    abandoned (and its files removed) exactly as after Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def signals_interrupt():
    """For the block, SIGINT and SIGTERM raise `Signalled` in this process.

    Worker processes forked meanwhile inherit the handler: there SIGINT (which Ctrl-C sends to
    the whole process group) is ignored, since the parent abandons the work and ends them, and
    SIGTERM (how the parent's pool ends them) ends them at once, without a traceback.
    """
    owner = os.getpid()

    def handler(signum, frame) -> None:
        if os.getpid() == owner:
            raise Signalled(signum)
        if signum == signal.SIGTERM:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


def _interrupted_exit_code(exc: KeyboardInterrupt) -> int:
    if isinstance(exc, Signalled) and exc.signum == signal.SIGTERM:
        return EXIT_TERMINATED
    return EXIT_INTERRUPTED


def _silence_output() -> None:
    """After a closed pipe: point stdout and stderr at /dev/null, so that flushing what is still
    buffered (at exit too) cannot fail again (the Python documentation's advice for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            try:
                fd = stream.fileno()
            except (AttributeError, OSError, ValueError):
                continue  # an in-memory stream (click's CliRunner): nothing to protect
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class SearchkitGroup(click.Group):
    """The command group, with one policy for every command: Ctrl-C exits 130 without
    click's `Aborted!` (exit 1, which means "found nothing" here), and a reader that closed the
    pipe early (`| head`) ends the command quietly with exit 0 (click would exit 1)."""

    def invoke(self, ctx: click.Context):
        """Run the command under that policy."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise click.exceptions.Exit(_interrupted_exit_code(exc)) from None
        except BrokenPipeError:
            _silence_output()
            raise click.exceptions.Exit(0) from None


def index_option(func):
    """`--index DIR`, also from `$SEARCHKIT_INDEX`."""
    return click.option(
        "--index",
        "index_path",
        envvar=INDEX_ENV,
        default=default_index_path,
        show_default="index/ or $SEARCHKIT_INDEX",
        type=click.Path(file_okay=False),
        help="Index directory.",
    )(func)


def parse_size(text: str) -> int:
    """`100M`, `2G`, `5000` -> bytes."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
    raw = text.strip().upper().removesuffix("B")
    unit = raw[-1:] if raw[-1:] in units else ""
    number = raw[: len(raw) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise click.BadParameter(f"not a size: {text!r} (try 100M)") from None
    if value <= 0:
        raise click.BadParameter(f"size must be positive: {text!r}")
    return int(value * units[unit])


class _Progress:
    """A progress bar on stderr per phase, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.phase = None
        self.shown = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase = phase
            self.bar = click.progressbar(length=total, label=phase.ljust(8), file=sys.stderr)
            self.bar.__enter__()
            self.shown = 0
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _log(message: str) -> None:
    """A line on stderr from inside library work (a warning, a batch done).

    If the reader of stderr has left (`2>&1 | head`), the work goes on with its output sent to
    /dev/null: a closed pipe must not abandon an index update half-way and call it a success.
    """
    try:
        click.echo(message, err=True)
    except BrokenPipeError:
        _silence_output()


def _echo_problem(problem) -> None:
    kind = "skipped" if problem.skipped else "warning"
    _log(f"{kind}: {problem}")


@click.group(
    cls=SearchkitGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="searchkit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Full-text search for a folder of news articles."""
    if ctx.invoked_subcommand is None:
        # Bare `searchkit` asks what it can do: the help, and success (click would exit 2).
        click.echo(ctx.get_help())


@cli.command("index", short_help="Index corpus folders and files; again to sync changes.")
@click.argument("paths", nargs=-1, type=click.Path())
@index_option
@click.option("--rebuild", is_flag=True, help="Build a new index beside the live one, then swap.")
@click.option("--dry-run", is_flag=True, help="List what would change; write nothing.")
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds to wait for another writer.",
)
@click.option(
    "--max-size",
    default=f"{DEFAULT_MAX_FILE_SIZE // 1024**2}M",
    show_default=True,
    help="Skip files larger than this (e.g. 50M).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes for reading and writing [default: one per core, up to 4].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary as text (stderr) or JSON (stdout).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
@library_errors
def index_command(paths, index_path, rebuild, dry_run, lock_timeout, max_size, workers, fmt, quiet):
    """Index corpus folders and files (default: the index's recorded roots, else corpus/).

    Run it again after articles arrive, change or disappear: only those are touched.
    """
    max_file_size = parse_size(max_size)
    progress = _Progress(enabled=not quiet and sys.stderr.isatty())
    index = Index(index_path, lock_timeout=lock_timeout)
    try:
        try:
            with signals_interrupt():
                report = index.update(
                    list(paths) or None,
                    rebuild=rebuild,
                    dry_run=dry_run,
                    max_file_size=max_file_size,
                    workers=workers,
                    progress=progress,
                    on_problem=None if quiet and fmt == "text" else _echo_problem,
                )
        finally:
            progress.close()
    except KeyboardInterrupt as exc:
        code = _interrupted_exit_code(exc)
        if code == EXIT_INTERRUPTED and progress.phase is None and sys.stderr.isatty():
            click.echo(err=True)  # below the terminal's ^C, as no progress bar ended the line
        click.echo(INTERRUPTED_DRY_RUN if dry_run else INTERRUPTED_INDEX, err=True)
        raise click.exceptions.Exit(code) from None
    _finish_update(report, fmt=fmt, quiet=quiet, dry_run=dry_run)


def _finish_update(report, *, fmt: str, quiet: bool, dry_run: bool = False) -> None:
    """Print an update's report; a partial run (places unavailable) exits `EXIT_PARTIAL`."""
    if fmt == "json":
        data = asdict(report)
        data["problems"] = [asdict(p) for p in report.problems]
        click.echo(json.dumps(data, indent=2))
    else:
        if dry_run:
            for path in report.changed_files:
                click.echo(f"changed  {_display(path)}")
            for path in report.deleted_files:
                click.echo(f"deleted  {_display(path)}")
        if not quiet:
            click.echo(f"{report.summary()} in {report.seconds:.2f}s", err=True)
    if report.partial:
        raise click.exceptions.Exit(EXIT_PARTIAL)


@cli.command("forget", short_help="Drop corpus roots and their documents from the index.")
@click.argument("roots", nargs=-1, required=True, type=click.Path())
@index_option
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds to wait for another writer.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary as text (stderr) or JSON (stdout).",
)
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@library_errors
def forget_command(roots, index_path, lock_timeout, fmt, quiet):
    """Stop indexing corpus roots: their documents leave the index, later runs skip them.

    A root that is missing or unreadable for a while keeps its documents (`searchkit index`
    exits 4 and names it); forgetting it is this explicit step.
    """
    report = Index(index_path, lock_timeout=lock_timeout).forget(list(roots))
    _finish_update(report, fmt=fmt, quiet=quiet)


@cli.command("stats", short_help="Documents, dates, fields, size and roots of the index.")
@index_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for programs.",
)
@library_errors
def stats_command(index_path, fmt):
    """Document count, date span, facet fields, size, segments, roots, last update."""
    with Index.open(index_path) as index:
        stats = index.stats()
    if fmt == "json":
        data = asdict(stats)
        data["last_update"] = stats.last_update.isoformat() if stats.last_update else None
        data["fields"] = {f.name: f.distinct for f in stats.fields}
        click.echo(json.dumps(data, indent=2))
        return
    span = f"{stats.earliest} .. {stats.latest}" if stats.earliest else "no dated documents"
    updated = stats.last_update.strftime("%Y-%m-%d %H:%M:%S UTC") if stats.last_update else "-"
    lines = [
        f"index       {_display(stats.path)} ({stats.generation})",
        f"documents   {stats.documents:,}",
        f"dates       {span}",
        f"size        {stats.size_bytes / 1024**2:.1f} MiB in {stats.segments} segment(s)",
        f"updated     {updated}",
        "roots       " + (", ".join(_display(r) for r in stats.roots) or "-"),
        "fields      " + (", ".join(f"{f.name} ({f.distinct:,})" for f in stats.fields) or "-"),
    ]
    click.echo("\n".join(lines))


@cli.command("watch", short_help="Keep the index in step with the corpus until stopped.")
@click.argument("paths", nargs=-1, type=click.Path())
@index_option
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds without new file events before a batch is indexed.",
)
@click.option("--poll", is_flag=True, help="Poll the folders instead of using native events.")
@click.option("-q", "--quiet", is_flag=True, help="No log lines; errors only.")
@library_errors
def watch_command(paths, index_path, delay, poll, quiet):
    """Keep the index in step with the corpus until stopped (Ctrl-C or SIGTERM).

    Catches up first, then indexes each burst of new, changed and deleted files once it has
    settled, one batch and one log line at a time. A second Ctrl-C quits at once.
    """
    import signal
    import warnings
    from datetime import datetime

    from .watch import Watcher

    # watchdog 7 warns, harmlessly, when a new folder is watched by two of its own paths at once.
    warnings.filterwarnings("ignore", "Callback with id", RuntimeWarning, "watchdog")

    def log_batch(report) -> None:
        when = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        _log(f"{when} {report.summary()} in {report.seconds:.2f}s")

    def log_error(error) -> None:
        _log(f"warning: {error}; will retry")

    watcher = Watcher(
        Index(index_path),
        list(paths) or None,
        delay=delay,
        poll=poll,
        on_batch=None if quiet else log_batch,
        on_problem=None if quiet else _echo_problem,
        on_error=log_error,
    )

    def stop(signum, frame) -> None:
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_DFL)  # the next one ends the process at once
        watcher.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    watcher.start()
    if watcher.watching and not quiet:
        roots = ", ".join(_display(r) for r in watcher.roots)
        click.echo(f"watching {roots} with {watcher.method}, delay {delay:g}s", err=True)
    watcher.join()


# -- searching -------------------------------------------------------------------------------

#: `--sort` values (searchkit.search.SORTS; repeated here so that `index` and `stats` do not
#: import the search modules).
SORT_CHOICES = ("relevance", "date", "-date")
_MARK = ("\x1b[1;31m", "\x1b[0m")


def output_format_option(*choices: str):
    """`--format` with the given choices, `text` first and default."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="text for people, json (one object) or jsonl (one hit a line) for programs.",
    )


def _use_color() -> bool:
    """ANSI colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _echo_results(results, fmt: str, *, explain: bool = False) -> None:
    for note in results.notes:
        click.echo(f"note: {note}", err=True)
    if fmt == "json":
        click.echo(json.dumps(results.as_dict(), ensure_ascii=False, indent=2))
    elif fmt == "jsonl":
        for hit in results.hits:
            click.echo(json.dumps(hit.as_dict(), ensure_ascii=False))
        if results.suggestion:
            click.echo(f"did you mean: {results.suggestion}", err=True)
    else:
        click.echo(_format_results(results, color=_use_color(), explain=explain))


def _format_results(results, *, color: bool, explain: bool) -> str:
    before, after = _MARK if color else ("[", "]")
    lines = []
    if explain:
        lines += [f"query: {results.query}", ""]
    width = len(str(results.hits[-1].rank)) if results.hits else 1
    for hit in results.hits:
        title = hit.title or "(no title)"
        if color:
            title = click.style(title, bold=True)
        lines.append(f"{hit.rank:>{width}}. {(hit.date or '-')[:10]:<10}  {title}")
        indent = " " * (width + 2)
        source = f"{hit.id}  {_display(hit.path)}" if hit.path else hit.id
        lines.append(f"{indent}{source}  score {hit.score:.2f}")
        if hit.snippet.text:
            lines.append(indent + hit.snippet.marked(before, after))
        for part in hit.explanation:
            lines.append(
                f"{indent}  {part.score:8.4f}  {part.field}:{part.term}  "
                f"(frequency {part.frequency:g})"
            )
        lines.append("")
    for name, counts in results.facets.items():
        values = ", ".join(f"{c.value} {c.count}" for c in counts) or "-"
        lines.append(f"{name}: {values}")
    if results.facets:
        lines.append("")
    if results.suggestion:
        lines.append(f"did you mean: {results.suggestion}")
    millis = results.seconds * 1000
    if results.total == 0:
        lines.append(f"no hits ({millis:.1f} ms)")
    elif results.hits:
        first, last = results.hits[0].rank, results.hits[-1].rank
        noun = "hit" if results.total == 1 else "hits"
        lines.append(f"{results.total:,} {noun}, showing {first}-{last} ({millis:.1f} ms)")
    else:
        lines.append(f"{results.total:,} hits, none on page {results.page} ({millis:.1f} ms)")
    return "\n".join(lines)


@cli.command("search", short_help="Search the index (exit 1 when nothing matches).")
@click.argument("query", nargs=-1, required=True)
@index_option
@click.option("--since", metavar="DATE", help="From this date: 2020, 2020-03, 'march 2020', 7d.")
@click.option("--until", metavar="DATE", help="Up to this date, inclusive (2020-03: all March).")
@click.option(
    "--where",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Only documents with this metadata value (repeatable; one field's values OR'ed).",
)
@click.option(
    "--facet",
    "facets",
    multiple=True,
    metavar="FIELD",
    help="Count matches per value: topics, places, folder, year, month, day... (repeatable).",
)
@click.option(
    "--facet-limit",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Values shown per facet, most frequent first (0: all); year/month/day show all.",
)
@click.option(
    "--sort",
    type=click.Choice(SORT_CHOICES),
    default="relevance",
    show_default=True,
    help="Order of hits: best match first, oldest first (date) or newest first (-date).",
)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Hits per page.",
)
@click.option(
    "--page",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Page of hits to show (with -n 10, page 2 is hits 11-20).",
)
@click.option(
    "--fragments",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Snippet fragments per hit (0: none).",
)
@click.option("--strict", is_flag=True, help="A query syntax error is an error (exit 2).")
@click.option("--explain", is_flag=True, help="Show the parsed query and each hit's score parts.")
@output_format_option("text", "json", "jsonl")
@library_errors
def search_command(
    query,
    index_path,
    since,
    until,
    where,
    facets,
    facet_limit,
    sort,
    limit,
    page,
    fragments,
    strict,
    explain,
    fmt,
):
    """Search the index. Words are AND'ed across title and body.

    \b
    QUERY syntax: "a phrase", title:word, places:brazil, date:2020-03,
    date:>=2020-03-14, AND / OR / NOT, (grouping), wild*, word~ (fuzzy).
    When fewer documents than a page hold every word, documents holding some
    of them follow. Exit status: 0 hits found, 1 none, 2 error.
    """
    with Index.open(index_path) as index:
        results = index.search(
            " ".join(query),
            limit=limit,
            page=page,
            since=since,
            until=until,
            where=list(where),
            facets=facets,
            facet_limit=facet_limit or None,
            sort=sort,
            fragments=fragments,
            strict=strict,
            explain=explain,
        )
    _echo_results(results, fmt, explain=explain)
    if results.total == 0:
        sys.exit(EXIT_NO_MATCH)


@cli.command("show", short_help="Print one stored document in full.")
@click.argument("doc_id")
@index_option
@output_format_option("text", "json")
@library_errors
def show_command(doc_id, index_path, fmt):
    """Print one stored document in full."""
    with Index.open(index_path) as index:
        doc = index.get(doc_id)
    date = doc.date.isoformat() if doc.date else None
    if fmt == "json":
        data = {
            "id": doc.id,
            "title": doc.title,
            "date": date,
            "path": doc.path,
            "fields": {k: list(v) for k, v in doc.fields.items()},
            "body": doc.body,
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    rows = [("id", doc.id), ("date", date or "-")]
    if doc.path:
        rows.append(("path", _display(doc.path)))
    rows += [(name, ", ".join(values)) for name, values in doc.fields.items()]
    width = max(len(name) for name, _ in rows)
    title = doc.title or "(no title)"
    lines = [click.style(title, bold=True) if _use_color() else title]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    click.echo("\n".join(lines) + "\n\n" + doc.body)


@cli.command("similar", short_help="Documents like the one with this id.")
@click.argument("doc_id")
@index_option
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Documents to list.",
)
@click.option(
    "--fragments",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Snippet fragments per hit (0: none).",
)
@output_format_option("text", "json", "jsonl")
@library_errors
def similar_command(doc_id, index_path, limit, fragments, fmt):
    """Documents like the one with this id (more like this). Exit 1 if none."""
    with Index.open(index_path) as index:
        results = index.similar(doc_id, limit=limit, fragments=fragments)
    _echo_results(results, fmt)
    if results.total == 0:
        sys.exit(EXIT_NO_MATCH)


def _display(path: str) -> str:
    """A path relative to the current directory when it is below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def main() -> None:
    """Console entry point: `searchkit` (and `python -m searchkit`)."""
    try:
        cli(prog_name="searchkit")
    except BrokenPipeError:
        # Outside a command (SearchkitGroup.invoke ends those): click writing an error message
        # or the help to a reader that left. End quietly, like grep.
        _silence_output()
        sys.exit(0)
