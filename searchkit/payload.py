"""The JSON objects searchkit prints and serves: one builder per kind of answer, shared by the
command line (`--format json`) and the web API (`/api/...`), so both give the same object.

Imports no Whoosh: it only reads the plain `as_dict()` forms of the library's results.
"""

from __future__ import annotations

import json


def version() -> str:
    """The installed searchkit's version, as every JSON answer carries it."""
    from . import __version__

    return __version__


def results_payload(results) -> dict:
    """What `searchkit search --format json` prints and `/api/search` returns: `version`,
    then `Results.as_dict()`."""
    return {"version": version(), **results.as_dict()}


def document_payload(document) -> dict:
    """What `searchkit show --format json` prints and `/api/doc/ID` returns."""
    return {"version": version(), **document.as_dict()}


def stats_payload(stats) -> dict:
    """What `searchkit stats --format json` prints and `/api/stats` returns."""
    return {"version": version(), **stats.as_dict()}


def dumps(payload: dict) -> str:
    """A payload as the command line prints it: indented, non-ASCII text kept as is."""
    return json.dumps(payload, ensure_ascii=False, indent=2)
