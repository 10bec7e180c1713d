"""Documents, and the readers that turn the bytes of a corpus file into documents.

Formats (chosen by extension and content): seed (` date 2020-03-14 text…`), RFC 822 headers,
YAML front matter, JSON / JSON Lines, plain text.
"""

from __future__ import annotations

import functools
import json
import os
import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone

from .dates import PartialDate
from .errors import DateError, InvalidValue

#: Metadata fields a document read from a file keeps (`folder` aside); the reader drops the
#: rest, in file order, with a warning. Whoosh numbers the fields of a segment with 16 bits
#: (65,535: one JSON object with 66,000 keys crashed every run), and every distinct field
#: costs `stats` and merges time (20,000 made `stats` take 3 s). Set another with
#: `$SEARCHKIT_MAX_FIELDS` or the `max_fields=` of `parse_file`.
MAX_DOCUMENT_FIELDS = 100
MAX_FIELDS_ENV = "SEARCHKIT_MAX_FIELDS"
#: Values one metadata field of a document keeps; the reader drops the rest with a warning.
MAX_FIELD_VALUES = 1000
#: Characters of a metadata field name; a longer name is no facet anyone types: its field is
#: dropped with a warning.
MAX_FIELD_NAME_LENGTH = 100
#: Metadata fields one index may hold: a document bringing new fields to an index that has
#: this many keeps the fields the index knows and loses the others, with a warning (the
#: indexer applies it with `limit_index_fields`), as Elasticsearch's
#: `index.mapping.total_fields.limit` (1,000) does. Set another with `$SEARCHKIT_MAX_INDEX_FIELDS`.
MAX_INDEX_FIELDS = 1000
MAX_INDEX_FIELDS_ENV = "SEARCHKIT_MAX_INDEX_FIELDS"
#: Fields a `Document` built by a caller may hold: past this, no index can store it (Whoosh's
#: 16-bit field numbers, less room for the schema's own fields). Readers stay far below.
ENGINE_FIELD_LIMIT = 65_000

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Document:
    """One article: what the indexer stores and what a caller can build without files.

    `fields` holds the metadata facets (multi-valued keywords), e.g. `{"topics": ("cocoa",)}`;
    any sequence of strings is accepted as a field's values and kept as a tuple, a bare string
    is not (it would be read as its letters). `date` is a `PartialDate`, a `datetime.date` or a
    `datetime.datetime`. A value of the wrong type raises `InvalidValue` naming the field.
    """

    id: str
    title: str = ""
    body: str = ""
    date: PartialDate | None = None
    path: str = ""
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked here, once, so that nothing the index cannot store or find again (an id of
        # None broke every search that hit it) reaches a writer.
        if not isinstance(self.id, str):
            raise InvalidValue("id", f"must be a string, not {_type_name(self.id)}")
        if not self.id:
            # Whitespace is left alone: a file named " " is an article with that id.
            raise InvalidValue("id", "must not be empty")
        for name in ("id", "title", "body", "path"):
            _check_text(name, getattr(self, name))
        if not isinstance(self.date, PartialDate) and self.date is not None:
            object.__setattr__(self, "date", _date_of(self.date))
        fields = _checked_fields(self.fields)
        if fields is not self.fields:
            object.__setattr__(self, "fields", fields)


def _type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise InvalidValue(name, f"must be a string, not {_type_name(value)}")
    # A lone surrogate (from a JSON "\ud800" or a surrogate-escaped file name) cannot be
    # encoded as UTF-8: Whoosh fails on it in the middle of a commit.
    if not value.isascii() and _SURROGATE.search(value) is not None:
        raise InvalidValue(name, "holds a lone surrogate, which is not text (not UTF-8 encodable)")


def _date_of(value: object) -> PartialDate:
    if isinstance(value, datetime):
        return PartialDate.from_datetime(value)
    if isinstance(value, date):
        return PartialDate(datetime(value.year, value.month, value.day), "day")
    reason = f"must be a PartialDate, date or datetime, not {_type_name(value)}"
    if isinstance(value, str):
        reason += " (use PartialDate.parse)"
    raise InvalidValue("date", reason)


def _checked_fields(fields: object) -> Mapping[str, tuple[str, ...]]:
    """`fields` itself when it is well formed with tuple values, else a dict with tuples."""
    if not isinstance(fields, Mapping):
        reason = f"must map field names to sequences of strings, not {_type_name(fields)}"
        raise InvalidValue("fields", reason)
    if len(fields) > ENGINE_FIELD_LIMIT:
        reason = f"{len(fields):,} fields, more than an index can hold ({ENGINE_FIELD_LIMIT:,})"
        raise InvalidValue("fields", reason)
    as_tuples = True
    for name, values in fields.items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidValue("fields", f"field name {name!r} is not a non-empty string")
        _check_text("fields", name)
        if type(values) is not tuple:
            if isinstance(values, (str, bytes, bytearray)) or not isinstance(values, Sequence):
                reason = f"must be a sequence of strings, not {_type_name(values)}"
                if isinstance(values, str):
                    reason += f" (write ({_short_repr(values)},) for one value)"
                raise InvalidValue(f"fields[{name!r}]", reason)
            as_tuples = False
        # One join checks every value at C speed: this runs for every document of a corpus.
        try:
            joined = "".join(values)
        except TypeError:
            wrong = next(v for v in values if not isinstance(v, str))
            reason = f"values must be strings, not {_type_name(wrong)}"
            raise InvalidValue(f"fields[{name!r}]", reason) from None
        _check_text(f"fields[{name!r}]", joined)
    if as_tuples:
        return fields  # type: ignore[return-value]
    return {name: tuple(values) for name, values in fields.items()}


@dataclass(frozen=True)
class Problem:
    """One warning about one input: the file (and line), why, and whether input was skipped."""

    path: str
    reason: str
    skipped: bool = True
    #: The place could not be read this time (permissions, a vanished disk): a transient
    #: condition, so the documents it held are kept and the run counts as partial.
    unavailable: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class ParseResult:
    """What one file yields: its documents and the problems met while reading it."""

    documents: tuple[Document, ...]
    problems: tuple[Problem, ...] = ()
    #: For `parse_appended_lines`: every id the new records name, documents or not.
    claimed_ids: frozenset[str] = field(default=frozenset(), compare=False)


#: Field names the schema owns; a metadata key with one of these names becomes `meta_<name>`.
#: `folder` is among them because the reader sets it from the file's location.
CORE_FIELDS = frozenset(
    {"id", "path", "title", "body", "date", "year", "month", "day", "score", "folder"}
    | {"date_end", "date_text", "meta"}  # the schema's own stored and range fields
)

_TITLE_LIMIT = 150
_VALUE_LIMIT = 200
_BINARY_SAMPLE = 8192
# "Mostly control characters": text, even 1990s Usenet with its stray ESC and backspace
# bytes, stays far below this share; a binary file without NUL bytes does not.
_BINARY_CONTROL_SHARE = 0.3
_BOM = b"\xef\xbb\xbf"
# C0 controls a text file has no business holding (tab, newline, VT, FF and CR excepted).
_CONTROL_BYTES = bytes(c for c in range(32) if c not in b"\t\n\r\x0b\x0c")
# What Whoosh cannot store or a terminal should not print: C0 controls but tab and newline,
# and lone surrogates (JSON "\ud800"; a Python str never holds a valid pair).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_NON_NAME = re.compile(r"[^a-z0-9]+")
_SEED = re.compile(r"date[ \t]+(\d{4}(?:-\d{1,2}){0,2})(?=\s|$)", re.IGNORECASE | re.ASCII)
_HEADER_FIRST = re.compile(r"[A-Za-z0-9-]+:(?:[ \t]|$)")
# RFC 5322 field name: printable ASCII but the colon. Usenet has `Article-I.D.:` and
# `Nntp-Posting-Host-[nntpd-23809]:`; those are headers, not a broken header block.
_HEADER_LINE = re.compile(r"([!-9;-~]+):[ \t]*(.*)")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_HEADING_MARK = re.compile(r"#{1,6}[ \t]+")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr gen gov sen rep col lt sgt capt rev inc ltd co corp no vs "
    "etc jan feb mar apr jun jul aug sep sept oct nov dec mt ft".split()
)
_TITLE_KEYS = ("title", "headline", "subject")
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


