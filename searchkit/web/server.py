"""`searchkit serve`: the web page and the JSON API over one open `Index` (or any object with
its `search`, `get`, `similar` and `stats`: an `OpenSearchIndex`), on the standard library's
threading HTTP server.

A thin edge: each route parses its URL into a `SearchRequest`, makes the library call the
command line makes, and renders HTML (`pages.py`) or the CLI's JSON (`payload.py`). Library
errors become HTTP statuses here and nowhere else. Read-only: only GET and HEAD are served.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import unquote, urlsplit

from .. import payload
from ..errors import (
    ClusterError,
    DocumentNotFound,
    IndexCorrupt,
    IndexNotFound,
    NotAnIndex,
    SearchkitError,
    UsageError,
)
from . import pages
from .request import SearchRequest

#: The Content-Security-Policy of every response: the app's own script and stylesheet only,
#: nothing inline, no other origin, no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: The files under /static/: a fixed list, so no URL can name another file.
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
#: Facet fields shown on the page when the URL names none: at most this many, in name order,
#: leaving out fields with more distinct values than a side column can usefully list (a
#: dateline: 7,481 on Reuters).
DEFAULT_FACETS = 8
MAX_DEFAULT_DISTINCT = 1000
#: How long the index's statistics (the page's facet fields, its document count) are reused
#: before they are read again, in the background.
STATS_TTL = 30.0
#: How long a page waits for the first statistics (a small index has them at once).
STATS_WAIT = 2.0
SIMILAR_ON_PAGE = 8
LOOPBACK_NAMES = ("localhost",)


def status_of(error: SearchkitError) -> int:
    """The HTTP status of a library error: 404 unknown id, 503 no usable index (or a cluster
    that cannot be reached, is overloaded or fails), 400 a bad query, date or parameter (or
    one the cluster refuses), 502 another refusal from the cluster, 500 anything else."""
    if isinstance(error, DocumentNotFound):
        return HTTPStatus.NOT_FOUND
    if isinstance(error, (IndexNotFound, IndexCorrupt, NotAnIndex)):
        return HTTPStatus.SERVICE_UNAVAILABLE
    if isinstance(error, ClusterError):
        if error.status is None or error.status == 429 or error.status >= 500:
            return HTTPStatus.SERVICE_UNAVAILABLE
        # A 400 is the request's fault (a page past the cluster's 10,000 hits); a 401 or 403
        # is the server's credentials, not the visitor's request.
        return HTTPStatus.BAD_REQUEST if error.status == 400 else HTTPStatus.BAD_GATEWAY
    if isinstance(error, UsageError):
        return HTTPStatus.BAD_REQUEST
    return HTTPStatus.INTERNAL_SERVER_ERROR


def message_of(error: SearchkitError) -> str:
    """The one line the command line prints for this error (after `Error: `)."""
    return f"{error} (hint: {error.hint})" if error.hint else str(error)


class SearchServer(ThreadingHTTPServer):
    """The HTTP server of one index. `index` is shared by the request threads (an `Index` is
    safe to search from several threads and follows new commits and rebuilds by itself; an
    `OpenSearchIndex` serves a cluster's index the same way)."""

    daemon_threads = True
    # A restart right after Ctrl-C must not fail on the port still in TIME_WAIT.
    allow_reuse_address = True

    def __init__(
        self,
        index,
        address: tuple[str, int],
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.index = index
        self.log = log
        self.stats = StatsCache(index, STATS_TTL)
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.host = host
        self.port = self.server_address[1]

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "localhost"
        return f"http://[{host}]:{self.port}/" if ":" in host else f"http://{host}:{self.port}/"

    def host_allowed(self, header: str | None) -> bool:
        """True if a request's `Host` header names this server: `localhost`, the address it
        is bound to, or (bound to every address) any IP address; with this port or none.

        A page elsewhere can point its own host name at 127.0.0.1 (DNS rebinding) but cannot
        make the browser send another Host header, so this refuses it."""
        if not header:
            return False
        parts = urlsplit(f"//{header}")
        try:
            name, port = parts.hostname, parts.port
        except ValueError:
            return False
        if not name or (port is not None and port != self.port):
            return False
        if name in LOOPBACK_NAMES or name == self.host.strip("[]").lower():
            return True
        if self.host in ("", "0.0.0.0", "::"):
            try:
                ipaddress.ip_address(name)
            except ValueError:
                return name == socket.gethostname().lower()
            return True
        return False

    def facet_fields(self) -> tuple[str, ...]:
        """The metadata fields shown as facets when the URL names none (none until the
        statistics are read)."""
        stats = self.stats.get(wait=STATS_WAIT)
        if stats is None:
            return ()
        return tuple(
            f.name
            for f in stats.fields
            if f.name not in pages.LEVELS and 1 < f.distinct <= MAX_DEFAULT_DISTINCT
        )

    def handle_error(self, request, client_address) -> None:
        # A client that went away mid-answer is not the server's error.
        if self.log is not None:
            self.log(f"error answering {client_address[0]}: {traceback.format_exc(limit=3)}")


class StatsCache:
    """`Index.stats()`, read in a background thread and kept for `ttl` seconds: a page never
    waits for more than a moment (stats reads every date term: 16 s on Reuters under load)."""

    def __init__(self, index, ttl: float) -> None:
        self._index = index
        self._ttl = ttl
        self._value = None
        self._read_at = -ttl
        self._reading = False
        self._lock = threading.Lock()
        self._first = threading.Event()

    def get(self, *, wait: float = 0.0):
        """The latest statistics read (None if none could be read yet); starts reading anew
        when they are older than the time to live, waiting at most `wait` seconds for the
        first."""
        with self._lock:
            if not self._reading and time.monotonic() - self._read_at > self._ttl:
                self._reading = True
                threading.Thread(target=self._read, daemon=True).start()
        if self._value is None and wait:
            self._first.wait(wait)
        return self._value

    def _read(self) -> None:
        value = None
        try:
            value = self._index.stats()
        except (SearchkitError, OSError):
            pass  # no index (yet), or one being swapped: the searches say what is wrong
        finally:
            with self._lock:
                if value is not None:
                    self._value = value
                self._read_at = time.monotonic()
                self._reading = False
            self._first.set()


class Handler(BaseHTTPRequestHandler):
    """Routes: `/`, `/doc/ID`, `/static/NAME`, `/api/search`, `/api/doc/ID`,
    `/api/similar/ID`, `/api/stats`."""

    server: SearchServer
    protocol_version = "HTTP/1.1"
    server_version = "searchkit"
    sys_version = ""

    # -- HTTP ------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - the name http.server looks up
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def _refuse_method(self) -> None:
        # The request's body is not read: the connection cannot carry another request.
        self.close_connection = True
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            *_json({"error": "read-only: GET only"}),
            extra={"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method  # noqa: N815

    def log_message(self, format: str, *args) -> None:
        """Requests are not logged (the terminal is the server's status line)."""

    def _answer(self, *, head: bool) -> None:
        self._head = head
        if not self.server.host_allowed(self.headers.get("Host")):
            self._send(
                HTTPStatus.FORBIDDEN,
                *_json({"error": "this server answers only requests addressed to it (Host)"}),
            )
            return
        url = urlsplit(self.path)
        path, query = url.path, url.query
        try:
            if path == "/":
                self._page(query)
            elif path.startswith("/doc/"):
                self._document_page(_id_of(path, "/doc/"))
            elif path.startswith("/static/"):
                self._static(path.removeprefix("/static/"))
            elif path == "/api/search":
                request = SearchRequest.from_query_string(query)
                results = self.server.index.search(request.q, **request.search_options())
                self._send_json(payload.results_payload(results))
            elif path.startswith("/api/doc/"):
                doc = self.server.index.get(_id_of(path, "/api/doc/"))
                self._send_json(payload.document_payload(doc))
            elif path.startswith("/api/similar/"):
                request = SearchRequest.from_query_string(query)
                results = self.server.index.similar(
                    _id_of(path, "/api/similar/"),
                    limit=request.limit,
                    fragments=request.fragments,
                )
                self._send_json(payload.results_payload(results))
            elif path == "/api/stats":
                self._send_json(payload.stats_payload(self.server.index.stats()))
            else:
                self._not_found(path)
        except SearchkitError as exc:
            self._library_error(path, exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left
        except Exception:  # noqa: BLE001 - one request's bug must not end the answer silently
            if self.server.log is not None:
                self.server.log(f"error answering {self.path}: {traceback.format_exc(limit=5)}")
            self._send(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                *_json({"error": "internal error (the server's log has the details)"}),
            )

    # -- the routes ------------------------------------------------------------------------

    def _page(self, query: str) -> None:
        try:
            request = SearchRequest.from_query_string(query)
        except SearchkitError as exc:
            self._library_error("/", exc)
            return
        status: int = HTTPStatus.OK
        try:
            html = self._search_page(request)
        except SearchkitError as exc:
            status = status_of(exc)
            html = pages.search_page(
                request, None, facets=(), histogram=None, error=message_of(exc)
            )
        self._send(status, html.encode(), "text/html; charset=utf-8")

    def _search_page(self, request: SearchRequest) -> str:
        index = self.server.index
        fields = request.facets or self.server.facet_fields()[:DEFAULT_FACETS]
        if not request.q:
            stats = self.server.stats.get(wait=STATS_WAIT)
            if stats is None:
                index.search("", limit=1)  # no index: the 503 says so
                intro = '<p class="intro">Type a query above.</p>'
            else:
                span = f", {stats.earliest[:10]} to {stats.latest[:10]}" if stats.earliest else ""
                intro = (
                    f'<p class="intro">{stats.documents:,} documents{pages.esc(span)}. '
                    "Type a query above.</p>"
                )
            return pages.search_page(request, None, facets=(), histogram=None, intro=intro)
        level = pages.histogram_level(request)
        results = index.search(request.q, **request.search_options([*fields, level]))
        facets = []
        for field in fields:
            counts = results.facets.get(field, ())
            if any(f == field for f, _ in request.filters()):
                # Values of one field are OR'ed: its own counts come from the search without
                # its filters, so that the other values stay there to be added.
                wider = request.without_field(field)
                counts = index.search(
                    wider.q,
                    **{**wider.search_options([field]), "limit": 1, "page": 1, "fragments": 0},
                ).facets.get(field, ())
            facets.append((field, [(c.value, c.count) for c in counts]))
        bars = tuple((c.value, c.count) for c in results.facets.get(level, ()))
        up = None
        if level == "month":
            up = request.changed(since=None, until=None)
        elif level == "day":
            year = (request.since or "")[:4]
            up = request.changed(since=year, until=year)
        histogram = pages.Histogram(level, bars, up)
        return pages.search_page(request, results, facets=facets, histogram=histogram)

    def _document_page(self, doc_id: str) -> None:
        index = self.server.index
        doc = index.get(doc_id)
        similar = index.similar(doc_id, limit=SIMILAR_ON_PAGE, fragments=0)
        self._send(
            HTTPStatus.OK, pages.document_page(doc, similar).encode(), "text/html; charset=utf-8"
        )

    def _static(self, name: str) -> None:
        if name not in STATIC:
            self._not_found(f"/static/{name}")
            return
        data = resources.files(__package__).joinpath("static", name).read_bytes()
        self._send(HTTPStatus.OK, data, f"{STATIC[name]}; charset=utf-8")

    # -- answers ---------------------------------------------------------------------------

    def _not_found(self, path: str) -> None:
        message = f"no such page: {path}"
        if path.startswith("/api/"):
            self._send(HTTPStatus.NOT_FOUND, *_json({"error": message}))
        else:
            self._send(
                HTTPStatus.NOT_FOUND,
                pages.error_page(404, message).encode(),
                "text/html; charset=utf-8",
            )

    def _library_error(self, path: str, exc: SearchkitError) -> None:
        status = status_of(exc)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR and self.server.log is not None:
            self.server.log(f"error: {message_of(exc)}")
        if path.startswith("/api/"):
            self._send(status, *_json({"error": message_of(exc)}))
        else:
            page = pages.error_page(status, message_of(exc))
            self._send(status, page.encode(), "text/html; charset=utf-8")

    def _send_json(self, data: dict) -> None:
        self._send(HTTPStatus.OK, *_json(data))

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if not getattr(self, "_head", False):
            self.wfile.write(body)


def _json(data: dict) -> tuple[bytes, str]:
    return (payload.dumps(data) + "\n").encode(), "application/json; charset=utf-8"


def _id_of(path: str, prefix: str) -> str:
    """The document id in `prefix` + one percent-encoded segment. It is only ever looked up
    in the index, never joined to a file path."""
    raw = path[len(prefix) :]
    if not raw:
        raise DocumentNotFound("")
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise DocumentNotFound(raw) from None
