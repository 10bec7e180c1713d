"""searchkit on an OpenSearch cluster: export an index, load it, search it with the same
query language and get the same `Results` (README: "Past one machine").

    from searchkit.opensearch import OpenSearchIndex, export_files, push_folder

Needs `opensearch-py` for the cluster; writing an export needs nothing more than searchkit.
"""

from __future__ import annotations

from ..errors import ClusterError
from .client import DEFAULT_INDEX_NAME, OpenSearchIndex
from .export import ExportReport, export_files
from .mapping import index_body, source_of
from .push import DocumentFailure, PushReport, push_documents, push_folder
from .translate import Translation, search_body

__all__ = [
    "DEFAULT_INDEX_NAME",
    "ClusterError",
    "DocumentFailure",
    "ExportReport",
    "OpenSearchIndex",
    "PushReport",
    "Translation",
    "export_files",
    "index_body",
    "push_documents",
    "push_folder",
    "search_body",
    "source_of",
]