@functools.lru_cache(maxsize=4096)
def metadata_name(key: str) -> str | None:
    """The field name for a metadata key: `Pub Date` -> `pub_date`, `title` -> `meta_title`.

    Lowercase, runs outside [a-z0-9] become `_`, stripped of `_`; None when nothing is left.
    Names of core fields, and names starting with a digit, get a `meta_` prefix.
    """
    name = _NON_NAME.sub("_", key.lower()).strip("_")
    if not name:
        return None
    if name in CORE_FIELDS or name[0].isdigit() or name.startswith("spell_"):
        return f"meta_{name}"
    return name


def max_document_fields() -> int:
    """The metadata fields a document read from a file keeps: `$SEARCHKIT_MAX_FIELDS`, else
    `MAX_DOCUMENT_FIELDS`; raises `InvalidValue` when the variable is not a positive number."""
    return _limit_from_env(MAX_FIELDS_ENV, MAX_DOCUMENT_FIELDS)


def max_index_fields() -> int:
    """The metadata fields an index may hold: `$SEARCHKIT_MAX_INDEX_FIELDS`, else
    `MAX_INDEX_FIELDS`; raises `InvalidValue` when the variable is not a positive number."""
    return _limit_from_env(MAX_INDEX_FIELDS_ENV, MAX_INDEX_FIELDS)


