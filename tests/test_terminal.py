"""What only shows on a terminal, through a real pseudo-terminal (the standard `pty` module):
colour, the pager, the progress bar with warnings above it; the progress line's text; and
the start-up cost of the small commands."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from searchkit import Document, Index
from searchkit.output import ProgressLine

COLUMNS = 100
RED = "\x1b[1;31m"
PAGER_SCRIPT = """#!/bin/sh
printf 'LESS=%s\\n' "$LESS" > "$PAGER_RECORD"
cat >> "$PAGER_RECORD"
echo PAGED-BY-TEST
"""


@pytest.fixture
def env(tmp_path: Path, index_location: Path) -> dict[str, str]:
    """The environment of a command run here: this checkout's code, no personal settings."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "PAGER", "SEARCHKIT_PAGER", "SEARCHKIT_CONFIG")
        and k != "LESS"
    }
    environ["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    environ["SEARCHKIT_INDEX"] = str(index_location)
    environ["TERM"] = "xterm"
    environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), environ.get("PYTHONPATH", "")]
    )
    return environ


@pytest.fixture
def news(index_location: Path) -> Index:
    with Index(index_location) as ix:
        ix.add(
            [
                Document(id="cocoa", title="Cocoa prices rise", body="Cocoa prices rise again."),
                Document(id="rain", title="Rain in Brazil", body="Rain helps the cocoa crop."),
            ]
        )
        yield ix


def run_in_terminal(
    args: list[str],
    env: dict[str, str],
    timeout: float = 120,
    *,
    interrupt_after: str | None = None,
) -> tuple[int, str]:
    """Run `searchkit ARGS` with stdin, stdout and stderr on a new pseudo-terminal of
    COLUMNS columns; (exit status, everything the terminal received). With
    `interrupt_after`, SIGINT (Ctrl-C) is sent once the terminal has received that text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "searchkit", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal has closed it
                break
            if not chunk:
                break
            received += chunk
            if interrupt_after and interrupt_after.encode() in received:
                process.send_signal(signal.SIGINT)
                interrupt_after = None
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return code, received.decode("utf-8", "replace")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows for `raw`: carriage returns go back, erase-line erases,
    colours are dropped."""
    raw = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    lines, col, i = [""], 0, 0
    while i < len(raw):
        if raw.startswith("\x1b[K", i):
            lines[-1] = lines[-1][:col]
            i += 3
            continue
        char = raw[i]
        if char == "\r":
            col = 0
        elif char == "\n":
            lines.append("")
            col = 0
        else:
            line = lines[-1].ljust(col)
            lines[-1] = line[:col] + char + line[col + 1 :]
            col += 1
        i += 1
    return lines


# -- colour ----------------------------------------------------------------------------------


