"""Text a document can hold: what Whoosh cannot store taken out, and a title found in prose.

Titles come from a first line or a lead sentence (not fooled by `Mr.` or `U.S.`), cut at a
word boundary.
"""

from __future__ import annotations

import html
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


# -- Markdown as the text a reader sees ----------------------------------------------------


def _is_table_delimiter(line: str) -> bool:
    """A table's delimiter row (`| --- | :-: |`), checked in time linear in the line."""
    if "-" not in line or "|" not in line or not _TABLE_DELIMITER_CHARACTERS.issuperset(line):
        return False
    return _TABLE_DELIMITER.match(_BLANKS.sub(" ", line)) is not None


_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^[ ]{0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
# A line of `===` or `---` under a paragraph (a setext heading), or a thematic break.
_UNDERLINE = re.compile(r"^[ ]{0,3}(?:=+|-+)[ \t]*$")
_RULE = re.compile(r"^[ ]{0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_QUOTE_MARKS = re.compile(r"^[ ]{0,3}(?:>[ ]?)+")
_BULLET = re.compile(r"^([ \t]*)[*+-][ \t]+(?:\[[ xX]\][ \t]+)?")
_LINK_DEFINITION = re.compile(r"^[ ]{0,3}\[[^\]]+\]:[ \t]*\S+[^\n]*$")
# Matched on the line with each run of blanks made one space (`_is_table_delimiter`): on a
# long run of tabs its adjacent `[ \t]*` split the run every way (cubic: a hostile file's one
# 400,000-tab line hung the indexer).
_TABLE_DELIMITER = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$")
_BLANKS = re.compile(r"[ \t]+")
_TABLE_DELIMITER_CHARACTERS = frozenset("|:- \t")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
# Link and image text holds no bracket: with `[^\]]` every `[` of a line of 50,000 of them
# scanned the rest of the line (quadratic, minutes); nested brackets in link text are rare.
_IMAGE = re.compile(r"!\[([^\[\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:[ \t]+\"[^\"]*\")?\)")
_LINK = re.compile(r"\[([^\[\]]+)\]\((?:[^()\s]|\([^()]*\))*(?:[ \t]+\"[^\"]*\")?\)")
_REFERENCE_LINK = re.compile(r"!?\[([^\[\]]+)\]\[[^\[\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>")
# A code span opens and closes with backtick runs of the same length, each a whole run (as
# CommonMark says), around text without backticks: `(`+)(.+?)\1` tried every part of every
# run against every later one, and took five minutes over a line of 20,000 backticks.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)([^`]+)(?<!`)\1(?!`)")
# Emphasis holds no delimiter of its own kind, so that each opener scans only up to the next
# one: with `.+?` each of a line's openers scanned to its end when none closed (`*a *a *a`
# and the like: quadratic, minutes for a 30,000-character line). Inner emphasis goes first.
_STRONG = re.compile(r"(\*\*|__)(?=\S)((?:(?!\1).)+?)(?<=\S)\1")
_EMPHASIS_STAR = re.compile(r"(?<!\*)\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?!\*)")
# `_` emphasis only between non-word characters: snake_case names stay as they are.
_EMPHASIS_UNDERSCORE = re.compile(r"(?<!\w)_(?=[^\s_])([^_]+?)(?<=[^\s_])_(?!\w)")
_STRIKE = re.compile(r"~~(?=\S)((?:(?!~~).)+?)(?<=\S)~~")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Escaped punctuation is parked on private-use characters while the inline rules run.
_PARKED = 0xE000


def markdown_text(text: str) -> str:
    """Markdown as the text a reader sees: no `#` heading marks, `**`/`_` emphasis, link or
    image syntax, code fences, quote marks, table rules or link definitions; `*` and `+`
    bullets become `- `. Line structure is kept, so a snippet reads as the page does.

    A light reading of CommonMark, not a full parser: what it does not recognise stays as
    written, so no text is ever lost.
    """
    out: list[str] = []
    fence = ""
    previous = ""
    for line in text.split("\n"):
        if fence:
            if line.strip().startswith(fence):
                fence = ""
            else:
                out.append(line)  # code is shown as written
            continue
        m = _FENCE.match(line)
        if m:
            fence = m[1][0] * len(m[1])
            continue
        if _LINK_DEFINITION.match(line) or _is_table_delimiter(line):
            continue
        if _RULE.match(line) or (_UNDERLINE.match(line) and previous.strip()):
            previous = ""
            continue
        heading = _ATX_HEADING.match(line)
        if heading:
            line = heading[1] or ""
        else:
            line = _QUOTE_MARKS.sub("", line)
            line = _BULLET.sub(r"\1- ", line)
            if line.lstrip().startswith("|") and line.rstrip().endswith("|"):
                line = "\t".join(cell.strip() for cell in line.strip()[1:-1].split("|"))
        previous = line
        out.append(markdown_inline(line))
    return "\n".join(out)


def markdown_inline(text: str) -> str:
    """One line of Markdown without its inline syntax: emphasis, code marks, links, images."""
    if not any(c in text for c in "*_`[<&\\~"):
        return text
    parked = not any(_PARKED <= ord(c) < _PARKED + 128 for c in text)
    if parked:
        text = _ESCAPED.sub(lambda m: chr(_PARKED + ord(m[1])), text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REFERENCE_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE_SPAN.sub(lambda m: m[2].strip(), text)
    for _ in range(3):  # nested emphasis: ***both***, **bold _and italic_**
        before = text
        text = _STRONG.sub(r"\2", text)
        text = _EMPHASIS_STAR.sub(r"\1", text)
        text = _EMPHASIS_UNDERSCORE.sub(r"\1", text)
        text = _STRIKE.sub(r"\1", text)
        if text == before:
            break
    text = _HTML_TAG.sub("", text)
    text = _ENTITY.sub(lambda m: html.unescape(m[0]), text)
    text = text.rstrip("\\") if text.endswith("\\") and not text.endswith("\\\\") else text
    if parked:
        text = "".join(
            chr(ord(c) - _PARKED) if _PARKED <= ord(c) < _PARKED + 128 else c for c in text
        )
    return text
