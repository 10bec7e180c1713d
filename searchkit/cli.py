"""The `searchkit` command line: each command parses options, makes one library call, prints.

Exit codes: 0 success (a search found something; also a reader that closed the pipe early),
1 a search found nothing, 2 an error (bad option, bad query, bad configuration, missing corpus
or index), 3 the index is locked by another writer, 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM, `index`).

Start-up is kept light: Whoosh, the indexer and the file readers are imported inside the
commands that use them, so `--version`, `--help` and shell completion start fast.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys

import click

from . import config as cfg
from . import output
from .errors import CorpusNotFound, DocumentNotFound, IndexLocked, IndexNotFound, SearchkitError

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

#: `--max-size`'s default: searchkit.corpus.DEFAULT_MAX_FILE_SIZE, written out so that the
#: command line does not import the file readers to print its help (a test checks they agree).
DEFAULT_MAX_SIZE = "100M"
#: `--sort` values: searchkit.search.SORTS (a test checks they agree).
SORT_CHOICES = cfg.SORTS
#: A page size for "every hit" (the library sizes its work by the hits there are).
EVERY = 2**31 - 1
#: The library's date facets (searchkit.schema.DATE_FACETS), offered by completion.
DATE_FACETS = ("year", "month", "day")


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


# -- settings and the index -------------------------------------------------------------------


def _settings() -> cfg.Settings:
    """The effective settings, read once per command (a bad file is an error only for the
    commands that read it: `--version` and `--help` never do)."""
    root = click.get_current_context().find_root()
    if "searchkit.settings" not in root.meta:
        root.meta["searchkit.settings"] = cfg.load_settings()
    return root.meta["searchkit.settings"]


def _setting(name: str, value):
    """An option's value when given, else the setting's."""
    return value if value is not None else _settings()[name]


def _index_settings(index_path: str | None) -> cfg.Settings:
    return _settings().with_option("index", index_path, "--index")


def _open_index(settings: cfg.Settings):
    """`Index.open` on the configured index; a missing index gets a hint that works here."""
    from .index import Index

    try:
        return Index.open(settings["index"])
    except IndexNotFound as exc:
        exc.hint = _missing_index_hint(settings)
        raise


def _index_flag(settings: cfg.Settings) -> str:
    # The hint's command must reach the same index: repeat an --index given as an option.
    index = settings.values["index"]
    if index.source != cfg.OPTION:
        return ""
    import shlex

    return f" --index {shlex.quote(index.value)}"


def _missing_index_hint(settings: cfg.Settings) -> str:
    flag = _index_flag(settings)
    corpus = settings.values["corpus"]
    if corpus.source != cfg.DEFAULT:
        roots = ", ".join(output.display_path(r) for r in corpus.value)
        return f"run `searchkit index{flag}` to index {roots} into it"
    if os.path.isdir("corpus"):
        return f"run `searchkit index{flag}` to index ./corpus into it"
    return (
        f"run `searchkit index{flag} FOLDER...` with the folders of articles to index, "
        f"or set `index` and `corpus` in {settings.path}"
    )


def index_option(func):
    """`--index DIR`, else `$SEARCHKIT_INDEX`, else `index` in the configuration file."""
    return click.option(
        "--index",
        "index_path",
        default=None,
        type=click.Path(file_okay=False),
        help="Index directory "
        "[default: $SEARCHKIT_INDEX, else `index` in the config, else ./index].",
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


def _log(message: str) -> None:
    """A line on stderr from inside library work (a warning, a batch done).

    If the reader of stderr has left (`2>&1 | head`), the work goes on with its output sent to
    /dev/null: a closed pipe must not abandon an index update half-way and call it a success.
    """
    try:
        click.echo(message, err=True)
    except BrokenPipeError:
        _silence_output()


def _problem_line(problem) -> str:
    kind = "skipped" if problem.skipped else "warning"
    return f"{kind}: {problem}"


def _echo_problem(problem) -> None:
    _log(_problem_line(problem))


class _Progress:
    """The indexer's `progress(phase, done, total)` drawn on stderr when it is a terminal, with
    the run's warnings printed above the bar."""

    def __init__(self, enabled: bool) -> None:
        self.line = output.ProgressLine(sys.stderr) if enabled else None
        #: A bar was drawn (so a Ctrl-C's `^C` was written over and the line ended).
        self.drawn = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.line is None:
            return
        self.drawn = True
        try:
            self.line.update(phase, done, total)
        except BrokenPipeError:
            self._gone()

    def problem(self, problem) -> None:
        """A warning or a skipped file: above the bar, never on its line."""
        if self.line is None:
            _echo_problem(problem)
            return
        try:
            self.line.message(_problem_line(problem))
        except BrokenPipeError:
            self._gone()

    def close(self) -> None:
        """End the bar's line."""
        if self.line is not None:
            try:
                self.line.close()
            except BrokenPipeError:
                self._gone()

    def _gone(self) -> None:
        # stderr's reader left: keep indexing, print nothing more (see _log).
        _silence_output()
        self.line = None


