"""RSS and Atom feeds: each item or entry a document.

Read with feedparser (RSS 0.9x, 1.0 and 2.0, Atom 0.3 and 1.0, lenient with broken XML),
imported when the first feed is read. An entry's id is its own (`<guid>`, Atom `<id>`), else
its link: an entry keeps its id when the feed gains, loses or reorders entries, so a sync
rewrites only the entries that changed.
"""

from __future__ import annotations

import calendar
import hashlib
import io
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .dates import PartialDate
from .documents import Document
from .errors import DateError
from .readers_html import html_text
from .text import clean_text, clean_value, safe_id

if TYPE_CHECKING:
    from .readers import _Reader

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_feed(reader: _Reader, data: bytes) -> list[Document]:
    """The entries of an RSS or Atom feed, or none (with a problem) when `data` is no feed."""
    import feedparser

    # A file object, never bytes or text: feedparser opens a string that names a file or URL.
    parsed = feedparser.parse(io.BytesIO(data))
    entries = parsed.entries
    error = parsed.get("bozo_exception")
    if not entries:
        if error is not None or not parsed.version:
            reason = f"not an RSS or Atom feed ({_short(error)})" if error else "not a feed"
            reader.problem(reason, skipped=True)
        else:
            reader.problem("feed has no entries", skipped=True)
        return []
    if error is not None:
        reason = f"feed is not well-formed XML ({_short(error)}), read leniently"
        reader.problem(reason, skipped=False)
    source = clean_value(html_text(parsed.feed.get("title", "")))
    documents = []
    seen: dict[str, str] = {}
    for position, entry in enumerate(entries, 1):
        where = f"{reader.path}#{position}"
        doc_id, named = _entry_id(entry, reader.id_base)
        if doc_id in seen:
            reason = f"duplicate id {doc_id!r} (first at {seen[doc_id]}), skipped"
            reader.problem(reason, skipped=True, where=where)
            continue
        document = _entry_document(reader, entry, doc_id, source, where, named=named)
        if document is not None:
            seen[doc_id] = where
            documents.append(document)
    return documents


def _entry_document(
    reader: _Reader, entry, doc_id: str, source: str, where: str, *, named: bool
) -> Document | None:
    title = clean_value(_detail_text(entry, "title"), limit=None)
    body = clean_text(_body(entry)).strip()
    dated = _entry_date(reader, entry, where)
    meta = reader.metadata()
    authors = [a.get("name", "") for a in entry.get("authors", ()) if isinstance(a, dict)]
    meta.add("author", [a for a in authors if a] or entry.get("author", ""))
    tags = entry.get("tags") or ()
    meta.add("categories", [t.get("term") or t.get("label") or "" for t in tags])
    meta.add("source", source)
    meta.add("url", entry.get("link", ""))
    # An entry with its own id but no text is kept (findable by date and facets), as a JSON
    # record with an id is; one with neither is no entry (a feed cut inside an <item>).
    return reader.document(doc_id, title, body, dated, meta, where=where, named=named)


def _entry_id(entry, id_base: str) -> tuple[str, bool]:
    """(id, whether the entry named it): its own id, else its link; else one made from its
    content (stable while the content is, wherever the entry moves in the feed)."""
    for key in ("id", "link"):
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return safe_id(value.strip()), True
    content = "\0".join(str(entry.get(k, "")) for k in ("title", "published", "summary"))
    digest = hashlib.blake2b(content.encode(), digest_size=6).hexdigest()
    return f"{id_base}#{digest}", False


def _detail_text(entry, key: str) -> str:
    value = entry.get(key, "")
    detail = entry.get(f"{key}_detail") or {}
    return html_text(value) if detail.get("type") in _HTML_TYPES else value


def _body(entry) -> str:
    """The entry's full content if it has some, else its summary, as text."""
    for content in entry.get("content") or ():
        value = content.get("value", "")
        if value.strip():
            return html_text(value) if content.get("type") in _HTML_TYPES else value
    return _detail_text(entry, "summary")


def _entry_date(reader: _Reader, entry, where: str) -> PartialDate | None:
    """The date published, else updated: the text as written (it keeps its zone and
    precision), else feedparser's reading of it (it knows many odd forms)."""
    for key in ("published", "updated", "created"):
        text = entry.get(key)
        if not text:
            continue
        try:
            return PartialDate.parse(text)
        except DateError:
            pass
        struct = entry.get(f"{key}_parsed")
        if struct is not None:
            moment = datetime.fromtimestamp(calendar.timegm(struct), timezone.utc)
            return PartialDate.from_datetime(moment)
        return reader.date(text, where=where)  # reports it
    return None


def _short(error: object) -> str:
    return " ".join(str(error).split())[:160] or type(error).__name__
