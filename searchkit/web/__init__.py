"""The web edge of searchkit: `searchkit serve`'s page and JSON API (`server.py`), the page's
HTML (`pages.py`) and the URL form of a search (`request.py`). Standard library only."""

from __future__ import annotations

from .request import SearchRequest
from .server import SearchServer

__all__ = ["SearchRequest", "SearchServer"]
