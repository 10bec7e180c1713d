"""Text a document can hold: what Whoosh cannot store taken out, and a title found in prose.

Titles come from a first line or a lead sentence (not fooled by `Mr.` or `U.S.`), cut at a
word boundary.
"""

from __future__ import annotations

import re

#: Characters of a title read from a file; a longer first line yields its lead sentence.
TITLE_LIMIT = 150
#: Characters of a metadata value read from a header or front matter.
VALUE_LIMIT = 200
# What Whoosh cannot store or a terminal should not print: C0 controls but tab and newline,
# and lone surrogates (JSON "\ud800"; a Python str never holds a valid pair).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_HEADING_MARK = re.compile(r"#{1,6}[ \t]+")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr gen gov sen rep col lt sgt capt rev inc ltd co corp no vs "
    "etc jan feb mar apr jun jul aug sep sept oct nov dec mt ft".split()
)


def clean_text(text: str) -> str:
    """Text without what Whoosh cannot store: C0 controls but tab/newline, lone surrogates."""
    if _UNSAFE.search(text) is None:
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE.sub("", text)


def clean_value(text: str, *, limit: int | None = VALUE_LIMIT) -> str:
    """One line: cleaned, whitespace runs collapsed, cut to `limit` characters."""
    value = " ".join(clean_text(text).split())
    return value[:limit].rstrip() if limit is not None and len(value) > limit else value


def safe_id(text: str) -> str:
    """An id Whoosh can store; unsafe characters are escaped, not dropped, to stay distinct."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def strip_heading_mark(text: str) -> str:
    """Markdown text without the `## ` that opens it, if it opens with a heading."""
    m = _HEADING_MARK.match(text)
    return text[m.end() :] if m else text


def first_nonblank_line(text: str) -> str:
    """The first line of `text` that holds more than whitespace, stripped."""
    return text.lstrip().partition("\n")[0].strip()


def split_title(text: str) -> tuple[str, str]:
    """Plain text: a short first line is the title; a long one is a paragraph, kept in the body."""
    first, _, rest = text.partition("\n")
    title = clean_value(first, limit=None)
    if len(title) <= TITLE_LIMIT:
        return title, rest.strip()
    return shorten(lead_sentence(title)), text.strip()


def title_line(text: str) -> str:
    """A title from the first non-blank line of `text`, trimmed to `TITLE_LIMIT`."""
    line = clean_value(first_nonblank_line(text), limit=None)
    return line if len(line) <= TITLE_LIMIT else shorten(lead_sentence(line))


def lead_sentence(line: str) -> str:
    """The first sentence of a paragraph, not fooled by `Mr.`, `U.S.` or initials."""
    for m in _SENTENCE_END.finditer(line, 0, 1000):
        following = line[m.end() : m.end() + 1]
        if following and not (following.isupper() or following.isdigit() or following in "\"'“‘(["):
            continue
        if line[m.start()] == ".":
            words = line[: m.start()].rsplit(None, 1)
            word = words[-1].lstrip("\"'(“‘") if words else ""
            if len(word) <= 1 or "." in word or word.lower() in _ABBREVIATIONS:
                continue
        return line[: m.end()].strip()
    return line.strip()


def shorten(text: str, limit: int = TITLE_LIMIT) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with `…` when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    if cut < limit // 2:
        cut = limit - 1
    return text[:cut].rstrip(" ,;:-–—") + "…"
