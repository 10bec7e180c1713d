"""Loading an export into an OpenSearch cluster: create the index, send the bulk files with
retries and back-off, report per-document failures, resume where an interrupted push stopped.

Retries are searchkit's, not the client's (its transport retries at once, without waiting):
a 429 (the cluster's write queue is full), a 502/503/504 or a lost connection is retried after
`backoff * 2**attempt` seconds (at most `max_backoff`), `retries` times. Inside a bulk answer,
documents rejected with 429 are sent again the same way; any other per-document error is
reported and the push goes on. After each bulk file the cluster has answered, the file is
recorded in `push-state.json` beside it, so a second run sends only the files after it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..documents import Document
from ..errors import ClusterError, InvalidValue, UsageError
from .export import DEFAULT_BULK_BYTES, INDEX_FILE, bulk_batches, read_manifest, write_json

STATE_FILE = "push-state.json"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 0.5
DEFAULT_MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class DocumentFailure:
    """A document the cluster refused: its id, the HTTP status of its item, the reason."""

    id: str
    status: int
    reason: str


@dataclass(frozen=True)
class PushReport:
    """What a push did: documents indexed, refused (with reasons), bulk files skipped because
    an earlier run sent them, requests retried, and whether the index was created."""

    url: str
    index_name: str
    indexed: int
    failures: tuple[DocumentFailure, ...]
    skipped_files: int
    retries: int
    created: bool

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{self.indexed} documents indexed into {self.index_name} at {self.url}"]
        if self.failures:
            parts.append(f"{len(self.failures)} refused (see above)")
        if self.skipped_files:
            parts.append(f"{self.skipped_files} bulk files already sent by an earlier run")
        if self.retries:
            parts.append(f"{self.retries} retries")
        return ", ".join(parts)


def make_client(url: str, *, timeout: float = 30.0):
    """An `opensearchpy.OpenSearch` client for `url` that leaves retrying to searchkit."""
    try:
        from opensearchpy import OpenSearch
    except ImportError:
        raise UsageError(
            "a cluster needs the OpenSearch client: pip install 'searchkit[opensearch]'"
        ) from None
    return OpenSearch(hosts=[url], max_retries=0, retry_on_timeout=False, timeout=timeout)


class Pusher:
    """Sends bulk bodies to one index with retries and back-off; `sleep` is injectable."""

    def __init__(
        self,
        url: str,
        index_name: str,
        *,
        client=None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
        on_failure: Callable[[DocumentFailure], None] | None = None,
    ) -> None:
        if not isinstance(retries, int) or retries < 0:
            raise InvalidValue("retries", f"must be a whole number of 0 or more, not {retries!r}")
        self.url = url
        self.index_name = index_name
        self.client = client if client is not None else make_client(url)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.on_failure = on_failure
        self.retried = 0
        self.indexed = 0
        self.failures: list[DocumentFailure] = []

    def _call(self, what: str, request: Callable[[], Any]) -> Any:
        """`request()`, retried on a retryable status or a lost connection."""
        from opensearchpy.exceptions import ConnectionError as ClientConnectionError
        from opensearchpy.exceptions import TransportError

        for attempt in range(self.retries + 1):
            try:
                return request()
            except ClientConnectionError as exc:
                error: Exception = exc
                status = None
            except TransportError as exc:
                error = exc
                status = exc.status_code if isinstance(exc.status_code, int) else None
                if status not in RETRY_STATUSES:
                    refused = ClusterError(self.url, f"{what}: {_reason(exc)}", status)
                    if status == 413:
                        refused.hint = "send smaller requests: a lower --bulk-size"
                    raise refused from None
            if attempt == self.retries:
                reason = _reason(error) if status else f"cannot connect ({error})"
                raise ClusterError(
                    self.url, f"{what}: {reason} (after {self.retries} retries)", status
                ) from None
            self.retried += 1
            self.sleep(min(self.max_backoff, self.backoff * 2**attempt))
        raise AssertionError("unreachable")

    def create_index(self, body: dict) -> bool:
        """Create the index unless it exists; True if this call created it."""
        name = self.index_name
        if self._call(f"checking index {name}", lambda: self.client.indices.exists(index=name)):
            return False
        self._call(
            f"creating index {name}", lambda: self.client.indices.create(index=name, body=body)
        )
        return True

    def send(self, body: bytes) -> None:
        """One bulk body; documents rejected with 429 go again after a back-off."""
        pending = body
        for attempt in range(self.retries + 1):
            answer = self._call(f"bulk request to {self.index_name}", self._bulk(pending))
            again = self._read_items(pending, answer, last=attempt == self.retries)
            if not again:
                return
            pending = again
            self.retried += 1
            self.sleep(min(self.max_backoff, self.backoff * 2**attempt))

    def _bulk(self, data: bytes) -> Callable[[], Any]:
        return lambda: self.client.bulk(body=data, index=self.index_name)

    def _read_items(self, body: bytes, answer: dict, *, last: bool) -> bytes:
        """Count the answer's items; the lines of the documents to send again (429s)."""
        lines = body.splitlines(keepends=True)
        pairs = [lines[i : i + 2] for i in range(0, len(lines), 2)]
        items = answer.get("items") or []
        if len(items) != len(pairs):
            raise ClusterError(
                self.url, f"bulk answer has {len(items)} items for {len(pairs)} documents"
            )
        again: list[bytes] = []
        for pair, item in zip(pairs, items, strict=True):
            result = next(iter(item.values()))
            status = int(result.get("status", 0))
            if 200 <= status < 300:
                self.indexed += 1
            elif status == 429 and not last:
                again.extend(pair)
            else:
                doc_id = str(result.get("_id") or json.loads(pair[0])["index"]["_id"])
                failure = DocumentFailure(doc_id, status, _item_reason(result.get("error")))
                self.failures.append(failure)
                if self.on_failure is not None:
                    self.on_failure(failure)
        return b"".join(again)

    def report(self, *, created: bool, skipped_files: int = 0) -> PushReport:
        """What this pusher did so far."""
        return PushReport(
            url=self.url,
            index_name=self.index_name,
            indexed=self.indexed,
            failures=tuple(self.failures),
            skipped_files=skipped_files,
            retries=self.retried,
            created=created,
        )


