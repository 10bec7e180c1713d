"""The warm command line: when `searchkit serve` runs for an index, `searchkit search`, `show`,
`similar` and `stats` ask it over a local socket instead of opening the index themselves, and
print what it answers; when no server answers, they work in-process as before.

This is the client side, imported by every such command: standard library only (no Whoosh,
no click), so asking costs a few milliseconds. The server side is `warm_server.py`.

Protocol: the server records `{"socket": PATH, "pid": ..., "code": ...}` in `serve.json`
in the index folder; the socket lives in a private folder (mode 0700) of its own, as socket
paths are limited to about 100 bytes. One request per connection: the server first writes
one byte (so a server that accepts nothing, such as a stopped process, is found out within
`ACK_TIMEOUT`), then reads one JSON line and writes one JSON line back.
"""

from __future__ import annotations

import json
import os
import socket

RECORD = "serve.json"
#: Set to 0 to never ask a server (benchmarks, debugging).
ENV = "SEARCHKIT_WARM"
ACK = b"+"
ACK_TIMEOUT = 1.0
#: Which searchkit code this is (its folder): a server answers only clients of its own code,
#: whose output is its own. (Read without importlib.metadata, which costs ~20 ms.)
CODE = os.path.dirname(os.path.abspath(__file__))


def record_path(index_path: str) -> str:
    """Where a server records its socket for the index at `index_path`."""
    return os.path.join(index_path, RECORD)


def ask(index_path: str, request: dict) -> dict | None:
    """The server's answer to `request`, or None when no server answers for this index (no
    record, a stale record, a dead or stopped server, another version): then the caller
    answers in-process, having printed nothing."""
    if os.environ.get(ENV, "1") == "0":
        return None
    try:
        with open(record_path(index_path), encoding="utf-8") as f:
            record = json.load(f)
        address = record["socket"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.get("code") != CODE:
        return None  # a server running other searchkit code could print something else
    if not _private(os.path.dirname(address)):
        return None  # a record pointing anywhere else could be anyone's answer
    request = {**request, "index": os.path.abspath(index_path)}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(ACK_TIMEOUT)
            conn.connect(address)
            if conn.recv(1) != ACK:
                return None
            # The search itself may take as long as it takes; a server that dies meanwhile
            # closes the connection, and the caller answers in-process.
            conn.settimeout(None)
            conn.sendall(json.dumps(request).encode() + b"\n")
            reply = _read_line(conn)
    except (OSError, ValueError):
        return None
    try:
        answer = json.loads(reply)
    except ValueError:
        return None
    if not isinstance(answer, dict) or "fallback" in answer:
        return None
    return answer


def _private(folder: str) -> bool:
    """True if `folder` is this user's and no one else's (what the server makes)."""
    try:
        info = os.stat(folder)
    except (OSError, ValueError):
        return False
    return info.st_uid == os.getuid() and info.st_mode & 0o077 == 0


def _read_line(conn: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            raise ValueError("connection closed before the answer ended")
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)
