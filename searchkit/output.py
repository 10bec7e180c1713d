"""Text for people on a terminal: results and documents as text, colour, highlights without
colour, the pager, and a progress line that warnings print above. No click here: the CLI
decides what to print, this module how it reads.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import IO

BOLD = "\x1b[1m"
MATCH = "\x1b[1;31m"
RESET = "\x1b[0m"
_CLEAR_LINE = "\r\x1b[K"

#: Highlights without colour, as Markdown's bold: `**word**`. A `*` or `\` from the text
#: itself is escaped as Markdown escapes it (`\*`, `\\`), so a marker is never ambiguous.
PLAIN_MARK = ("**", "**")
_PLAIN_ESCAPES = str.maketrans({"\\": "\\\\", "*": "\\*"})


def use_color(choice: str, stream: IO) -> bool:
    """`always`, `never`, or `auto`: colour when the stream is a terminal that has colour
    (not `TERM=dumb`, as ripgrep and git read it)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def bold(text: str, color: bool) -> str:
    """`text` in bold when colouring."""
    return f"{BOLD}{text}{RESET}" if color else text


def display_path(path: str) -> str:
    """A path relative to the current directory when it is below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def marked_snippet(snippet, color: bool) -> str:
    """The snippet's text with its highlights in colour, or as `**word**` (text escaped)."""
    if color:
        return snippet.marked(MATCH, RESET)
    out, pos = [], 0
    text = snippet.text
    for start, end in snippet.highlights:
        out += [text[pos:start].translate(_PLAIN_ESCAPES), PLAIN_MARK[0]]
        out += [text[start:end].translate(_PLAIN_ESCAPES), PLAIN_MARK[1]]
        pos = end
    out.append(text[pos:].translate(_PLAIN_ESCAPES))
    return "".join(out)


def format_results(results, *, color: bool, explain: bool = False) -> str:
    """A page of results as `searchkit search` prints it (no final newline)."""
    lines = []
    if explain:
        lines += [f"query: {results.query}", ""]
    width = len(str(results.hits[-1].rank)) if results.hits else 1
    for hit in results.hits:
        title = bold(hit.title or "(no title)", color)
        lines.append(f"{hit.rank:>{width}}. {(hit.date or '-')[:10]:<10}  {title}")
        indent = " " * (width + 2)
        source = f"{hit.id}  {display_path(hit.path)}" if hit.path else hit.id
        lines.append(f"{indent}{source}  score {hit.score:.2f}")
        if hit.snippet.text:
            lines.append(indent + marked_snippet(hit.snippet, color))
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
    else:
        noun = "hit" if results.total == 1 else "hits"
        if results.relaxed and results.all_words is not None:
            noun += f" ({results.all_words:,} with every word, ranked first)"
        if results.hits:
            first, last = results.hits[0].rank, results.hits[-1].rank
            lines.append(f"{results.total:,} {noun}, showing {first}-{last} ({millis:.1f} ms)")
        else:
            lines.append(f"{results.total:,} {noun}, none on page {results.page} ({millis:.1f} ms)")
    return "\n".join(lines)


def format_document(doc, *, color: bool) -> str:
    """A stored document as `searchkit show` prints it: title, fields, a blank line, body."""
    date = doc.date.isoformat() if doc.date else None
    rows = [("id", doc.id), ("date", date or "-")]
    if doc.path:
        rows.append(("path", display_path(doc.path)))
    rows += [(name, ", ".join(values)) for name, values in doc.fields.items()]
    width = max(len(name) for name, _ in rows)
    lines = [bold(doc.title or "(no title)", color)]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines) + "\n\n" + doc.body


def format_listing(hits, *, color: bool) -> str:
    """Documents as one line each, `id  date  title` (what `show PATH` lists for a file
    holding several)."""
    width = max((len(h.id) for h in hits), default=0)
    return "\n".join(
        f"{h.id:<{width}}  {(h.date or '-')[:10]:<10}  {bold(h.title or '(no title)', color)}"
        for h in hits
    )


# -- the pager --------------------------------------------------------------------------------

#: Pager settings that mean "no pager", as git reads them.
_NO_PAGER = ("", "cat")


def pager_argv(command: str) -> list[str] | None:
    """The pager's argument list, or None when the setting means no pager."""
    import shlex

    if command.strip() in _NO_PAGER:
        return None
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    return argv or None


def page(text: str, argv: list[str], *, encoding: str = "utf-8") -> bool:
    """Show `text` through the pager; False if the pager cannot be started (print it instead).

    As git does: `LESS=FRX` unless `$LESS` is set, and Ctrl-C is the pager's while it runs
    (it reaches the whole process group, and less uses it to stop a search).
    """
    # Imported here: subprocess costs every command's start-up ~10 ms, and most never page.
    import subprocess

    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    try:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
    except OSError:
        return False
    assert process.stdin is not None  # started with stdin=PIPE
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            process.stdin.write(text.encode(encoding, "replace"))
        except BrokenPipeError:
            pass  # the reader quit the pager before reading everything: that is fine
        finally:
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass  # the same, found while flushing
        process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return True