def _limit_from_env(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) <= ENGINE_FIELD_LIMIT:
        reason = f"must be a whole number from 1 to {ENGINE_FIELD_LIMIT:,}, not {text[:40]!r}"
        raise InvalidValue(name, reason)
    return int(text)


def limit_index_fields(
    doc: Document, known: set[str], limit: int
) -> tuple[Document, Problem | None]:
    """`doc` with only the metadata fields an index can still take, and a warning if it lost any.

    `known` holds the metadata field names already in the index (or already kept in this
    write) and gains the new ones kept; new names are kept in the document's order while the
    index has fewer than `limit`. The names the schema reserves do not count.
    """
    new = [name for name in doc.fields if name not in known and _counts_as_field(name)]
    room = max(0, limit - len(known))
    known.update(new[:room])
    dropped = new[room:]
    if not dropped:
        return doc, None
    gone = set(dropped)
    fields = {name: values for name, values in doc.fields.items() if name not in gone}
    reason = (
        f"{len(dropped):,} metadata field(s) dropped ({_short_repr(dropped)}): the index "
        f"already holds {limit:,} fields (${MAX_INDEX_FIELDS_ENV} sets the limit)"
    )
    where = doc.path or doc.id
    return replace(doc, fields=fields), Problem(where, reason, skipped=False)


def _counts_as_field(name: str) -> bool:
    # As schema.is_metadata_field: core names are not facets, so never separate Whoosh fields.
    return name == "folder" or (name not in CORE_FIELDS and not name.startswith("spell_"))