def push_folder(
    folder: str | os.PathLike, url: str, *, index_name: str | None = None, **options
) -> PushReport:
    """Load the export in `folder` into the cluster at `url` (the manifest's index name unless
    `index_name`), resuming after the last file an earlier push of the same target finished.

    `options` go to `Pusher` (client, retries, backoff, max_backoff, sleep, on_failure).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    name = index_name or manifest["index_name"]
    pusher = Pusher(url, name, **options)
    state_path = folder / STATE_FILE
    state = _read_state(state_path, url, name)
    created = False
    if not state["created"]:
        body = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        created = pusher.create_index(body)
        state["created"] = True
        write_json(state_path, state)
    done = set(state["done"])
    skipped = 0
    for file_name in manifest["files"]:
        if file_name in done:
            skipped += 1
            continue
        pusher.send((folder / file_name).read_bytes())
        state["done"].append(file_name)
        write_json(state_path, state)
    return pusher.report(created=created, skipped_files=skipped)


def push_documents(
    documents: Iterable[Document],
    url: str,
    *,
    index_name: str,
    index_body: dict,
    max_bytes: int = DEFAULT_BULK_BYTES,
    **options,
) -> PushReport:
    """Load documents straight into the cluster (nothing written, so nothing to resume)."""
    pusher = Pusher(url, index_name, **options)
    created = pusher.create_index(index_body)
    for body in bulk_batches(documents, max_bytes):
        pusher.send(body)
    return pusher.report(created=created)


def _read_state(path: Path, url: str, name: str) -> dict:
    fresh = {"url": url, "index_name": name, "created": False, "done": []}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return fresh
    # The state of a push to another cluster or index says nothing about this one.
    if state.get("url") != url or state.get("index_name") != name:
        return fresh
    return {**fresh, **state}


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    info = getattr(exc, "info", None)
    detail = ""
    if isinstance(info, dict):
        detail = _item_reason(info.get("error"))
    text = detail or (str(error) if error else str(exc))
    return f"HTTP {status}: {text}" if isinstance(status, int) else text


def _item_reason(error) -> str:
    if isinstance(error, dict):
        kind = error.get("type", "error")
        reason = error.get("reason", "")
        return f"{kind}: {reason}" if reason else str(kind)
    return str(error) if error else "unknown error"
