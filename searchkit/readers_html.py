"""HTML: a saved web page -> its article (text, title, date, author, site, canonical URL), and
the HTML of a feed entry or e-mail -> text.

Pages go through trafilatura, the best of the open-source extractors on the
article-extraction benchmark: menus, footers, cookie banners and related links stay out of
the body. It costs about 0.25 s to import, so it is imported when the first page is read.
Fragments (a feed entry's content, an HTML e-mail) need no extractor: the standard library's
parser turns them into text.
"""

from __future__ import annotations

import contextlib
import html.parser
import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .documents import Document
from .text import clean_text, clean_value, title_line

if TYPE_CHECKING:
    from .readers import _Reader

# Chosen on half of the benchmark's pages (bench/formats_bench.py; the other half never seen):
# comments are not the article, and precision first keeps link lists and teasers out.
_INCLUDE_COMMENTS = False
_FAVOR_PRECISION = True
_CLOSED = re.compile(rb"</(?:html|body)\s*>", re.IGNORECASE)
# The loggers of trafilatura and its helpers: what they say is turned into problems.
_LOGGERS = ("trafilatura", "htmldate", "courlan", "justext")


def read_html(reader: _Reader, data: bytes) -> list[Document]:
    """The article of an HTML page: one document, or none (with a problem) when the page
    holds no text."""
    import trafilatura

    with captured_logs(_LOGGERS):
        found = trafilatura.bare_extraction(
            data,
            with_metadata=True,
            include_comments=_INCLUDE_COMMENTS,
            favor_precision=_FAVOR_PRECISION,
        )
        if found is None or isinstance(found, dict):
            extracted: dict = found or {}
        else:
            extracted = found.as_dict()
        text = extracted.get("text") or ""
        if not text.strip():
            # Short pages fall under trafilatura's minimum: its baseline takes every paragraph.
            text = trafilatura.baseline(data)[1]
    body = clean_text(text).strip()
    if not body:
        reader.problem("no article text found in the HTML page", skipped=True)
        return []
    if _CLOSED.search(data[-4096:]) is None:
        reader.problem("HTML ends before </body> or </html> (cut short?)", skipped=False)
    meta = reader.metadata()
    author = extracted.get("author") or ""
    meta.add("author", [a.strip() for a in author.split(";")])
    meta.add("site", extracted.get("sitename") or "")
    meta.add("url", extracted.get("url") or "")
    meta.add("categories", list(extracted.get("categories") or ()))
    # Sites write keywords as one list or as one comma-joined value ("EA,MSFT,Sony").
    meta.add("tags", [t for tag in extracted.get("tags") or () for t in _split_tags(tag)])
    title = clean_value(extracted.get("title") or "", limit=None)
    date = extracted.get("date") or ""
    title = title or title_line(body)
    dated = reader.date(date) if date else None
    document = reader.document(reader.id_base, title, body, dated, meta, where=reader.path)
    return [document] if document is not None else []


def _split_tags(tag: str) -> list[str]:
    # A comma with no space after it separates keywords; "Bevin, Matthew" is one name.
    return tag.split(",") if "," in tag and ", " not in tag else [tag]


@contextlib.contextmanager
def captured_logs(names: tuple[str, ...]) -> Iterator[list[logging.LogRecord]]:
    """Log records of the named loggers collected, not printed: with no logging set up,
    Python prints a library's warnings on stderr, over searchkit's own lines."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.WARNING)
    loggers = [logging.getLogger(name) for name in names]
    saved = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield records
    finally:
        for logger, propagate in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.propagate = propagate


# -- HTML fragments -------------------------------------------------------------------------

_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 "
    "h6 header hr li main nav ol p pre section table tr ul".split()
)
_SKIPPED = frozenset(("script", "style", "template", "head", "title"))


class _TextParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self.skipping:
                self.parts.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(fragment: str) -> str:
    """The text an HTML fragment shows: tags out, entities decoded, a line per block,
    scripts and styles dropped."""
    if "<" not in fragment and "&" not in fragment:
        return fragment.strip()
    parser = _TextParser()
    parser.feed(fragment)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
