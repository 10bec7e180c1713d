"""The file formats: the bytes of one corpus file -> `Document`s.

Formats (chosen by content, else by extension): seed (` date 2020-03-14 text…`), RFC 822
headers, YAML front matter and Markdown, JSON / JSON Lines, plain text here; HTML pages
(`readers_html`), RSS and Atom feeds (`readers_feed`), mbox mailboxes (`readers_mail`) and PDF
(`readers_pdf`) in their own modules, whose libraries are imported only when a file of that
format is read; any of them gzipped (`readers_gzip`). Each reader reports bad input as a
`Problem` and skips it; `parse_file` never raises.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone

from .dates import PartialDate
from .documents import (
    MAX_FIELD_NAME_LENGTH,
    MAX_FIELD_VALUES,
    MAX_FIELDS_ENV,
    Document,
    ParseResult,
    Problem,
    _short_repr,
    max_document_fields,
    metadata_name,
    printable_path,
)
from .errors import DateError
from .readers_gzip import GZIP_MAGIC, gunzip
from .text import (
    clean_text,
    clean_value,
    first_nonblank_line,
    lead_sentence,
    markdown_inline,
    markdown_text,
    safe_id,
    shorten,
    split_title,
    title_line,
)

_BINARY_SAMPLE = 8192
# "Mostly control characters": text, even 1990s Usenet with its stray ESC and backspace
# bytes, stays far below this share; a binary file without NUL bytes does not.
_BINARY_CONTROL_SHARE = 0.3
_BOM = b"\xef\xbb\xbf"
# C0 controls a text file has no business holding (tab, newline, VT, FF and CR excepted).
_CONTROL_BYTES = bytes(c for c in range(32) if c not in b"\t\n\r\x0b\x0c")
_SEED = re.compile(r"date[ \t]+(\d{4}(?:-\d{1,2}){0,2})(?=\s|$)", re.IGNORECASE | re.ASCII)
_HEADER_FIRST = re.compile(r"[A-Za-z0-9-]+:(?:[ \t]|$)")
# RFC 5322 field name: printable ASCII but the colon. Usenet has `Article-I.D.:` and
# `Nntp-Posting-Host-[nntpd-23809]:`; those are headers, not a broken header block.
_HEADER_LINE = re.compile(r"([!-9;-~]+):[ \t]*(.*)")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_TITLE_KEYS = ("title", "headline", "subject")
#: Bytes a gzipped file may expand to when `parse_file` is given no `max_size`: the default size
#: limit of a corpus file, applied to the text read, so that a small `.gz` cannot fill the
#: memory (a compression bomb expands a thousandfold).
MAX_DECOMPRESSED_SIZE = 100 * 1024 * 1024
_MARKDOWN_EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd")
_HTML_EXTENSIONS = (".html", ".htm", ".xhtml", ".shtml")
_FEED_EXTENSIONS = (".rss", ".atom")
# The first element of an XML or HTML file, past declarations, comments and a doctype.
_ROOT_ELEMENT = re.compile(
    rb"\s*(?:<\?[^>]*>\s*|<!--.*?-->\s*|<!DOCTYPE\s+(html\b)?[^>]*>\s*)*<([A-Za-z][\w:.-]*)",
    re.IGNORECASE | re.DOTALL,
)
# An mbox starts with a `From ` line (sender and a time of day), then the headers.
_MBOX_START = re.compile(rb"From \S{1,300}[ \t][^\n]{0,300}?\d:\d\d[^\n]{0,300}\r?\n[!-9;-~]+:")
_SNIFF_SIZE = 4096
_BODY_KEYS = ("body", "text", "content", "article")
_DATE_KEYS = ("date", "published", "pubdate", "datetime", "time", "created")
# Header name -> (metadata field, separator of several values). Everything else in a header
# block is transport noise (Path, Xref, Message-ID, X-*, …) and dropped.
_HEADER_FIELDS = {
    "from": ("author", None),
    "newsgroups": ("newsgroups", ","),
    "organization": ("organization", None),
    "keywords": ("keywords", ","),
    "summary": ("summary", None),
    "distribution": ("distribution", ","),
}


@functools.lru_cache(maxsize=1)
def _front_matter_loader():
    """`yaml.safe_load` (libyaml's when built in), except that an impossible timestamp such as
    `date: 2020-02-30` stays text: one bad value must not cost the whole front matter.

    Built on first use: PyYAML is only needed for front matter, and `searchkit search` starts
    faster without it."""
    import yaml

    class FrontMatterLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    def construct_timestamp(loader, node) -> object:
        try:
            return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
        except ValueError:
            return loader.construct_scalar(node)

    FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", construct_timestamp)
    FrontMatterLoader.load_yaml = staticmethod(
        lambda text: yaml.load(text, Loader=FrontMatterLoader)
    )
    return FrontMatterLoader


def parse_file(
    data: bytes,
    *,
    path: str,
    id_base: str,
    folder: str,
    max_fields: int | None = None,
    max_size: int | None = None,
) -> ParseResult:
    """Turn the bytes of one corpus file into documents.

    `path` is what messages and `Document.path` show; `id_base` is the file's id (its path
    relative to the corpus root, `/`-separated); `folder` its folder relative to the root
    (`""` at the root), which becomes the `folder` facet. `max_fields`: the metadata fields a
    document keeps (default `max_document_fields()`); the rest are dropped with a warning.
    `max_size`: the bytes a gzipped file may expand to (default `MAX_DECOMPRESSED_SIZE`);
    past it the file is skipped.

    Never raises: bad input becomes a `Problem` in the result, and an unexpected error in a
    reader skips this file with a `Problem` naming the error.
    """
    reader = _Reader(
        path=path,
        id_base=safe_id(id_base),
        folder=safe_id(folder or ""),
        max_fields=max_fields,
        max_size=max_size,
    )
    try:
        documents = reader.read(bytes(data))
    except Exception as exc:  # the contract: one bad file costs that file, never the run
        reason = f"cannot read ({type(exc).__name__}: {str(exc)[:200]})"
        return ParseResult((), (Problem(path, reason, skipped=True),))
    return ParseResult(tuple(documents), tuple(reader.problems))


#: Extensions whose files are always JSON Lines: the only ones a sync can read by their tail.
JSON_LINES_EXTENSIONS = (".jsonl", ".ndjson")


def parse_appended_lines(
    data: bytes,
    old_size: int,
    *,
    path: str,
    id_base: str,
    folder: str,
    max_fields: int | None = None,
) -> ParseResult | None:
    """The documents of the lines appended to a JSON Lines file read before at `old_size` bytes.

    `data` is the whole file; the caller has checked that its first `old_size` bytes are the
    file as it was read before. The result is what reading the whole file gives for the new
    lines (ids, line numbers in messages), or None when only a whole read gives that: not a
    JSON Lines file, the old end was not the end of a line, a file short enough that the
    binary check still sees the new bytes, or new bytes that are not UTF-8 (the whole file
    would be decoded with a fallback).
    """
    if os.path.splitext(path)[1].lower() not in JSON_LINES_EXTENSIONS:
        return None
    # The binary check samples the first 8 KB after a byte order mark.
    sampled = _BINARY_SAMPLE + (len(_BOM) if data.startswith(_BOM) else 0)
    if old_size < sampled or len(data) <= old_size or data[old_size - 1] != 0x0A:
        return None
    try:
        text = data[old_size:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Line numbers as `read` counts them: `clean_text` turns a lone CR into a line break too.
    crs = data.count(b"\r", 0, old_size)
    lines_before = data.count(b"\n", 0, old_size) + crs - (crs and data.count(b"\r\n", 0, old_size))
    reader = _Reader(
        path=path, id_base=safe_id(id_base), folder=safe_id(folder or ""), max_fields=max_fields
    )
    reader.claimed_ids = set()
    try:
        documents = reader.read_json_lines(clean_text(text), first_line=lines_before + 1)
    except Exception:  # noqa: BLE001 - the whole-file read reports it properly
        return None
    return ParseResult(tuple(documents), tuple(reader.problems), frozenset(reader.claimed_ids))


class _Reader:
    """The state of reading one file: where it is, and the problems met so far."""

    def __init__(
        self,
        *,
        path: str,
        id_base: str,
        folder: str,
        max_fields: int | None = None,
        max_size: int | None = None,
    ) -> None:
        self.path = path
        self.id_base = id_base
        self.folder = folder
        self.max_fields = max_document_fields() if max_fields is None else max_fields
        self.max_size = MAX_DECOMPRESSED_SIZE if max_size is None else max_size
        self.problems: list[Problem] = []
        self.claimed_ids: set[str] | None = None  # collected only when a caller asks

    def problem(self, reason: str, *, skipped: bool, where: str | None = None) -> None:
        self.problems.append(Problem(where or self.path, reason, skipped))

    def read(self, data: bytes, name: str | None = None) -> list[Document]:
        """The documents of `data`, by format; `name` is the file's name (default: its path)
        as its extension counts, `page.html` for the bytes of `page.html.gz`."""
        unpacked = name is not None
        name = self.path if name is None else name
        ext = os.path.splitext(name)[1].lower()
        if data.startswith(GZIP_MAGIC):
            if unpacked:
                # One layer only: bombs nest (a gzip of a gzip multiplies the ratios).
                self.problem("gzip inside gzip: not read", skipped=True)
                return []
            inner = gunzip(self, data)
            if inner is None:
                return []
            return self.read(inner, name[:-3] if ext == ".gz" else name)
        kind = _sniff(data, ext)
        if kind == "pdf":
            from .readers_pdf import read_pdf

            return read_pdf(self, data)
        if kind == "mbox":
            from .readers_mail import read_mbox

            return read_mbox(self, data)
        if kind is not None:
            # The extractors decode by the page's own declared charset: given bytes.
            if not self.is_text(data):
                return []
            if kind == "feed":
                from .readers_feed import read_feed

                return read_feed(self, data)
            from .readers_html import read_html

            return read_html(self, data)
        text = self.decode(data)
        if text is None:
            return []
        if ext in JSON_LINES_EXTENSIONS:
            return self.read_json_lines(text)
        if ext == ".json":
            return self.read_json(text)
        return self.read_text(text, ext)

    def is_text(self, data: bytes) -> bool:
        """True if `data` holds text; else False, with a problem (empty or binary)."""
        if data.startswith(_BOM):
            data = data[len(_BOM) :]
        if not data.strip():
            self.problem("empty file", skipped=True)
            return False
        sample = data[:_BINARY_SAMPLE]
        controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
        if b"\0" in sample or controls > _BINARY_CONTROL_SHARE * len(sample):
            self.problem("binary file", skipped=True)
            return False
        return True

    def decode(self, data: bytes) -> str | None:
        """The file's text, cleaned, or None (with a problem) when there is none."""
        if not self.is_text(data):
            return None
        if data.startswith(_BOM):
            data = data[len(_BOM) :]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Old corpora are mostly Windows-1252 or Latin-1; latin-1 decodes any byte.
            for encoding in ("cp1252", "latin-1"):
                try:
                    text = data.decode(encoding)
                    break
                except UnicodeDecodeError:
                    continue
            reason = (
                f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}), "
                f"decoded as {encoding}"
            )
            self.problem(reason, skipped=False)
        text = clean_text(text)
        if not text.strip():
            self.problem("empty file", skipped=True)
            return None
        return text

    # -- single-document text formats --------------------------------------------------

    def read_text(self, text: str, ext: str) -> list[Document]:
        first_line, _, after_first = text.partition("\n")
        markdown = ext in _MARKDOWN_EXTENSIONS
        if first_line.rstrip() == "---":
            found = self.read_front_matter(text)
            if found is not None:
                return found
            # Unusable front matter, read as plain text: a `---` fence is no title.
            text = after_first
        elif not markdown and (ext == ".eml" or _HEADER_FIRST.match(first_line)):
            found = self.read_headers(text, minimum=1 if ext == ".eml" else 2)
            if found is not None:
                return found
        stripped = text.lstrip()
        if markdown:
            # Indexed as a reader sees it: every word found and highlighted, no `**` or `#`.
            stripped = markdown_text(stripped).lstrip()
        m = _SEED.match(stripped)
        if m:
            return self.read_seed(stripped, m)
        title, body = split_title(stripped)
        return self.single(title=title, body=body)

    def read_seed(self, text: str, m: re.Match[str]) -> list[Document]:
        body = text[m.end() :].strip()
        title = shorten(lead_sentence(first_nonblank_line(body)))
        return self.single(title=title, body=body, date=self.date(m[1]))

    def read_headers(self, text: str, *, minimum: int) -> list[Document] | None:
        """An RFC 822 message, or None when the text does not start with enough headers."""
        lines = text.split("\n")
        headers: list[list[str]] = []
        body_start = len(lines)
        broken = None
        for number, line in enumerate(lines):
            if not line.strip():
                body_start = number + 1
                break
            if line[0] in " \t" and headers:
                headers[-1][1] += " " + line.strip()
                continue
            m = _HEADER_LINE.match(line)
            if m is None:
                broken = body_start = number
                break
            headers.append([m[1].lower(), m[2]])
        if len(headers) < minimum:
            return None
        if broken is not None:
            self.problem(f"malformed header line {broken + 1}, rest read as body", skipped=False)
        body = "\n".join(lines[body_start:]).strip()
        return self.message(headers, body, doc_id=self.id_base, where=self.path)

    def message(
        self, headers: Iterable[Sequence[str]], body: str, *, doc_id: str, where: str
    ) -> list[Document]:
        """An e-mail or Usenet message as a document; `headers` are (lowercase name, value)
        pairs in order. The one set of header rules for message files and mailboxes."""
        meta = _Metadata(self.max_fields)
        title = when = ""
        for name, value in headers:
            if name == "subject":
                title = title or clean_value(value, limit=None)
            elif name == "date":
                when = when or value.strip()
            elif name in _HEADER_FIELDS:
                field_name, separator = _HEADER_FIELDS[name]
                meta.add(field_name, value.split(separator) if separator else value)
        if not title:
            title = title_line(first_nonblank_line(body))
        dated = self.date(when, where=where) if when else None
        document = self.document(doc_id, title, body, dated, meta, where=where)
        return [document] if document is not None else []

    def metadata(self) -> _Metadata:
        """An empty set of metadata values under this file's limits, for a format to fill."""
        return _Metadata(self.max_fields)

    def read_front_matter(self, text: str) -> list[Document] | None:
        """Markdown under a YAML block, or None (with a problem) to read it as plain text."""
        lines = text.split("\n")
        close = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), 0)
        if not close:
            reason = "front matter has no closing '---' line, read as plain text"
            self.problem(reason, skipped=False)
            return None
        try:
            # PyYAML's constructors raise assorted builtin errors (an integer of 5,000 digits
            # is a ValueError), not only YAMLError: any of them means the block is unusable.
            loader = _front_matter_loader()
            record = loader.load_yaml("\n".join(lines[1:close]))
        except Exception as exc:
            first = str(exc).strip().partition("\n")[0][:120]
            self.problem(f"bad YAML front matter ({first}), read as plain text", skipped=False)
            return None
        if record is None:
            record = {}
        if not isinstance(record, dict):
            self.problem("front matter is not a YAML mapping, read as plain text", skipped=False)
            return None
        markdown = "\n".join(lines[close + 1 :]).strip()
        # Front matter heads Markdown (Jekyll, Hugo): its text is what a reader sees.
        rest = markdown_text(markdown).strip()
        fields = _Record(record)
        title = clean_value(_text_of(fields.take(("title",))), limit=None)
        if not title:
            heading = _HEADING.search(markdown)
            if heading:
                title = clean_value(markdown_inline(heading[1]), limit=None)
            else:
                title = title_line(rest)
        dated = self.date_value(fields.take(_DATE_KEYS))
        meta = fields.metadata(self.max_fields)
        return self.single(title=title, body=rest, date=dated, meta=meta)

    def single(
        self,
        *,
        title: str,
        body: str,
        date: PartialDate | None = None,
        meta: _Metadata | None = None,
    ) -> list[Document]:
        document = self.document(self.id_base, title, body, date, meta, where=self.path)
        return [document] if document is not None else []

    # -- JSON --------------------------------------------------------------------------

    def read_json(self, text: str) -> list[Document]:
        try:
            value = json.loads(text)
        except RecursionError:
            self.problem("JSON nested too deeply", skipped=True)
            return []
        except ValueError as exc:
            # Not one JSON value: JSON Lines, if its first line is an object on its own.
            if _is_json_object(text.lstrip().partition("\n")[0]):
                return self.read_json_lines(text)
            self.problem(f"bad JSON ({exc})", skipped=True)
            return []
        if isinstance(value, dict):
            document = self.json_document(value, self.id_base, self.path, {})
            return [document] if document is not None else []
        if not isinstance(value, list):
            self.problem("JSON is neither an object nor an array of objects", skipped=True)
            return []
        if not value:
            self.problem("empty JSON array", skipped=True)
            return []
        documents = []
        seen: dict[str, str] = {}
        for position, item in enumerate(value, 1):
            where = f"{self.path}#{position}"
            if not isinstance(item, dict):
                self.problem(f"not a JSON object ({_json_type(item)})", skipped=True, where=where)
                continue
            document = self.json_document(item, f"{self.id_base}#{position}", where, seen)
            if document is not None:
                documents.append(document)
        return documents

    def read_json_lines(self, text: str, *, first_line: int = 1) -> list[Document]:
        documents = []
        seen: dict[str, str] = {}
        for number, line in enumerate(text.split("\n"), first_line):
            if not line.strip():
                continue
            where = f"{self.path}:{number}"
            try:
                value = json.loads(line)
            except RecursionError:
                self.problem("JSON nested too deeply", skipped=True, where=where)
                continue
            except ValueError as exc:
                self.problem(f"bad JSON ({exc})", skipped=True, where=where)
                continue
            if not isinstance(value, dict):
                self.problem(f"not a JSON object ({_json_type(value)})", skipped=True, where=where)
                continue
            document = self.json_document(value, f"{self.id_base}#{number}", where, seen)
            if document is not None:
                documents.append(document)
        return documents

    def json_document(
        self, record: dict, default_id: str, where: str, seen: dict[str, str]
    ) -> Document | None:
        """One JSON object as a document; `seen` maps the ids read so far to where they were."""
        fields = _Record(record)
        raw_id = fields.take(("id",))
        doc_id = safe_id(str(raw_id).strip()) if _is_scalar(raw_id) else ""
        doc_id = doc_id or default_id
        if self.claimed_ids is not None:
            self.claimed_ids.add(doc_id)
        if doc_id in seen:
            reason = f"duplicate id {doc_id!r} (first at {seen[doc_id]}), skipped"
            self.problem(reason, skipped=True, where=where)
            return None
        title = clean_value(_text_of(fields.take(_TITLE_KEYS)), limit=None)
        body = clean_text(_text_of(fields.take(_BODY_KEYS))).strip()
        dated = self.date_value(fields.take(_DATE_KEYS), where=where)
        meta = fields.metadata(self.max_fields)
        document = self.document(doc_id, title, body, dated, meta, where=where, named=bool(doc_id))
        if document is not None:
            seen[doc_id] = where
        return document

    # -- shared ------------------------------------------------------------------------

    def document(
        self,
        doc_id: str,
        title: str,
        body: str,
        date: PartialDate | None,
        meta: _Metadata | None,
        *,
        where: str,
        named: bool = False,
    ) -> Document | None:
        fields = meta.fields() if meta is not None else {}
        if meta is not None:
            for reason in meta.dropped():
                self.problem(reason, skipped=False, where=where)
        if not title and not body:
            if not (named and (date is not None or fields)):
                self.problem("no title and no body", skipped=True, where=where)
                return None
            # A record with its own id and a date or tags is an article of the corpus even
            # with empty text (Reuters has one): keep it, findable by date and facets.
            self.problem("no title and no body", skipped=False, where=where)
        if self.folder:
            fields["folder"] = (self.folder,)
        path = printable_path(self.path)  # a caller may pass a path as the file system gave it
        return Document(id=doc_id, title=title, body=body, date=date, path=path, fields=fields)

    def date(self, text: str, *, where: str | None = None) -> PartialDate | None:
        try:
            return PartialDate.parse(text)
        except DateError:
            self.problem(f"unparseable date {_short_repr(text)}", skipped=False, where=where)
            return None

    def date_value(self, value: object, *, where: str | None = None) -> PartialDate | None:
        """A date from YAML or JSON: text, a date or datetime, a year, or Unix seconds."""
        if value is None:
            return None
        try:
            if isinstance(value, str):
                return PartialDate.parse(value)
            if isinstance(value, datetime):
                return PartialDate.from_datetime(value)
            if isinstance(value, date):
                return PartialDate(datetime(value.year, value.month, value.day), "day")
            if isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 9999:
                return PartialDate.parse(str(value))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                # Unix time, as APIs write it; 13-digit values are JavaScript milliseconds.
                seconds = value / 1000 if abs(value) >= 1e11 else value
                return PartialDate.from_datetime(datetime.fromtimestamp(seconds, timezone.utc))
        except (DateError, ValueError, OverflowError, OSError):
            pass
        self.problem(f"unparseable date {_short_repr(value)}", skipped=False, where=where)
        return None


