"""The error a cluster gives searchkit. (Belongs in `searchkit/errors.py` with the others once
that module can take it; it is a `SearchkitError`, so every edge already reports it.)"""

from __future__ import annotations

from ..errors import SearchkitError


class ClusterError(SearchkitError):
    """The OpenSearch cluster at `url` refused a request, failed it, or could not be reached;
    `status` is the HTTP status when there was one."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        super().__init__(f"OpenSearch at {url}: {reason}")
