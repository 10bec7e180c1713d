"""Every error searchkit raises on purpose: one base class, a few small subclasses with data."""

from __future__ import annotations


class SearchkitError(Exception):
    """Base class of every error searchkit raises on purpose."""

    #: Suggested fix, shown by the CLI under the message when set.
    hint: str | None = None


class UsageError(SearchkitError):
    """A bad argument or option value: the caller can fix the call."""


class CorpusNotFound(UsageError):
    """A corpus path that does not exist."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"corpus path not found: {path}")


class IndexNotFound(SearchkitError):
    """No index at the path; `searchkit index` creates one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.hint = "run `searchkit index` to create it"
        super().__init__(f"no index at {path}")


class NotAnIndex(UsageError):
    """The path exists but is not a searchkit index, so searchkit will not write into it."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path} is not a searchkit index: {reason}")


class IndexCorrupt(SearchkitError):
    """The index exists but cannot be read."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        self.hint = "run `searchkit index --rebuild` to build it anew from the corpus"
        super().__init__(f"index at {path} cannot be read: {reason}")


class IndexLocked(SearchkitError):
    """Another process holds the index's write lock."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.hint = "wait for the other `searchkit index` or `searchkit watch` to finish"
        super().__init__(f"index at {path} is locked by another writer (waited {timeout:g}s)")


class WatcherRunning(IndexLocked):
    """Another `searchkit watch` already keeps this index current; one watcher per index."""

    def __init__(self, path: str) -> None:
        SearchkitError.__init__(self, f"index at {path} is already watched by another process")
        self.path = path
        self.timeout = 0.0
        self.hint = "stop the other `searchkit watch` first"


class IndexWriteError(SearchkitError):
    """The index directory cannot be written (read-only, full, permissions)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot write the index at {path}: {reason}")


class DocumentError(SearchkitError):
    """A document that cannot be indexed as given."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class DateError(UsageError):
    """A date that cannot be parsed."""

    def __init__(self, value: str, reason: str = "not a date") -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"cannot parse date {value!r}: {reason}")


class QuerySyntaxError(UsageError):
    """A query that cannot be parsed in strict mode."""

    def __init__(self, query: str, reason: str) -> None:
        self.query = query
        self.reason = reason
        super().__init__(f"query syntax error: {reason}")


class DocumentNotFound(SearchkitError):
    """No indexed document has this id."""

    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id
        super().__init__(f"no document with id {doc_id!r} in the index")


class InvalidValue(UsageError):
    """A value given to the API that is of the wrong type or out of range: names what it is."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


class ClusterError(SearchkitError):
    """The OpenSearch cluster at `url` refused a request, failed it, or could not be reached;
    `status` is the HTTP status when there was one."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        super().__init__(f"OpenSearch at {url}: {reason}")