def test_colour_on_a_terminal_and_not_with_no_color(news, env):
    code, raw = run_in_terminal(["search", "cocoa", "--no-pager"], env)
    assert code == 0
    assert f"{RED}Cocoa\x1b[0m" in raw and "**" not in raw
    code, raw = run_in_terminal(["search", "cocoa", "--no-pager"], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in raw and "**Cocoa** prices rise" in raw
    code, raw = run_in_terminal(["search", "cocoa", "--no-pager", "--color", "never"], env)
    assert "\x1b[" not in raw


# -- the pager -------------------------------------------------------------------------------


@pytest.fixture
def pager(tmp_path: Path, env: dict[str, str]) -> Path:
    """A pager that records what it is given (and $LESS) in the file returned."""
    script = tmp_path / "pager.sh"
    script.write_text(PAGER_SCRIPT, encoding="utf-8")
    script.chmod(0o755)
    record = tmp_path / "paged.txt"
    env["PAGER_RECORD"] = str(record)
    return record


def test_text_output_on_a_terminal_goes_through_the_pager(news, env, pager, tmp_path):
    env["PAGER"] = str(tmp_path / "pager.sh")
    code, raw = run_in_terminal(["search", "cocoa"], env)
    assert code == 0
    assert "PAGED-BY-TEST" in raw and "hits, showing" not in raw
    paged = pager.read_text("utf-8")
    # As git: LESS=FRX unless set; the text in colour, as the terminal would show it.
    assert paged.startswith("LESS=FRX\n1. -           \x1b[1mCocoa prices rise\x1b[0m\n")
    assert f"{RED}Cocoa\x1b[0m" in paged
    assert re.search(r"\n\n2 hits, showing 1-2 \(\d+\.\d ms\)\n\Z", paged)
    pager.unlink()
    code, raw = run_in_terminal(["show", "rain"], env)
    assert "Rain helps the cocoa crop." in pager.read_text("utf-8")


def test_no_pager_when_asked_not_to(news, env, pager, tmp_path):
    env["PAGER"] = str(tmp_path / "pager.sh")
    code, raw = run_in_terminal(["search", "cocoa", "--no-pager"], env)
    assert code == 0 and "2 hits, showing 1-2" in raw
    for machine in (["--format", "json"], ["--count"], ["--files"]):
        run_in_terminal(["search", "cocoa", *machine], env)
    assert not pager.exists()
    # Not a terminal: never paged.
    piped = subprocess.run(
        [sys.executable, "-m", "searchkit", "search", "cocoa"], env=env, capture_output=True
    )
    assert piped.returncode == 0 and b"2 hits, showing 1-2" in piped.stdout
    assert not pager.exists()


def test_pager_settings_searchkit_pager_then_config_then_pager(news, env, pager, tmp_path):
    env["PAGER"] = "false-pager-that-does-not-exist"
    env["SEARCHKIT_PAGER"] = str(tmp_path / "pager.sh")
    code, raw = run_in_terminal(["search", "cocoa"], env)
    assert "PAGED-BY-TEST" in raw and pager.exists()
    pager.unlink()
    # A pager that cannot be started: the text is printed instead.
    del env["SEARCHKIT_PAGER"]
    code, raw = run_in_terminal(["search", "cocoa"], env)
    assert code == 0 and "2 hits, showing 1-2" in raw
    # `pager = false` in the configuration file, or `cat`: no pager.
    config = tmp_path / "xdg" / "searchkit" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("pager = false\n", encoding="utf-8")
    env["PAGER"] = str(tmp_path / "pager.sh")
    code, raw = run_in_terminal(["search", "cocoa"], env)
    assert "2 hits, showing 1-2" in raw and not pager.exists()


# -- progress --------------------------------------------------------------------------------


def test_warnings_print_above_the_progress_bar(tmp_path, env):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"a{i:02}.txt").write_text(
            f"Article {i} about storms\n\nThe storm number {i} hit the coast.\n", "utf-8"
        )
    # Met half-way through reading, while the bar is on screen.
    (corpus / "a15b.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus / "a20b.json").write_text('{"title": "x"', encoding="utf-8")
    code, raw = run_in_terminal(["index", str(corpus), "--workers", "1"], env)
    assert code == 0, raw
    lines = [line for line in screen(raw) if line]
    assert lines[0] == f"skipped: {corpus / 'a15b.txt'}: binary file"
    assert lines[1].startswith(f"skipped: {corpus / 'a20b.json'}: bad JSON (")
    assert re.fullmatch(r"reading  \[#{40}\] 32/32  100%  in \d+\.\ds", lines[2]), lines[2]
    assert re.fullmatch(r"writing  \[#{40}\] 30/30  100%  in \d+\.\ds", lines[3]), lines[3]
    assert lines[4].startswith("30 added, 0 updated, 0 deleted, 0 unchanged, 2 skipped")
    assert len(lines) == 5
    # The bar was on screen before the first warning, which erased it first.
    first_warning = raw.index("skipped: ")
    assert "reading  [" in raw[:first_warning]
    assert raw[:first_warning].endswith("\x1b[K")


def test_ctrl_c_during_a_bar_ends_its_line_then_says_what_was_kept(tmp_path, env):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(1500):
        (corpus / f"a{i:04}.txt").write_text(f"Article {i}\n\nstorm number {i}\n", "utf-8")
    code, raw = run_in_terminal(
        ["index", str(corpus), "--workers", "1"], env, interrupt_after="reading  ["
    )
    if code == 0:
        pytest.skip("the run ended before the interrupt arrived (a very fast machine)")
    assert code == 130
    lines = screen(raw)
    while lines and not lines[-1]:
        lines.pop()
    assert lines[-1].startswith("interrupted: what this run committed at its checkpoints is kept")
    # Right above: the bar's last state, its line ended once (no blank line between).
    assert re.match(r"(\^C)?reading  \[#*-*\] \d[\d,]*/1,500 ", lines[-2]), lines[-2:]


class _Screen:
    def __init__(self) -> None:
        self.written = ""

    def write(self, text: str) -> None:
        self.written += text

    def flush(self) -> None:
        pass


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def bar(filled: int, width: int = 40) -> str:
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def test_progress_line_shows_rate_and_eta_on_long_runs():
    out, clock = _Screen(), _Clock()
    line = ProgressLine(out, width=100, clock=clock, eta_after=2.0)
    line.update("reading", 0, 1000)
    clock.now += 1.0
    line.update("reading", 100, 1000)
    assert screen(out.written) == [f"reading  {bar(4)} 100/1,000   10%"]
    clock.now += 3.0  # 4 s for 400 files: 100 files/s, 600 to go: 6 s
    line.update("reading", 400, 1000)
    assert screen(out.written) == [f"reading  {bar(16)} 400/1,000   40%  100 files/s  ETA 0:06"]
    clock.now += 2.0
    line.update("writing", 50, 5000)
    clock.now += 50.0
    line.update("writing", 2550, 5000)
    assert screen(out.written) == [
        f"reading  {bar(16)} 400/1,000   40%  in 6.0s",
        f"writing  {bar(20)} 2,550/5,000   51%  51 docs/s  ETA 0:48",
    ]
    clock.now += 0.01  # redraws wait for the interval
    line.update("writing", 2600, 5000)
    assert screen(out.written)[-1].startswith("writing  [####################-")
    assert "2,550/5,000" in screen(out.written)[-1]
    line.message("warning: something")
    line.close()
    assert screen(out.written)[1:] == [
        "warning: something",
        f"writing  {bar(20)} 2,600/5,000   52%  in 50.0s",
        "",
    ]


def test_progress_line_fits_a_narrow_terminal():
    out, clock = _Screen(), _Clock()
    line = ProgressLine(out, width=60, clock=clock)
    line.update("writing", 12345, 99999)
    assert screen(out.written) == ["writing  12,345/99,999   12%"]
    line = ProgressLine(out := _Screen(), width=80, clock=clock)
    line.update("writing", 50, 100)
    assert screen(out.written) == [f"writing  {bar(11, 22)} 50/100   50%"]


# -- fast small commands ---------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["search", "--help"], ["config"]])
def test_small_commands_do_not_import_whoosh(args, env):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "searchkit", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "searchkit.cli" in imported
    assert not [m for m in imported if m.split(".")[0] in ("whoosh", "yaml", "watchdog")]
