"""Documents: the `Document` an index stores, its validation, and the limits on its metadata.

`Problem` and `ParseResult` carry what reading a file yields; the file formats themselves
(bytes -> documents) live in `readers`.
"""

from __future__ import annotations

import functools
import os
import re
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from .dates import PartialDate
from .errors import InvalidValue

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

    @classmethod
    def from_dict(cls, data: Mapping) -> Document:
        """The `Document` that `as_dict()` gave (checked like any other)."""
        date = data.get("date")
        return cls(
            id=data.get("id"),  # type: ignore[arg-type]  # checked in __post_init__
            title=data.get("title", ""),
            body=data.get("body", ""),
            date=PartialDate.parse(date) if isinstance(date, str) and date else date,  # type: ignore[arg-type]  # checked in __post_init__
            path=data.get("path", ""),
            fields={name: tuple(values) for name, values in (data.get("fields") or {}).items()},
        )

    def as_dict(self) -> dict:
        """Plain JSON-ready values: the date as ISO 8601 text (None when undated), fields as
        lists; `searchkit show --format json` prints this."""
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date.isoformat() if self.date is not None else None,
            "path": self.path,
            "fields": {name: list(values) for name, values in self.fields.items()},
            "body": self.body,
        }


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

    def as_dict(self) -> dict:
        """Plain JSON-ready values: `path`, `reason`, `skipped`, `unavailable`."""
        return {
            "path": self.path,
            "reason": self.reason,
            "skipped": self.skipped,
            "unavailable": self.unavailable,
        }


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

_NON_NAME = re.compile(r"[^a-z0-9]+")


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


def printable_path(path: str) -> str:
    """The path as text a document and a message can hold: undecodable bytes in a file name
    (surrogate escapes from the file system) become U+FFFD."""
    if path.isascii():
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxstring = 78
_REPR.maxother = 78


def _short_repr(value: object) -> str:
    # reprlib stops early: a plain repr() of a YAML alias bomb ("billion laughs") would build
    # gigabytes of text just to show its first 80 characters.
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:79] + "…"
