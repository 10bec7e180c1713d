"""The `searchkit` command line: each command parses options, makes one library call, prints.

Exit codes: 0 success (a search found something; also a reader that closed the pipe early),
1 a search found nothing, 2 an error (bad option, bad query, bad configuration, missing corpus
or index), 3 the index is locked by another writer, 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM, `index`).

Start-up is kept light: Whoosh, the indexer and the file readers are imported inside the
commands that use them, so `--version`, `--help` and shell completion start fast.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
from typing import cast

import click

from . import config as cfg
from . import output, payload

# What the commands share (cli_common.py); the exit codes and the defaults written out for the
# help are the command line's contract, so they are importable from here too.
from .cli_common import (  # noqa: E402, F401, I001
    DATE_FACETS,
    DEFAULT_MAX_SIZE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_NO_MATCH,
    EXIT_PARTIAL,
    EXIT_TERMINATED,
    INTERRUPTED_DRY_RUN,
    INTERRUPTED_INDEX,
    SORT_CHOICES,
    Progress,
    SearchkitGroup,
    echo_problem,
    index_option,
    index_settings,
    interrupted_exit_code,
    library_errors,
    log,
    open_index,
    parse_size,
    setting,
    signals_interrupt,
    silence_output,
    version,
)
from .cli_opensearch import export_command
from .cli_search import search_command, show_command, similar_command, stats_text, warm_answer
from .errors import CorpusNotFound


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


def text_or_json_option(help: str):
    """`--format text|json`, text by default: for the commands whose output is one report
    (search, show and similar take the configured format: `cli_common.format_option`)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=help,
    )


#: `--format text|json` for the commands that report an update.
report_format_option = text_or_json_option("Summary as text (stderr) or JSON (stdout).")


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
    help="Skip files larger than this (e.g. 50M); a JSON Lines file is read record by "
    "record and this limits one record; a compressed file may inflate to this much.",
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

    settings = index_settings(index_path)
    roots = _corpus_roots(paths, settings)
    max_file_size = parse_size(max_size)
    progress = Progress(enabled=not quiet and sys.stderr.isatty())
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
        code = interrupted_exit_code(exc)
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
        click.echo(json.dumps({"version": version(), **report.as_dict()}, indent=2))
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

    settings = index_settings(index_path)
    report = Index(settings["index"], lock_timeout=lock_timeout).forget(list(roots))
    _finish_update(report, fmt=fmt, quiet=quiet)


def _corpus_roots(paths, settings: cfg.Settings) -> list[str] | None:
    """The paths given, else the configured corpus, else None (the library's choice: the
    index's recorded roots, else ./corpus)."""
    if paths:
        return list(paths)
    corpus = settings.values["corpus"]
    return list(cast(tuple, corpus.value)) if corpus.source != cfg.DEFAULT else None


