"""What every `searchkit` command shares: exit codes, turning library errors into messages,
signals, settings, the index option, progress and output options. Imports no Whoosh."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
from typing import cast

import click

from . import config as cfg
from . import output, payload
from .errors import IndexLocked, IndexNotFound, SearchkitError

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
    "interrupted: what this run committed at its checkpoints is kept, nothing after the last "
    "one (unless the interrupt came during the final commit); the index is intact: run "
    "searchkit index to go on from there"
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
        self.exit_code = EXIT_LOCKED if isinstance(error, IndexLocked) else EXIT_ERROR  # type: ignore[misc]  # click reads it per instance


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


def interrupted_exit_code(exc: KeyboardInterrupt) -> int:
    if isinstance(exc, Signalled) and exc.signum == signal.SIGTERM:
        return EXIT_TERMINATED
    return EXIT_INTERRUPTED


def silence_output() -> None:
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
            raise click.exceptions.Exit(interrupted_exit_code(exc)) from None
        except BrokenPipeError:
            silence_output()
            raise click.exceptions.Exit(0) from None


# -- settings and the index -------------------------------------------------------------------


def _settings() -> cfg.Settings:
    """The effective settings, read once per command (a bad file is an error only for the
    commands that read it: `--version` and `--help` never do)."""
    root = click.get_current_context().find_root()
    if "searchkit.settings" not in root.meta:
        root.meta["searchkit.settings"] = cfg.load_settings()
    return root.meta["searchkit.settings"]


def setting(name: str, value):
    """An option's value when given, else the setting's."""
    return value if value is not None else _settings()[name]


def index_settings(index_path: str | None) -> cfg.Settings:
    return _settings().with_option("index", index_path, "--index")


def open_index(settings: cfg.Settings):
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

    return f" --index {shlex.quote(str(index.value))}"


def _missing_index_hint(settings: cfg.Settings) -> str:
    flag = _index_flag(settings)
    corpus = settings.values["corpus"]
    if corpus.source != cfg.DEFAULT:
        roots = ", ".join(output.display_path(r) for r in cast(tuple, corpus.value))
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


def log(message: str) -> None:
    """A line on stderr from inside library work (a warning, a batch done).

    If the reader of stderr has left (`2>&1 | head`), the work goes on with its output sent to
    /dev/null: a closed pipe must not abandon an index update half-way and call it a success.
    """
    try:
        click.echo(message, err=True)
    except BrokenPipeError:
        silence_output()


def _problem_line(problem) -> str:
    kind = "skipped" if problem.skipped else "warning"
    return f"{kind}: {problem}"


def echo_problem(problem) -> None:
    log(_problem_line(problem))


class Progress:
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
            echo_problem(problem)
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
        # stderr's reader left: keep indexing, print nothing more (see log).
        silence_output()
        self.line = None


def version() -> str:
    from . import __version__

    return __version__


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


def complete_facet(ctx, param, incomplete: str):
    from click.shell_completion import CompletionItem

    names = _field_names(ctx) or list(DATE_FACETS)
    return [CompletionItem(n) for n in names if n.startswith(incomplete.lower())]


def complete_where(ctx, param, incomplete: str):
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


def chosen_format(fmt: str | None, choices: tuple[str, ...]) -> str:
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


def use_color(option: str | None) -> bool:
    return output.use_color(setting("color", option), sys.stdout)


def emit(text: str, *, color: bool, no_pager: bool) -> None:
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


def echo_results(results, fmt: str, *, color: bool, no_pager: bool, explain=False) -> None:
    for note in results.notes:
        click.echo(f"note: {note}", err=True)
    if fmt == "json":
        click.echo(payload.dumps(payload.results_payload(results)))
    elif fmt == "jsonl":
        for hit in results.hits:
            click.echo(json.dumps(hit.as_dict(), ensure_ascii=False))
        if results.suggestion:
            click.echo(f"did you mean: {results.suggestion}", err=True)
    else:
        text = output.format_results(results, color=color, explain=explain)
        emit(text, color=color, no_pager=no_pager)
