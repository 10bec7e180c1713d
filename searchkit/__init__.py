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
)
from .index import FieldStats, Index, IndexStats
from .indexer import UpdateReport

__all__ = [
    "FieldStats",
    "Index",
    "IndexStats",
    "UpdateReport",
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
]