class _Record:
    """A YAML or JSON mapping whose core keys are taken one by one; the rest is metadata."""

    def __init__(self, record: dict) -> None:
        self.record = record
        self.lowered: dict[str, object] | None = None
        self.taken: set[object] = set()

    def take(self, names: Iterable[str]) -> object:
        """The value of the first of `names` that holds something usable, or None.

        Keys match case-insensitively (`Title`, `pubDate`); the first spelling wins.
        """
        for name in names:
            if name in self.record:
                key: object = name
            else:
                if self.lowered is None:
                    self.lowered = {}
                    for original in self.record:
                        self.lowered.setdefault(str(original).lower(), original)
                key = self.lowered.get(name)
                if key is None:
                    continue
            value = self.record[key]
            if value is None or value == "" or isinstance(value, dict):
                continue
            self.taken.add(key)
            return value
        return None

    def metadata(self, max_fields: int) -> _Metadata:
        meta = _Metadata(max_fields)
        for key, value in self.record.items():
            # Empty values are common (Reuters has five lists a line, mostly empty): skip
            # them before the normalising work. 0 and False are values, not emptiness.
            if (value or value == 0) and key not in self.taken:
                meta.add(str(key), value)
        return meta


class _Metadata:
    """Metadata values by field name, normalised and deduplicated in order, within the limits:
    `max_fields` fields, `MAX_FIELD_VALUES` values each, names of `MAX_FIELD_NAME_LENGTH`."""

    def __init__(self, max_fields: int) -> None:
        self.max_fields = max_fields
        # dicts as ordered sets: a list's `in` made 100,000 values in one field take minutes.
        self.values: dict[str, dict[str, None]] = {}
        self.over_fields: set[str] = set()
        self.long_names: set[str] = set()
        self.over_values: dict[str, int] = {}

    def add(self, key: str, value: object) -> None:
        name = metadata_name(key)
        if name is None:
            return
        if len(name) > MAX_FIELD_NAME_LENGTH:
            self.long_names.add(name)
            return
        values = self.values.get(name)
        for item in _scalars(value):
            cleaned = clean_value(item)
            if not cleaned:
                continue
            if values is None:
                if len(self.values) >= self.max_fields:
                    self.over_fields.add(name)
                    return
                values = self.values[name] = {}
            if cleaned in values:
                continue
            if len(values) >= MAX_FIELD_VALUES:
                self.over_values[name] = self.over_values.get(name, 0) + 1
                continue
            values[cleaned] = None

    def fields(self) -> dict[str, tuple[str, ...]]:
        return {name: tuple(values) for name, values in self.values.items()}

    def dropped(self) -> list[str]:
        """A warning for each limit that cost metadata."""
        reasons = []
        if self.over_fields:
            total = len(self.values) + len(self.over_fields)
            reasons.append(
                f"{len(self.over_fields):,} of {total:,} metadata fields dropped: more than "
                f"{self.max_fields:,} per document (${MAX_FIELDS_ENV} sets the limit)"
            )
        if self.long_names:
            reasons.append(
                f"{len(self.long_names):,} metadata field(s) dropped: name longer than "
                f"{MAX_FIELD_NAME_LENGTH} characters ({_short_repr(min(self.long_names))})"
            )
        for name, count in self.over_values.items():
            reasons.append(
                f"{count:,} values of metadata field {name!r} dropped: more than "
                f"{MAX_FIELD_VALUES:,} per field"
            )
        return reasons


