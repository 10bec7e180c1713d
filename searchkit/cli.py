"""The `searchkit` command line: each command parses options, makes one library call, prints.

Exit codes: 0 success (a search found something), 1 a search found nothing, 2 an error (bad
option, bad query, missing corpus or index), 3 the index is locked by another writer.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import asdict

import click

from .corpus import DEFAULT_MAX_FILE_SIZE
from .errors import IndexLocked, SearchkitError
from .index import INDEX_ENV, Index, default_index_path

EXIT_NO_MATCH = 1
EXIT_ERROR = 2
EXIT_LOCKED = 3


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


def _echo_problem(problem) -> None:
    kind = "skipped" if problem.skipped else "warning"
    click.echo(f"{kind}: {problem}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="searchkit")
def cli() -> None:
    """Full-text search for a folder of news articles."""


@cli.command("index")
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
    progress = _Progress(enabled=not quiet and sys.stderr.isatty())
    index = Index(index_path, lock_timeout=lock_timeout)
    try:
        report = index.update(
            list(paths) or None,
            rebuild=rebuild,
            dry_run=dry_run,
            max_file_size=parse_size(max_size),
            workers=workers,
            progress=progress,
            on_problem=None if quiet and fmt == "text" else _echo_problem,
        )
    finally:
        progress.close()
    if fmt == "json":
        data = asdict(report)
        data["problems"] = [asdict(p) for p in report.problems]
        click.echo(json.dumps(data, indent=2))
        return
    if dry_run:
        for path in report.changed_files:
            click.echo(f"changed  {_display(path)}")
        for path in report.deleted_files:
            click.echo(f"deleted  {_display(path)}")
    if not quiet:
        click.echo(f"{report.summary()} in {report.seconds:.2f}s", err=True)


@cli.command("stats")
@index_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
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
        # `searchkit search ... | head`: the reader left; end quietly, like grep.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