def parse_file(
    data: bytes, *, path: str, id_base: str, folder: str, max_fields: int | None = None
) -> ParseResult:
    """Turn the bytes of one corpus file into documents.

    `path` is what messages and `Document.path` show; `id_base` is the file's id (its path
    relative to the corpus root, `/`-separated); `folder` its folder relative to the root
    (`""` at the root), which becomes the `folder` facet. `max_fields`: the metadata fields a
    document keeps (default `max_document_fields()`); the rest are dropped with a warning.

    Never raises: bad input becomes a `Problem` in the result, and an unexpected error in a
    reader skips this file with a `Problem` naming the error.
    """
    reader = _Reader(
        path=path, id_base=_safe_id(id_base), folder=_safe_id(folder or ""), max_fields=max_fields
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
    # Line numbers as `read` counts them: `_clean` turns a lone CR into a line break too.
    crs = data.count(b"\r", 0, old_size)
    lines_before = data.count(b"\n", 0, old_size) + crs - (crs and data.count(b"\r\n", 0, old_size))
    reader = _Reader(
        path=path, id_base=_safe_id(id_base), folder=_safe_id(folder or ""), max_fields=max_fields
    )
    reader.claimed_ids = set()
    try:
        documents = reader.read_json_lines(_clean(text), first_line=lines_before + 1)
    except Exception:  # noqa: BLE001 - the whole-file read reports it properly
        return None
    return ParseResult(tuple(documents), tuple(reader.problems), frozenset(reader.claimed_ids))


class _Reader:
    """The state of reading one file: where it is, and the problems met so far."""

    def __init__(
        self, *, path: str, id_base: str, folder: str, max_fields: int | None = None
    ) -> None:
        self.path = path
        self.id_base = id_base
        self.folder = folder
        self.max_fields = max_document_fields() if max_fields is None else max_fields
        self.problems: list[Problem] = []
        self.claimed_ids: set[str] | None = None  # collected only when a caller asks

    def problem(self, reason: str, *, skipped: bool, where: str | None = None) -> None:
        self.problems.append(Problem(where or self.path, reason, skipped))

    def read(self, data: bytes) -> list[Document]:
        text = self.decode(data)
        if text is None:
            return []
        ext = os.path.splitext(self.path)[1].lower()
        if ext in JSON_LINES_EXTENSIONS:
            return self.read_json_lines(text)
        if ext == ".json":
            return self.read_json(text)
        return self.read_text(text, ext)

    def decode(self, data: bytes) -> str | None:
        """The file's text, cleaned, or None (with a problem) when there is none."""
        if data.startswith(_BOM):
            data = data[len(_BOM) :]
        if not data.strip():
            self.problem("empty file", skipped=True)
            return None
        sample = data[:_BINARY_SAMPLE]
        controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
        if b"\0" in sample or controls > _BINARY_CONTROL_SHARE * len(sample):
            self.problem("binary file", skipped=True)
            return None
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
        text = _clean(text)
        if not text.strip():
            self.problem("empty file", skipped=True)
            return None
        return text

    # -- single-document text formats --------------------------------------------------

    def read_text(self, text: str, ext: str) -> list[Document]:
        first_line, _, after_first = text.partition("\n")
        markdown = ext in (".md", ".markdown")
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
        m = _SEED.match(stripped)
        if m:
            return self.read_seed(stripped, m)
        if markdown:
            stripped = _strip_heading_mark(stripped)
        title, body = _split_title(stripped)
        return self.single(title=title, body=body)

    def read_seed(self, text: str, m: re.Match[str]) -> list[Document]:
        body = text[m.end() :].strip()
        title = _shorten(_lead_sentence(_first_line(body)))
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
        meta = _Metadata(self.max_fields)
        title = when = ""
        for name, value in headers:
            if name == "subject":
                title = title or _clean_value(value, limit=None)
            elif name == "date":
                when = when or value.strip()
            elif name in _HEADER_FIELDS:
                field_name, separator = _HEADER_FIELDS[name]
                meta.add(field_name, value.split(separator) if separator else value)
        body = "\n".join(lines[body_start:]).strip()
        if not title:
            title = _title_line(_first_line(body))
        dated = self.date(when) if when else None
        return self.single(title=title, body=body, date=dated, meta=meta)

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
        rest = "\n".join(lines[close + 1 :]).strip()
        fields = _Record(record)
        title = _clean_value(_text_of(fields.take(("title",))), limit=None)
        if not title:
            heading = _HEADING.search(rest)
            title = _clean_value(heading[1], limit=None) if heading else _title_line(rest)
            title = _strip_heading_mark(title)
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
        doc_id = _safe_id(str(raw_id).strip()) if _is_scalar(raw_id) else ""
        doc_id = doc_id or default_id
        if self.claimed_ids is not None:
            self.claimed_ids.add(doc_id)
        if doc_id in seen:
            reason = f"duplicate id {doc_id!r} (first at {seen[doc_id]}), skipped"
            self.problem(reason, skipped=True, where=where)
            return None
        title = _clean_value(_text_of(fields.take(_TITLE_KEYS)), limit=None)
        body = _clean(_text_of(fields.take(_BODY_KEYS))).strip()
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
            cleaned = _clean_value(item)
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


def _clean(text: str) -> str:
    """Text without what Whoosh cannot store: C0 controls but tab/newline, lone surrogates."""
    if _UNSAFE.search(text) is None:
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE.sub("", text)


def _clean_value(text: str, *, limit: int | None = _VALUE_LIMIT) -> str:
    """One line: cleaned, whitespace runs collapsed, cut to `limit` characters."""
    value = " ".join(_clean(text).split())
    return value[:limit].rstrip() if limit is not None and len(value) > limit else value


def printable_path(path: str) -> str:
    """The path as text a document and a message can hold: undecodable bytes in a file name
    (surrogate escapes from the file system) become U+FFFD."""
    if path.isascii():
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _safe_id(text: str) -> str:
    """An id Whoosh can store; unsafe characters are escaped, not dropped, to stay distinct."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def _strip_heading_mark(text: str) -> str:
    """Markdown text without the `## ` that opens it, if it opens with a heading."""
    m = _HEADING_MARK.match(text)
    return text[m.end() :] if m else text


def _first_line(text: str) -> str:
    return text.lstrip().partition("\n")[0].strip()


def _split_title(text: str) -> tuple[str, str]:
    """Plain text: a short first line is the title; a long one is a paragraph, kept in the body."""
    first, _, rest = text.partition("\n")
    title = _clean_value(first, limit=None)
    if len(title) <= _TITLE_LIMIT:
        return title, rest.strip()
    return _shorten(_lead_sentence(title)), text.strip()


def _title_line(text: str) -> str:
    """A title from the first non-blank line of `text`, trimmed to `_TITLE_LIMIT`."""
    line = _clean_value(_first_line(text), limit=None)
    return line if len(line) <= _TITLE_LIMIT else _shorten(_lead_sentence(line))


def _lead_sentence(line: str) -> str:
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


def _shorten(text: str, limit: int = _TITLE_LIMIT) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with `…` when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    if cut < limit // 2:
        cut = limit - 1
    return text[:cut].rstrip(" ,;:-–—") + "…"


_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxstring = 78
_REPR.maxother = 78


def _short_repr(value: object) -> str:
    # reprlib stops early: a plain repr() of a YAML alias bomb ("billion laughs") would build
    # gigabytes of text just to show its first 80 characters.
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:79] + "…"