def _scalars(value: object) -> Iterable[str]:
    """The text of a scalar, or of each scalar in a list; nested mappings and lists drop out."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    return (_scalar_text(item) for item in items if _is_scalar(item))


def _is_scalar(value: object) -> bool:
    return isinstance(value, (str, int, float, date))


def _scalar_text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _text_of(value: object) -> str:
    """A title or body value as text: a list of paragraphs is joined, other scalars str()ed."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n\n".join(str(item) for item in value if isinstance(item, str))
    return _scalar_text(value) if _is_scalar(value) else ""


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return type(value).__name__


def _sniff(data: bytes, ext: str) -> str | None:
    """The format `data` is in by its content (`pdf`, `mbox`, `feed`, `html`), or by `ext` for
    those; None for the text formats, which `read_text` and the JSON readers tell apart."""
    head = data[:_SNIFF_SIZE]
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    # PDF allows bytes before its header; only a `.pdf` is looked for it past the start.
    if head.startswith(b"%PDF-") or (ext == ".pdf" and b"%PDF-" in head[:1024]):
        return "pdf"
    if head.startswith(b"From ") and (ext == ".mbox" or _MBOX_START.match(head)):
        return "mbox"
    root = _ROOT_ELEMENT.match(head)
    if root is not None:
        name = root[2].lower()
        if name in (b"rss", b"feed", b"rdf:rdf"):
            return "feed"
        if root[1] or name in (b"html", b"head", b"body"):
            return "html"
    if ext in _FEED_EXTENSIONS:
        return "feed"
    if ext in _HTML_EXTENSIONS and re.search(rb"<[A-Za-z!/]", head):
        return "html"
    return None