# -- progress ---------------------------------------------------------------------------------

_BAR_WIDTH = 40
#: Room kept for `done/total pct rate ETA` beside the bar.
_TAIL_ROOM = 45
#: What each indexing phase counts.
UNITS: Mapping[str, str] = {"reading": "files", "writing": "docs", "indexing": "docs"}
#: Phases whose total is an estimate (a sync done in checkpoints: documents to write, from
#: what the input read so far held per byte): shown as `~total`.
ESTIMATED_TOTALS = frozenset({"indexing"})


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


class ProgressLine:
    """One self-redrawing line on a terminal stream: `phase [####----] done/total pct rate
    ETA`. `message()` prints a line above it (the line is cleared, the message printed, the
    bar redrawn), so a warning never shares the bar's line.

    The rate and ETA appear once a phase has run `eta_after` seconds: on short runs they are
    noise. Redraws are at most every `interval` seconds, except the last of a phase.
    """

    def __init__(
        self,
        stream: IO,
        *,
        width: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.1,
        eta_after: float = 2.0,
    ) -> None:
        self.stream = stream
        self.width = width
        self.clock = clock
        self.interval = interval
        self.eta_after = eta_after
        self.phase: str | None = None
        self.done = 0
        self.total = 0
        self.started = 0.0
        self.drawn_at: float | None = None
        self.visible = False

    def update(self, phase: str, done: int, total: int) -> None:
        """Record progress; redraw when due."""
        now = self.clock()
        if phase != self.phase:
            if self.phase is not None:
                self._finish_line(now)
            self.phase, self.started, self.drawn_at = phase, now, None
        self.done, self.total = done, total
        due = self.drawn_at is None or now - self.drawn_at >= self.interval
        if due or done >= total:
            self._draw(now)

    def message(self, text: str) -> None:
        """A line above the bar."""
        if self.visible:
            self.stream.write(_CLEAR_LINE)
        self.stream.write(text + "\n")
        if self.visible:
            self._draw(self.clock())
        else:
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line (the last state stays on screen)."""
        if self.phase is not None:
            self._finish_line(self.clock())
            self.phase = None

    def _finish_line(self, now: float) -> None:
        self._draw(now, final=True)
        self.stream.write("\n")
        self.stream.flush()
        self.visible = False

    def _columns(self) -> int:
        if self.width:
            return self.width
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            import shutil  # $COLUMNS, else 80

            return shutil.get_terminal_size().columns

    def render(self, now: float, *, final: bool = False) -> str:
        """The line's text (without control characters)."""
        elapsed = now - self.started
        done, total = self.done, self.total
        unit = UNITS.get(self.phase or "", "items")
        about = "~" if self.phase in ESTIMATED_TOTALS else ""
        counts = f"{done:,}/{about}{total:,}" if total else f"{done:,}"
        parts = [counts]
        if total:
            parts.append(f"{min(100, done * 100 // total):3d}%")
        if final:
            parts.append(f"in {elapsed:.1f}s")
        elif elapsed >= self.eta_after and elapsed > 0:
            if done:
                parts.append(f"{done / elapsed:,.0f} {unit}/s")
            if total and 0 < done < total:
                parts.append(f"ETA {_duration(elapsed * (total - done) / done)}")
            else:
                parts.append(f"{_duration(elapsed)} elapsed")
        tail = "  ".join(parts)
        label = f"{self.phase:<8} "
        columns = self._columns()
        # The bar's width depends on the terminal only, so it does not jump when the rate and
        # ETA appear; the last column stays free (writing there wraps on some terminals).
        bar = min(_BAR_WIDTH, columns - 1 - len(label) - 3 - _TAIL_ROOM)
        if bar < 10 or not total:
            return (label + tail)[: columns - 1]
        filled = min(bar, done * bar // total)
        return f"{label}[{'#' * filled}{'-' * (bar - filled)}] {tail}"[: columns - 1]

    def _draw(self, now: float, *, final: bool = False) -> None:
        self.stream.write(_CLEAR_LINE + self.render(now, final=final))
        self.stream.flush()
        self.drawn_at = now
        self.visible = True


def file_listing(results) -> tuple[list[str], str | None]:
    """What `--files` prints: the path of each file with a match, once, in rank order (as
    `display_path` shows it), and a note counting the matches that have no file."""
    seen: set[str] = set()
    paths = []
    without = 0
    for hit in results.hits:
        if not hit.path:
            without += 1
        elif hit.path not in seen:
            seen.add(hit.path)
            paths.append(display_path(hit.path))
    if not without:
        return paths, None
    noun = "document has" if without == 1 else "documents have"
    return paths, f"note: {without} matching {noun} no file (added through the API)"