@cli.command("stats", short_help="Documents, dates, fields, size and roots of the index.")
@index_option
@text_or_json_option("text for people, json for programs.")
@library_errors
def stats_command(index_path, fmt):
    """Document count, date span, facet fields, size, segments, roots, last update."""
    settings = index_settings(index_path)
    if warm_answer(settings, {"command": "stats", "fmt": fmt}):
        return
    with open_index(settings) as index:
        stats = index.stats()
    if fmt == "json":
        click.echo(json.dumps(payload.stats_payload(stats), indent=2))
        return
    click.echo(stats_text(stats))


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
    settings = index_settings(index_path)

    def log_batch(report) -> None:
        when = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        log(f"{when} {report.summary()} in {report.seconds:.2f}s")

    def log_error(error) -> None:
        log(f"warning: {error}; will retry")

    watcher = Watcher(
        Index(settings["index"]),
        _corpus_roots(paths, settings),
        delay=delay,
        poll=poll,
        on_batch=None if quiet else log_batch,
        on_problem=None if quiet else echo_problem,
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


# -- serving ----------------------------------------------------------------------------------

#: Addresses that only this machine can reach.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@cli.command("serve", short_help="A local web page and JSON API; makes the CLI answer fast.")
@click.argument("paths", nargs=-1, type=click.Path())
@index_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (another than 127.0.0.1 makes the archive readable by the network).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8642,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Also keep the index in step with the corpus (PATHS, else as `searchkit watch`).",
)
@click.option("--opensearch", metavar="URL", help="Serve the OpenSearch cluster at URL instead.")
@click.option("--index-name", metavar="NAME", help="The index on the cluster [default: searchkit].")
@library_errors
def serve_command(paths, index_path, host, port, watch, opensearch, index_name):
    """Serve a web page and a JSON API for the index until Ctrl-C; prints the URL.

    \b
    /                 the search page (all its state in the URL)
    /doc/ID           a document and similar articles
    /api/search       what `searchkit search --format json` prints, same parameters
    /api/doc/ID  /api/similar/ID  /api/stats
    While it runs, `searchkit search`, `show`, `similar` and `stats` on this index ask it
    (through a socket recorded in the index folder) and answer faster.
    With --opensearch URL the page and the API search that cluster's index instead.
    """
    import threading
    import time

    from .index import Index
    from .warm_server import WarmServer

    opensearch = setting("opensearch", opensearch)
    index_name = setting("index_name", index_name)

    if paths and not watch:
        raise click.UsageError("PATHS are the folders to watch: give them with --watch")
    if opensearch is not None:
        if watch:
            raise click.UsageError("--watch keeps a local index in step: not with --opensearch")
        _serve_cluster(opensearch, index_name, host, port)
        return
    if index_name is not None:
        raise click.UsageError("--index-name needs --opensearch URL")
    settings = index_settings(index_path)
    index = Index(settings["index"])
    server = _listen(index, host, port)
    warm = WarmServer(index)
    warm.record()
    watcher = None
    if watch:
        from .watch import Watcher

        roots = _corpus_roots(paths, settings)

        def batch_done(report) -> None:
            log(f"{report.summary()} in {report.seconds:.2f}s")
            if not warm.recorded:
                warm.record()  # the first batch created the index

        watcher = Watcher(
            index,
            [os.path.abspath(r) for r in roots] if roots else None,
            on_batch=batch_done,
            on_problem=echo_problem,
            on_error=lambda error: log(f"warning: {error}; will retry"),
        )
    # Both servers answer from threads; the main thread only waits, so that Ctrl-C (and
    # SIGTERM) reach it there, and watches the watcher, whose error ends the command as it
    # ends `searchkit watch`.
    threads = [
        threading.Thread(target=srv.serve_forever, args=(0.2,), daemon=True)
        for srv in (server, warm)
    ]
    try:
        with signals_interrupt():
            for thread in threads:
                thread.start()
            click.echo(server.url)
            sys.stdout.flush()
            log(f"serving {output.display_path(index.path)}; Ctrl-C stops")
            if watcher is None:
                while True:
                    time.sleep(3600)
            watcher.start()  # the catch-up: the page answers meanwhile
            if not warm.recorded:
                warm.record()
            roots = ", ".join(output.display_path(r) for r in watcher.roots)
            log(f"watching {roots} with {watcher.method}")
            while watcher.watching:
                time.sleep(0.5)
            watcher.join()  # raises what ended it
    finally:
        for srv, thread in zip((server, warm), threads, strict=True):
            if thread.is_alive():
                srv.shutdown()
        server.server_close()
        warm.close()
        if watcher is not None:
            watcher.stop()
        index.close()


def _listen(index, host: str, port: int):
    """The web page's server for `index` (a local index or a cluster), listening; a warning
    when the address is not loopback."""
    from .web import SearchServer

    try:
        server = SearchServer(index, (host, port), log=log)
    except OSError as exc:
        error = click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        error.exit_code = EXIT_ERROR  # type: ignore[misc]  # click reads it per instance
        raise error from None
    if host not in LOOPBACK_HOSTS:
        log(f"warning: listening on {host}: anyone who can reach it can read the whole archive")
    return server


def _serve_cluster(url: str, index_name: str | None, host: str, port: int) -> None:
    """`serve --opensearch URL`: the same page and API over the cluster's index. No warm
    socket (`searchkit search --opensearch` asks the cluster itself) and no watcher."""
    import threading
    import time

    from .opensearch import DEFAULT_INDEX_NAME, OpenSearchIndex

    index = OpenSearchIndex(url, index_name or DEFAULT_INDEX_NAME)
    server = _listen(index, host, port)
    thread = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
    try:
        with signals_interrupt():
            thread.start()
            click.echo(server.url)
            sys.stdout.flush()
            log(f"serving {index.path}; Ctrl-C stops")
            while True:
                time.sleep(3600)
    finally:
        if thread.is_alive():
            server.shutdown()
        server.server_close()
        index.close()


# -- configuration ----------------------------------------------------------------------------


@cli.command("config", short_help="Print the effective settings and where each came from.")
@index_option
@text_or_json_option("text for people, json for programs.")
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
    settings = index_settings(index_path)
    rows = []
    for entry in settings.values.values():
        where = f"{entry.source} {entry.origin}".strip()
        rows.append((entry.name, entry.value, where))
    if fmt == "json":
        data = {
            "version": version(),
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
    if value is None:
        return "(none)"
    return str(value)


for _command in (search_command, show_command, similar_command, export_command):
    cli.add_command(_command)


def main() -> None:
    """Console entry point: `searchkit` (and `python -m searchkit`)."""
    # What the interpreter and the command line have made so far lives as long as the
    # process: moved out of the collector's sight, so that the full collections that a
    # search's imports and index opening set off do not walk it again each time (at 500k
    # articles, 94 segments: `searchkit search` p50 611 -> 580 ms, 10 runs each, quiet machine).
    gc.freeze()
    try:
        cli(prog_name="searchkit")
    except BrokenPipeError:
        # Outside a command (SearchkitGroup.invoke ends those): click writing an error message
        # or the help to a reader that left. End quietly, like grep.
        silence_output()
        sys.exit(0)
