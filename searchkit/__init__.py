"""searchkit: full-text search for a folder of news articles.

    import searchkit
    with searchkit.Index("index") as ix:
        ix.update(["corpus"])
        results = ix.search("lockdown italy", facets=["year"])

The public names are listed in `__all__`. They are imported on first use (PEP 562), so that
`searchkit search` does not pay for the indexer, YAML or watchdog at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (
    CorpusNotFound,
    DateError,
    DocumentError,
    DocumentNotFound,
    IndexCorrupt,
    IndexLocked,
    IndexNotFound,
    IndexWriteError,
    InvalidValue,
    NotAnIndex,
    QuerySyntaxError,
    SearchkitError,
    UsageError,
    WatcherRunning,
)

_LAZY = {
    "PartialDate": "dates",
    "Document": "documents",
    "ParseResult": "documents",
    "Problem": "documents",
    "FieldStats": "index",
    "Index": "index",
    "IndexStats": "index",
    "UpdateReport": "planning",
    "DateSpan": "dates",
    "FacetCount": "search",
    "Hit": "search",
    "Results": "search",
    "ScorePart": "search",
    "Snippet": "search",
    "Watcher": "watch",
}

__all__ = [
    "CorpusNotFound",
    "DateError",
    "DateSpan",
    "Document",
    "DocumentError",
    "DocumentNotFound",
    "FacetCount",
    "FieldStats",
    "Hit",
    "Index",
    "IndexCorrupt",
    "InvalidValue",
    "IndexLocked",
    "IndexNotFound",
    "IndexStats",
    "IndexWriteError",
    "NotAnIndex",
    "ParseResult",
    "PartialDate",
    "Problem",
    "QuerySyntaxError",
    "Results",
    "ScorePart",
    "SearchkitError",
    "Snippet",
    "UpdateReport",
    "UsageError",
    "Watcher",
    "WatcherRunning",
]


def _package_version() -> str:
    """The installed distribution's version; `0+unknown` when run from an uninstalled tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("searchkit")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        # Looked up on first use: importlib.metadata costs every command ~20 ms at start-up.
        globals()[name] = value = _package_version()
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'searchkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .dates import DateSpan, PartialDate
    from .documents import Document, ParseResult, Problem
    from .index import FieldStats, Index, IndexStats
    from .planning import UpdateReport
    from .search import FacetCount, Hit, Results, ScorePart, Snippet
    from .watch import Watcher
