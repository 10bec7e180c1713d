"""searchkit: full-text search for a folder of news articles."""

from .dates import PartialDate
from .documents import Document, ParseResult, Problem
from .errors import (
    CorpusNotFound,
    DateError,
    DocumentError,
    DocumentNotFound,
    IndexCorrupt,
    IndexLocked,
    IndexNotFound,
    IndexWriteError,
    NotAnIndex,
    QuerySyntaxError,
    SearchkitError,
    UsageError,
    WatcherRunning,
)
from .index import FieldStats, Index, IndexStats
from .indexer import UpdateReport
from .query import DateSpan
from .search import FacetCount, Hit, Results, ScorePart, Snippet
from .watch import Watcher

__all__ = [
    "DateSpan",
    "FacetCount",
    "Hit",
    "Results",
    "ScorePart",
    "Snippet",
    "FieldStats",
    "Index",
    "IndexStats",
    "UpdateReport",
    "Watcher",
    "CorpusNotFound",
    "DateError",
    "Document",
    "DocumentError",
    "DocumentNotFound",
    "IndexCorrupt",
    "IndexLocked",
    "IndexNotFound",
    "IndexWriteError",
    "NotAnIndex",
    "ParseResult",
    "PartialDate",
    "Problem",
    "QuerySyntaxError",
    "SearchkitError",
    "UsageError",
    "WatcherRunning",
]