def _print_version(ctx: click.Context, param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from . import __version__

    click.echo(f"searchkit {__version__}")
    ctx.exit()


@click.group(
    cls=SearchkitGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Full-text search for a folder of news articles.

    \b
    Settings: `searchkit config` shows them and the file they come from.
    Shell completion: add the line for your shell to ~/.bashrc, ~/.zshrc or
    ~/.config/fish/config.fish:
      eval "$(_SEARCHKIT_COMPLETE=bash_source searchkit)"
      eval "$(_SEARCHKIT_COMPLETE=zsh_source searchkit)"
      _SEARCHKIT_COMPLETE=fish_source searchkit | source
    """
    if ctx.invoked_subcommand is None:
        # Bare `searchkit` asks what it can do: the help, and success (click would exit 2).
        click.echo(ctx.get_help())


# -- indexing ---------------------------------------------------------------------------------


#: `--lock-timeout`, for the commands that write.
lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds to wait for another writer.",
)
#: `--format text|json` for the commands that report an update.
report_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary as text (stderr) or JSON (stdout).",
)


@cli.command("index", short_help="Index corpus folders and files; again to sync changes.")
@click.argument("paths", nargs=-1, type=click.Path())
@index_option
@click.option("--rebuild", is_flag=True, help="Build a new index beside the live one, then swap.")
@click.option("--dry-run", is_flag=True, help="List what would change; write nothing.")
@lock_timeout_option
@click.option(
    "--max-size",
    default=DEFAULT_MAX_SIZE,
    show_default=True,
    help="Skip files larger than this (e.g. 50M).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes for reading and writing [default: one per core, up to 4].",
)
@report_format_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
@library_errors
def index_command(paths, index_path, rebuild, dry_run, lock_timeout, max_size, workers, fmt, quiet):
    """Index corpus folders and files (default: the configured `corpus`, else the index's
    recorded roots, else ./corpus).

    Run it again after articles arrive, change or disappear: only those are touched.
    """
    from .index import Index

    settings = _index_settings(index_path)
    roots = _corpus_roots(paths, settings)
    max_file_size = parse_size(max_size)
    progress = _Progress(enabled=not quiet and sys.stderr.isatty())
    on_problem = None if quiet and fmt == "text" else progress.problem
    index = Index(settings["index"], lock_timeout=lock_timeout)
    try:
        try:
            with signals_interrupt():
                report = index.update(
                    roots,
                    rebuild=rebuild,
                    dry_run=dry_run,
                    max_file_size=max_file_size,
                    workers=workers,
                    progress=progress,
                    on_problem=on_problem,
                )
        finally:
            progress.close()
    except KeyboardInterrupt as exc:
        code = _interrupted_exit_code(exc)
        if code == EXIT_INTERRUPTED and not progress.drawn and sys.stderr.isatty():
            click.echo(err=True)  # below the terminal's ^C, as no progress bar ended the line
        click.echo(INTERRUPTED_DRY_RUN if dry_run else INTERRUPTED_INDEX, err=True)
        raise click.exceptions.Exit(code) from None
    except CorpusNotFound as exc:
        if roots is None and exc.path == "corpus":
            # The library's last resort, ./corpus, is not here: say what would work.
            exc.hint = (
                "pass the folders of articles to index (`searchkit index FOLDER...`), "
                f"or set `corpus` in {settings.path}"
            )
        raise
    _finish_update(report, fmt=fmt, quiet=quiet, dry_run=dry_run)


def _finish_update(report, *, fmt: str, quiet: bool, dry_run: bool = False) -> None:
    """Print an update's report; a partial run (places unavailable) exits `EXIT_PARTIAL`."""
    if fmt == "json":
        from dataclasses import asdict

        data = {"version": _version(), **asdict(report)}
        data["problems"] = [asdict(p) for p in report.problems]
        click.echo(json.dumps(data, indent=2))
    else:
        if dry_run:
            for path in report.changed_files:
                click.echo(f"changed  {output.display_path(path)}")
            for path in report.deleted_files:
                click.echo(f"deleted  {output.display_path(path)}")
        if not quiet:
            click.echo(f"{report.summary()} in {report.seconds:.2f}s", err=True)
    if report.partial:
        raise click.exceptions.Exit(EXIT_PARTIAL)


@cli.command("forget", short_help="Drop corpus roots and their documents from the index.")
@click.argument("roots", nargs=-1, required=True, type=click.Path())
@index_option
@lock_timeout_option
@report_format_option
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@library_errors
def forget_command(roots, index_path, lock_timeout, fmt, quiet):
    """Stop indexing corpus roots: their documents leave the index, later runs skip them.

    A root that is missing or unreadable for a while keeps its documents (`searchkit index`
    exits 4 and names it); forgetting it is this explicit step.
    """
    from .index import Index

    settings = _index_settings(index_path)
    report = Index(settings["index"], lock_timeout=lock_timeout).forget(list(roots))
    _finish_update(report, fmt=fmt, quiet=quiet)


def _corpus_roots(paths, settings: cfg.Settings) -> list[str] | None:
    """The paths given, else the configured corpus, else None (the library's choice: the
    index's recorded roots, else ./corpus)."""
    if paths:
        return list(paths)
    corpus = settings.values["corpus"]
    return list(corpus.value) if corpus.source != cfg.DEFAULT else None


def _version() -> str:
    from . import __version__

    return __version__


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
    with _open_index(_index_settings(index_path)) as index:
        stats = index.stats()
    if fmt == "json":
        from dataclasses import asdict

        data = {"version": _version(), **asdict(stats)}
        data["last_update"] = stats.last_update.isoformat() if stats.last_update else None
        data["fields"] = {f.name: f.distinct for f in stats.fields}
        click.echo(json.dumps(data, indent=2))
        return
    display = output.display_path
    span = f"{stats.earliest} .. {stats.latest}" if stats.earliest else "no dated documents"
    updated = stats.last_update.strftime("%Y-%m-%d %H:%M:%S UTC") if stats.last_update else "-"
    lines = [
        f"index       {display(stats.path)} ({stats.generation})",
        f"documents   {stats.documents:,}",
        f"dates       {span}",
        f"size        {stats.size_bytes / 1024**2:.1f} MiB in {stats.segments} segment(s)",
        f"updated     {updated}",
        "roots       " + (", ".join(display(r) for r in stats.roots) or "-"),
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
    import warnings
    from datetime import datetime

    from .index import Index
    from .watch import Watcher

    # watchdog 7 warns, harmlessly, when a new folder is watched by two of its own paths at once.
    warnings.filterwarnings("ignore", "Callback with id", RuntimeWarning, "watchdog")
    settings = _index_settings(index_path)

    def log_batch(report) -> None:
        when = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        _log(f"{when} {report.summary()} in {report.seconds:.2f}s")

    def log_error(error) -> None:
        _log(f"warning: {error}; will retry")

    watcher = Watcher(
        Index(settings["index"]),
        _corpus_roots(paths, settings),
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
        roots = ", ".join(output.display_path(r) for r in watcher.roots)
        click.echo(f"watching {roots} with {watcher.method}, delay {delay:g}s", err=True)
    watcher.join()


# -- completion -------------------------------------------------------------------------------


def _field_names(ctx: click.Context) -> list[str]:
    """The index's facet field names, for completion; none when there is no readable index."""
    try:
        settings = cfg.load_settings().with_option("index", ctx.params.get("index_path"), "")
        from .index import Index

        with Index.open(settings["index"]) as index:
            return [f.name for f in index.stats().fields]
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a shell
        return []


def _complete_facet(ctx, param, incomplete: str):
    from click.shell_completion import CompletionItem

    names = _field_names(ctx) or list(DATE_FACETS)
    return [CompletionItem(n) for n in names if n.startswith(incomplete.lower())]


def _complete_where(ctx, param, incomplete: str):
    from click.shell_completion import CompletionItem

    if "=" in incomplete:
        return []  # a value: the index's values are not offered (yet)
    names = [n for n in _field_names(ctx) if n not in DATE_FACETS]
    return [CompletionItem(f"{n}=") for n in names if n.startswith(incomplete.lower())]


# -- searching --------------------------------------------------------------------------------


def format_option(*choices: str):
    """`--format` with the given choices; its default is the configured `format` when that is
    one of them, else the first."""
    descriptions = {
        "text": "text for people",
        "json": "json (one object)",
        "jsonl": "jsonl (one hit a line)",
    }
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=None,
        help=", ".join(descriptions[c] for c in choices)
        + f" [default: `format` in the config if it is one of these, else {choices[0]}].",
    )


def _format(fmt: str | None, choices: tuple[str, ...]) -> str:
    if fmt is not None:
        return fmt
    configured = _settings()["format"]
    return configured if configured in choices else choices[0]


def display_options(func):
    """`--color` and `--no-pager`, for commands that print text for people."""
    func = click.option(
        "--no-pager",
        is_flag=True,
        help="Print straight to the terminal ($SEARCHKIT_PAGER, the config's `pager`, $PAGER, "
        "else less -FRX page long text on a terminal).",
    )(func)
    return click.option(
        "--color",
        type=click.Choice(cfg.COLORS),
        default=None,
        help="Colour: auto (on a terminal, unless $NO_COLOR), always, never. Without colour "
        "matches read **word** (a * in the text reads \\*).",
    )(func)


def _color(option: str | None) -> bool:
    return output.use_color(_setting("color", option), sys.stdout)


def _emit(text: str, *, color: bool, no_pager: bool) -> None:
    """Text for people: through the pager on a terminal, else straight out (with the colour
    decided, which click.echo would strip off a stream that is no terminal)."""
    if not no_pager and sys.stdout.isatty():
        argv = output.pager_argv(_settings()["pager"])
        if argv:
            sys.stdout.flush()
            sys.stderr.flush()
            if output.page(text + "\n", argv, encoding=sys.stdout.encoding or "utf-8"):
                return
    click.echo(text, color=color)


def _echo_results(results, fmt: str, *, color: bool, no_pager: bool, explain=False) -> None:
    for note in results.notes:
        click.echo(f"note: {note}", err=True)
    if fmt == "json":
        data = {"version": _version(), **results.as_dict()}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif fmt == "jsonl":
        for hit in results.hits:
            click.echo(json.dumps(hit.as_dict(), ensure_ascii=False))
        if results.suggestion:
            click.echo(f"did you mean: {results.suggestion}", err=True)
    else:
        text = output.format_results(results, color=color, explain=explain)
        _emit(text, color=color, no_pager=no_pager)


@cli.command("search", short_help="Search the index (exit 1 when nothing matches).")
@click.argument("query", nargs=-1, required=True)
@index_option
@click.option("--since", metavar="DATE", help="From this date: 2020, 2020-03, 'march 2020', 7d.")
@click.option("--until", metavar="DATE", help="Up to this date, inclusive (2020-03: all March).")
@click.option(
    "--where",
    multiple=True,
    metavar="FIELD=VALUE",
    shell_complete=_complete_where,
    help="Only documents with this metadata value (repeatable; one field's values OR'ed).",
)
@click.option(
    "--facet",
    "facets",
    multiple=True,
    metavar="FIELD",
    shell_complete=_complete_facet,
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
    default=None,
    help="Order of hits: best match first, oldest first (date) or newest first (-date) "
    "[default: `sort` in the config, else relevance].",
)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Hits per page [default: `limit` in the config, else 10].",
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
    default=None,
    help="Snippet fragments per hit, 0 for none [default: `fragments` in the config, else 1].",
)
@click.option("--strict", is_flag=True, help="A query syntax error is an error (exit 2).")
@click.option("--explain", is_flag=True, help="Show the parsed query and each hit's score parts.")
@click.option("-c", "--count", is_flag=True, help="Print only the number of matching documents.")
@click.option(
    "-l",
    "--files",
    "files_only",
    is_flag=True,
    help="Print the path of each file with a match, once, for every match (not a page).",
)
@format_option("text", "json", "jsonl")
@display_options
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
    count,
    files_only,
    fmt,
    color,
    no_pager,
):
    """Search the index. Words are AND'ed across title and body.

    \b
    QUERY syntax: "a phrase", title:word, places:brazil, date:2020-03,
    date:>=2020-03-14, AND / OR / NOT, (grouping), wild*, word~ (fuzzy).
    When fewer documents than a page hold every word, documents holding some
    of them follow (and are counted by --count and listed by --files).
    Exit status: 0 hits found, 1 none, 2 error.
    """
    if count or files_only:
        _check_alone("--count" if count else "--files", files_only and count, fmt, facets, explain)
    settings = _index_settings(index_path)
    options = dict(
        since=since,
        until=until,
        where=list(where),
        sort=_setting("sort", sort),
        strict=strict,
    )
    limit = _setting("limit", limit)
    with _open_index(settings) as index:
        if count or files_only:
            # Page 1 decides whether the query is relaxed (see the docstring); the second
            # call, for every hit, keeps that decision since it asks for exactly that total.
            results = index.search(" ".join(query), limit=limit, fragments=0, **options)
            if files_only and results.total > len(results.hits):
                results = index.search(" ".join(query), limit=results.total, fragments=0, **options)
        else:
            results = index.search(
                " ".join(query),
                limit=limit,
                page=page,
                facets=facets,
                facet_limit=facet_limit or None,
                fragments=_setting("fragments", fragments),
                explain=explain,
                **options,
            )
    if count:
        for note in results.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(str(results.total))
    elif files_only:
        _echo_files(results)
    else:
        _echo_results(
            results,
            _format(fmt, ("text", "json", "jsonl")),
            color=_color(color),
            no_pager=no_pager,
            explain=explain,
        )
    if results.total == 0:
        sys.exit(EXIT_NO_MATCH)


def _check_alone(mode: str, both: bool, fmt, facets, explain) -> None:
    if both:
        raise click.UsageError("--count and --files cannot be used together")
    for given, option in ((fmt not in (None, "text"), "--format"), (facets, "--facet")):
        if given:
            raise click.UsageError(f"{mode} cannot be used with {option}")
    if explain:
        raise click.UsageError(f"{mode} cannot be used with --explain")


def _echo_files(results) -> None:
    for note in results.notes:
        click.echo(f"note: {note}", err=True)
    seen: set[str] = set()
    without = 0
    for hit in results.hits:
        if not hit.path:
            without += 1
        elif hit.path not in seen:
            seen.add(hit.path)
            click.echo(output.display_path(hit.path))
    if without:
        noun = "document has" if without == 1 else "documents have"
        click.echo(f"note: {without} matching {noun} no file (added through the API)", err=True)


@cli.command("show", short_help="Print a stored document: by id, or by the path search shows.")
@click.argument("doc_id", metavar="ID_OR_PATH")
@index_option
@format_option("text", "json")
@display_options
@library_errors
def show_command(doc_id, index_path, fmt, color, no_pager):
    """Print one stored document in full, by its id or by the path of the file it was read
    from (both are in each `searchkit search` hit). A file holding several documents (JSON
    Lines, a JSON list) lists them, one `id  date  title` line each."""
    fmt = _format(fmt, ("text", "json"))
    with _open_index(_index_settings(index_path)) as index:
        try:
            doc = index.get(doc_id)
        except DocumentNotFound as exc:
            found = _documents_read_from(index, doc_id)
            if not found:
                exc.hint = _nearest_id_hint(index, doc_id)
                raise
            if len(found) > 1:
                _echo_listing(doc_id, found, fmt, color=_color(color), no_pager=no_pager)
                return
            doc = index.get(found[0].id)
    if fmt == "json":
        data = {
            "version": _version(),
            "id": doc.id,
            "title": doc.title,
            "date": doc.date.isoformat() if doc.date else None,
            "path": doc.path,
            "fields": {k: list(v) for k, v in doc.fields.items()},
            "body": doc.body,
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    color = _color(color)
    _emit(output.format_document(doc, color=color), color=color, no_pager=no_pager)


def _documents_read_from(index, path: str) -> tuple:
    """The hits of the documents read from the file at `path` (as the CLI shows it: relative
    to here, or absolute), in natural order of their ids; empty if none.

    A `path:` query through `Index.search` until the library offers a lookup by path.
    """
    absolute = os.path.abspath(os.path.expanduser(path))
    if '"' in absolute or "\\" in absolute:
        return ()  # cannot be quoted in a query; such a path cannot be looked up this way
    try:
        results = index.search(f'path:"{absolute}"', limit=EVERY, fragments=0, strict=True)
    except SearchkitError:
        return ()
    found = [h for h in results.hits if h.path == absolute]
    # Ids in natural order (wire-2 before wire-10): the index's order is not the file's.
    return tuple(sorted(found, key=lambda h: _natural_key(h.id)))


def _natural_key(text: str) -> list:
    import re

    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def _nearest_id_hint(index, doc_id: str) -> str | None:
    """ "did you mean ..." from the index's ids most like `doc_id` (difflib), if any."""
    import difflib

    try:
        # Every id, through a wildcard search until the library lists ids (seconds on 20,000
        # documents, on an error path only).
        everything = index.search("id:*", limit=EVERY, fragments=0, strict=True)
    except SearchkitError:
        return None
    ids = [h.id for h in everything.hits]
    close = difflib.get_close_matches(doc_id, ids, n=3, cutoff=0.6)
    if not close:
        return None
    quoted = [repr(c) for c in close]
    if len(quoted) > 1:
        quoted[-2:] = [f"{quoted[-2]} or {quoted[-1]}"]
    return f"did you mean {', '.join(quoted)}?"


def _echo_listing(path: str, hits, fmt: str, *, color: bool, no_pager: bool) -> None:
    if fmt == "json":
        data = {
            "version": _version(),
            "path": hits[0].path,
            "documents": [{"id": h.id, "date": h.date, "title": h.title} for h in hits],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{output.display_path(hits[0].path)} holds {len(hits)} documents; "
        "show one with `searchkit show ID`:",
        err=True,
    )
    _emit(output.format_listing(hits, color=color), color=color, no_pager=no_pager)


@cli.command("similar", short_help="Documents like the one with this id.")
@click.argument("doc_id")
@index_option
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Documents to list [default: `limit` in the config, else 10].",
)
@click.option(
    "--fragments",
    type=click.IntRange(min=0),
    default=None,
    help="Snippet fragments per hit, 0 for none [default: `fragments` in the config, else 1].",
)
@format_option("text", "json", "jsonl")
@display_options
@library_errors
def similar_command(doc_id, index_path, limit, fragments, fmt, color, no_pager):
    """Documents like the one with this id (more like this). Exit 1 if none."""
    with _open_index(_index_settings(index_path)) as index:
        results = index.similar(
            doc_id,
            limit=_setting("limit", limit),
            fragments=_setting("fragments", fragments),
        )
    fmt = _format(fmt, ("text", "json", "jsonl"))
    _echo_results(results, fmt, color=_color(color), no_pager=no_pager)
    if results.total == 0:
        sys.exit(EXIT_NO_MATCH)


# -- configuration ----------------------------------------------------------------------------


@cli.command("config", short_help="Print the effective settings and where each came from.")
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
def config_command(index_path, fmt):
    """Print the effective settings and where each came from: the default, the configuration
    file (with its line), an environment variable, or an option.

    \b
    The file: $SEARCHKIT_CONFIG, else $XDG_CONFIG_HOME/searchkit/config.toml,
    else ~/.config/searchkit/config.toml. Example:
      index = "~/news/index"
      corpus = ["~/news/articles"]
      color = "auto"       # auto, always, never
      pager = "less -FRX"  # false: never page
      limit = 20
    """
    settings = _index_settings(index_path)
    rows = []
    for setting in settings.values.values():
        where = f"{setting.source} {setting.origin}".strip()
        rows.append((setting.name, setting.value, where))
    if fmt == "json":
        data = {
            "version": _version(),
            "file": settings.path,
            "file_found": settings.loaded,
            "settings": {
                name: {"value": list(v) if isinstance(v, tuple) else v, "source": where}
                for name, v, where in rows
            },
        }
        click.echo(json.dumps(data, indent=2))
        return
    state = "" if settings.loaded else " (not found)"
    lines = [f"# {settings.path}{state}"]
    width = max(len(name) for name, _, _ in rows)
    shown = [_show_value(name, value) for name, value, _ in rows]
    value_width = max(len(v) for v in shown)
    for (name, _, where), value in zip(rows, shown, strict=True):
        lines.append(f"{name:<{width}}  {value:<{value_width}}  {where}")
    click.echo("\n".join(lines))


def _show_value(name: str, value) -> str:
    if name == "corpus" and not value:
        return "(the index's roots, else ./corpus)"
    if isinstance(value, tuple):
        return ", ".join(value)
    if name == "pager" and output.pager_argv(value) is None:
        return "(none)"
    return str(value)


def main() -> None:
    """Console entry point: `searchkit` (and `python -m searchkit`)."""
    try:
        cli(prog_name="searchkit")
    except BrokenPipeError:
        # Outside a command (SearchkitGroup.invoke ends those): click writing an error message
        # or the help to a reader that left. End quietly, like grep.
        _silence_output()
        sys.exit(0)
