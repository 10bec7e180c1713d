"""The server side of the warm command line (`warm.py` is the client): a Unix socket beside
`searchkit serve` that answers `search`, `show`, `similar` and `stats` from the server's open
index with exactly the lines the command would print by itself.

An answer is a list of actions the client replays through the same click calls the command
makes: `["out", text]` (click.echo to stdout), `["err", text]` (to stderr), `["emit", text]`
(text for people: the pager on a terminal), and an exit status; or `{"error": message,
"exit": code}`, which the client raises as the command's one-line error; or `{"fallback":
reason}`: the client answers in-process.

The text is rendered here with the command line's own functions (`output`, `payload`,
`cli_search`'s helpers); `tests/test_warm.py` runs every mode warm and cold and compares the
bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socketserver
import tempfile
import threading

from . import output, payload, warm
from .errors import DocumentNotFound, IndexLocked, SearchkitError

#: A request is a few hundred bytes; this bounds what a client can make the server read.
MAX_REQUEST = 1 << 20

# `output.display_path` shows paths relative to the *client's* current folder, and reads the
# process's: answers that show paths borrow the client's folder for their formatting, one at a
# time. Nothing else in the server depends on the current folder (every path it holds is
# absolute), and the formatting is pure string work.
_cwd_lock = threading.Lock()


@contextlib.contextmanager
def _client_directory(cwd: str):
    with _cwd_lock:
        previous = os.getcwd()
        os.chdir(cwd)
        try:
            yield
        finally:
            os.chdir(previous)


class WarmServer(socketserver.ThreadingUnixStreamServer):
    """The socket the warm command line asks, for one open `Index`."""

    daemon_threads = True

    def __init__(self, index) -> None:
        self.index = index
        # A private folder (mode 0700, made by mkdtemp): only this user can connect.
        self.folder = tempfile.mkdtemp(prefix="searchkit-")
        self.socket_path = os.path.join(self.folder, "warm.sock")
        super().__init__(self.socket_path, _Handler)
        self.recorded = False

    def record(self) -> bool:
        """Record the socket in the index folder (atomically) so that commands find it; False
        when there is no index there yet or the folder cannot be written."""
        if not os.path.isfile(os.path.join(self.index.path, "searchkit.json")):
            return False
        record = {"socket": self.socket_path, "pid": os.getpid(), "code": warm.CODE}
        target = warm.record_path(self.index.path)
        tmp = f"{target}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f)
            os.replace(tmp, target)
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            return False
        self.recorded = True
        return True

    def handle_error(self, request, client_address) -> None:
        """A client that left before its answer was written: nothing to report."""

    def close(self) -> None:
        """Stop answering; remove the record (if it is still ours) and the socket."""
        self.server_close()
        if self.recorded:
            target = warm.record_path(self.index.path)
            with contextlib.suppress(OSError, ValueError):
                with open(target, encoding="utf-8") as f:
                    if json.load(f).get("socket") == self.socket_path:
                        os.remove(target)
        shutil.rmtree(self.folder, ignore_errors=True)


class _Handler(socketserver.StreamRequestHandler):
    server: WarmServer

    def handle(self) -> None:
        self.wfile.write(warm.ACK)
        self.wfile.flush()
        line = self.rfile.readline(MAX_REQUEST)
        try:
            request = json.loads(line)
            reply = answer(self.server.index, request)
        except Exception as exc:  # noqa: BLE001 - the client answers by itself instead
            reply = {"fallback": f"{type(exc).__name__}: {exc}"}
        self.wfile.write(json.dumps(reply).encode() + b"\n")


def answer(index, request: dict) -> dict:
    """The answer to one request (see the module docstring)."""
    if request.get("index") != index.path:
        return {"fallback": "another index"}
    command = request.get("command")
    actions: list[list[str]] = []
    try:
        with _client_directory(request["cwd"]):
            if command == "search":
                status = _search(index, request, actions)
            elif command == "show":
                status = _show(index, request, actions)
            elif command == "similar":
                status = _similar(index, request, actions)
            elif command == "stats":
                status = _stats(index, request, actions)
            else:
                return {"fallback": f"unknown command {command!r}"}
    except SearchkitError as exc:
        message = f"{exc} (hint: {exc.hint})" if exc.hint else str(exc)
        return {"error": message, "exit": 3 if isinstance(exc, IndexLocked) else 2}
    return {"actions": actions, "exit": status}


def _search(index, request: dict, actions: list) -> int:
    # As cli_search.search_command.
    text, options, mode = request["query"], request["options"], request["mode"]
    limit = request["limit"]
    if mode in ("count", "files"):
        results = index.search(text, limit=limit, fragments=0, **options)
        if mode == "files" and results.total > len(results.hits):
            results = index.search(text, limit=results.total, fragments=0, **options)
        actions += [["err", f"note: {note}"] for note in results.notes]
        if mode == "count":
            actions.append(["out", str(results.total)])
        else:
            _files(results, actions)
    else:
        results = index.search(
            text,
            limit=limit,
            page=request["page"],
            facets=request["facets"],
            facet_limit=request["facet_limit"],
            fragments=request["fragments"],
            explain=request["explain"],
            **options,
        )
        _results(results, request, actions)
    return 1 if results.total == 0 else 0


def _files(results, actions: list) -> None:
    # As cli_search._echo_files (its notes are added by the caller).
    paths, note = output.file_listing(results)
    actions.extend(["out", path] for path in paths)
    if note:
        actions.append(["err", note])


def _results(results, request: dict, actions: list) -> None:
    # As cli_common.echo_results.
    actions += [["err", f"note: {note}"] for note in results.notes]
    fmt = request["fmt"]
    if fmt == "json":
        actions.append(["out", payload.dumps(payload.results_payload(results))])
    elif fmt == "jsonl":
        actions += [["out", json.dumps(hit.as_dict(), ensure_ascii=False)] for hit in results]
        if results.suggestion:
            actions.append(["err", f"did you mean: {results.suggestion}"])
    else:
        text = output.format_results(
            results, color=request["color"], explain=request.get("explain", False)
        )
        actions.append(["emit", text])


def _show(index, request: dict, actions: list) -> int:
    # As cli_search.show_command.
    from .cli_search import _documents_read_from, _nearest_id_hint

    doc_id, fmt, color = request["id"], request["fmt"], request["color"]
    try:
        doc = index.get(doc_id)
    except DocumentNotFound as exc:
        found = _documents_read_from(index, request["path"])
        if not found:
            exc.hint = _nearest_id_hint(index, doc_id)
            raise
        if len(found) > 1:
            _listing(found, fmt, color, actions)
            return 0
        doc = index.get(found[0].id)
    if fmt == "json":
        actions.append(["out", payload.dumps(payload.document_payload(doc))])
    else:
        actions.append(["emit", output.format_document(doc, color=color)])
    return 0


def _listing(hits, fmt: str, color: bool, actions: list) -> None:
    # As cli_search._echo_listing.
    if fmt == "json":
        data = {
            "version": payload.version(),
            "path": hits[0].path,
            "documents": [{"id": h.id, "date": h.date, "title": h.title} for h in hits],
        }
        actions.append(["out", json.dumps(data, ensure_ascii=False, indent=2)])
        return
    actions.append(
        [
            "err",
            f"{output.display_path(hits[0].path)} holds {len(hits)} documents; "
            "show one with `searchkit show ID`:",
        ]
    )
    actions.append(["emit", output.format_listing(hits, color=color)])


def _similar(index, request: dict, actions: list) -> int:
    # As cli_search.similar_command.
    results = index.similar(request["id"], limit=request["limit"], fragments=request["fragments"])
    _results(results, request, actions)
    return 1 if results.total == 0 else 0


def _stats(index, request: dict, actions: list) -> int:
    # As cli.stats_command.
    from .cli_search import stats_text

    stats = index.stats()
    if request["fmt"] == "json":
        actions.append(["out", json.dumps(payload.stats_payload(stats), indent=2)])
    else:
        actions.append(["out", stats_text(stats)])
    return 0
