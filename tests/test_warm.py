"""The warm command line: with a server running for the index, `search`, `show`, `similar`
and `stats` print the same bytes as without one, and a dead, stale or foreign server is
passed over for an in-process answer."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_cli

import searchkit.cli
import searchkit.cli_search
from searchkit import Index, warm, warm_server
from searchkit.warm_server import WarmServer

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def same_run(text: str) -> str:
    """Output with the search's own duration left out (it differs between any two runs)."""
    text = re.sub(r"\(\d+\.\d ms\)", "(_ ms)", text)
    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": _', text)


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample corpus indexed into tmp/index; the current folder is tmp, so that
    paths print relative to it."""
    shutil.copytree(CORPUS, tmp_path / "corpus")
    with Index(tmp_path / "index") as index:
        index.update([tmp_path / "corpus"])
    monkeypatch.chdir(tmp_path)
    return tmp_path / "index"


@pytest.fixture
def warm_server_for(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """`warm_server_for(index_path)`: a warm server in a thread, recorded in the index folder;
    returns the list its answers are appended to. Shut down after the test."""
    started: list[tuple[WarmServer, threading.Thread]] = []
    answers: list[dict] = []
    real = warm_server.answer

    def counted(index, request):
        reply = real(index, request)
        answers.append(reply)
        return reply

    monkeypatch.setattr(warm_server, "answer", counted)

    def start(index_path: Path) -> list[dict]:
        server = WarmServer(Index(index_path))
        assert server.record()
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((server, thread))
        return answers

    yield start
    for server, thread in started:
        server.shutdown()
        server.close()
        server.index.close()
        thread.join(5)


def cold(monkeypatch: pytest.MonkeyPatch, *args: str):
    with monkeypatch.context() as m:
        m.setenv(warm.ENV, "0")
        return run_cli(*args)


def no_index_here(*args, **kwargs):
    raise AssertionError("the command opened the index itself")


COMMANDS = [
    ["search", "cocoa"],
    ["search", "cocoa", "--facet", "year", "--facet", "folder", "--where", "folder=business"],
    ["search", "cocoa", "--format", "json", "--facet", "topics"],
    ["search", "cocoa", "--format", "jsonl"],
    ["search", "cocoa", "--explain", "--color", "always"],
    ["search", "cocoa", "-c"],
    ["search", "cocoa OR italy", "-l"],
    ["search", "cocao", "--format", "jsonl"],
    ["search", "nothingmatchesthis"],
    ["search", "cocoa", "--since", "notadate"],
    ["search", "title:", "--strict"],
    ["search", "lockdown italy", "--sort", "-date", "-n", "2", "--page", "2"],
    ["show", "wire-001"],
    ["show", "wire-001", "--format", "json"],
    ["show", "corpus/feeds/wire.jsonl"],
    ["show", "corpus/feeds/wire.jsonl", "--format", "json"],
    ["show", "corpus/business/cocoa-prices-record-high.txt"],
    ["show", "wire-01"],
    ["similar", "wire-001"],
    ["similar", "wire-001", "--format", "json"],
    ["similar", "nosuch"],
    ["stats"],
    ["stats", "--format", "json"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_a_warm_answer_is_the_same_bytes_as_a_cold_one(archive, warm_server_for, monkeypatch, args):
    expected = cold(monkeypatch, *args)
    answers = warm_server_for(archive)
    with monkeypatch.context() as m:
        # The command must not open the index: the server answers.
        m.setattr(searchkit.cli_search, "open_index", no_index_here)
        m.setattr(searchkit.cli, "open_index", no_index_here)
        got = run_cli(*args)
    assert len(answers) == 1 and "fallback" not in answers[0]
    assert got.exit_code == expected.exit_code, got.output
    assert same_run(got.stdout) == same_run(expected.stdout)
    assert got.stderr == expected.stderr


def test_paths_print_relative_to_the_clients_folder(archive, warm_server_for, monkeypatch):
    warm_server_for(archive)
    monkeypatch.chdir(archive.parent / "corpus")
    got = run_cli("search", "cocoa", "-l")
    assert got.exit_code == 0
    assert "business/cocoa-prices-record-high.txt" in got.stdout.splitlines()
    with monkeypatch.context() as m:
        m.chdir(archive)  # below which no document lies: every path prints absolute
        absolute = run_cli("search", "cocoa", "-l")
        assert absolute.stdout == cold(monkeypatch, "search", "cocoa", "-l").stdout
    assert str(archive.parent / "corpus/business/cocoa-prices-record-high.txt") in absolute.stdout
    assert os.getcwd() == str(archive.parent / "corpus")


def test_a_stale_record_is_passed_over(archive, monkeypatch):
    expected = cold(monkeypatch, "search", "cocoa", "-l")
    private = tempfile.mkdtemp()  # mode 0700, as the server's own
    record = {"socket": os.path.join(private, "gone.sock"), "pid": 1, "code": warm.CODE}
    Path(warm.record_path(str(archive))).write_text(json.dumps(record), encoding="utf-8")
    got = run_cli("search", "cocoa", "-l")
    assert (got.exit_code, got.stdout, got.stderr) == (0, expected.stdout, expected.stderr)


def test_a_server_that_accepts_nothing_is_passed_over_quickly(archive, tmp_path, monkeypatch):
    # A socket that listens but never answers (a stopped server): the connection is queued.
    path = str(tmp_path / "stuck.sock")
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.bind(path)
    stuck.listen(5)
    try:
        record = {"socket": path, "pid": 1, "code": warm.CODE}
        Path(warm.record_path(str(archive))).write_text(json.dumps(record), encoding="utf-8")
        started = time.monotonic()
        got = run_cli("search", "cocoa", "-c")
        assert time.monotonic() - started < warm.ACK_TIMEOUT + 5
        assert (got.exit_code, got.stdout) == (0, cold(monkeypatch, "search", "cocoa", "-c").stdout)
    finally:
        stuck.close()


def test_a_server_of_other_code_or_another_index_is_not_asked(archive, warm_server_for, tmp_path):
    answers = warm_server_for(archive)
    record_file = Path(warm.record_path(str(archive)))
    record = json.loads(record_file.read_text(encoding="utf-8"))
    record_file.write_text(json.dumps({**record, "code": "/elsewhere"}), encoding="utf-8")
    assert run_cli("search", "cocoa", "-c").exit_code == 0
    assert answers == []
    # The same server recorded in another index's folder answers nothing for that index.
    other = tmp_path / "other"
    with Index(other) as index:
        index.update([tmp_path / "corpus" / "sport"])
    Path(warm.record_path(str(other))).write_text(json.dumps(record), encoding="utf-8")
    got = run_cli("search", "cocoa", "-c", "--index", str(other))
    assert got.stdout == "0\n" and answers == [{"fallback": "another index"}]


def test_a_socket_in_a_folder_others_can_enter_is_not_trusted(archive, warm_server_for):
    answers = warm_server_for(archive)
    record = json.loads(Path(warm.record_path(str(archive))).read_text(encoding="utf-8"))
    folder = os.path.dirname(record["socket"])
    assert os.stat(folder).st_mode & 0o777 == 0o700
    os.chmod(folder, 0o755)
    assert run_cli("search", "cocoa", "-c").exit_code == 0
    assert answers == []
    os.chmod(folder, 0o700)
    assert run_cli("search", "cocoa", "-c").exit_code == 0
    assert len(answers) == 1


def test_the_server_sees_new_documents(archive, warm_server_for, tmp_path):
    warm_server_for(archive)
    assert run_cli("search", "zanzibar", "-c").stdout == "0\n"
    (tmp_path / "corpus" / "world" / "z.txt").write_text("Zanzibar\nZanzibar news.\n", "utf-8")
    with Index(archive) as index:
        index.update()
    assert run_cli("search", "zanzibar", "-c").stdout == "1\n"


# -- `searchkit serve` as a process -----------------------------------------------------------


def start_serve(archive: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "searchkit",
            "serve",
            "--index",
            str(archive),
            "--port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",  # not the clients' folder, which the answers must use
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), process.stderr.read() if not url else url
    return process, url


def run_searchkit(*args: str, warm_cli: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, warm.ENV: "1" if warm_cli else "0"}
    return subprocess.run(
        [sys.executable, "-m", "searchkit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_serve_answers_the_cli_and_ctrl_c_stops_it_cleanly(archive):
    process, url = start_serve(archive)
    try:
        record = Path(warm.record_path(str(archive)))
        assert json.loads(record.read_text(encoding="utf-8"))["pid"] == process.pid
        commands = (
            ["search", "cocoa"],
            ["search", "cocoa", "-l"],
            ["show", "corpus/feeds/wire.jsonl"],
        )
        for args in commands:
            warm_run = run_searchkit(*args)
            cold_run = run_searchkit(*args, warm_cli=False)
            assert warm_run.returncode == cold_run.returncode == 0
            assert same_run(warm_run.stdout) == same_run(cold_run.stdout)
            assert warm_run.stderr == cold_run.stderr
            if "-l" in args:
                assert "corpus/business/cocoa-prices-record-high.txt" in warm_run.stdout.split()
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 130
        assert not record.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_stops_serve_with_143_and_removes_the_record(archive):
    process, url = start_serve(archive)
    try:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 143
        assert not Path(warm.record_path(str(archive))).exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_killed_server_leaves_a_record_the_cli_passes_over(archive):
    process, _ = start_serve(archive)
    process.kill()
    process.wait()
    assert Path(warm.record_path(str(archive))).exists()
    run = run_searchkit("search", "cocoa", "-c")
    assert (run.returncode, run.stdout) == (
        0,
        run_searchkit("search", "cocoa", "-c", warm_cli=False).stdout,
    )
    # The next server replaces the stale record.
    process, _ = start_serve(archive)
    try:
        record = json.loads(Path(warm.record_path(str(archive))).read_text(encoding="utf-8"))
        assert record["pid"] == process.pid
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)


def test_serve_with_watch_indexes_new_files(archive):
    corpus = archive.parent / "corpus"
    process, url = start_serve(archive, "--watch", str(corpus))
    try:
        (corpus / "world" / "quokka.txt").write_text("Quokka\nA quokka story.\n", "utf-8")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if run_searchkit("search", "quokka", "-c").stdout == "1\n":
                break
            time.sleep(0.3)
        else:
            pytest.fail("the watching server never indexed the new file")
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130


def test_a_port_in_use_is_one_error_line(archive):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert not Path(warm.record_path(str(archive))).exists()


def test_paths_without_watch_are_a_usage_error(archive):
    result = run_cli("serve", "somewhere")
    assert result.exit_code == 2 and "--watch" in result.stderr


def test_another_host_is_warned_about(archive):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "searchkit",
            "serve",
            "--index",
            str(archive),
            "--port",
            "0",
            "--host",
            "0.0.0.0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        assert "warning: listening on 0.0.0.0" in process.stderr.readline()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)
