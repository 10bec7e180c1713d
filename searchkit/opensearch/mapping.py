"""searchkit's schema as OpenSearch index settings and mappings, and a document as its source.

Everything is read from the names the local engine uses (`schema.STOP_WORDS`,
`schema.STEM_LANGUAGE`, `scoring.BM25_K1`, `scoring.BM25_B`), so the cluster follows a change
of searchkit's analysis or ranking without an edit here.
"""

from __future__ import annotations

from typing import Any

from .. import schema, scoring
from ..documents import Document
from ..schema import TEXT_FIELDS, TITLE_BOOST, is_metadata_field

#: The analyzer of `title` and `body`, and of the text sub-field of each metadata field.
TEXT_ANALYZER = "searchkit_text"
#: The normalizer of keyword fields: what `schema.fold_keyword` does to a metadata value.
KEYWORD_NORMALIZER = "searchkit_keyword"
#: Each text field as a query names it: the title weighs `TITLE_BOOST` times the body.
TEXT_FIELDS_WEIGHTED = {
    name: f"{name}^{TITLE_BOOST:g}" if name == "title" else name for name in TEXT_FIELDS
}
#: The BM25 similarity with searchkit's k1 and b. Any name but the built-in "BM25" would do
#: for the cluster; the API specification models the custom similarities as `bm25`, `dfr`...
SIMILARITY = "bm25"
#: The text sub-field of a metadata field: `places.text`.
TEXT_SUBFIELD = "text"

#: A document's period start, for `--sort date`: a range field cannot be sorted on. Metadata
#: field names are `[a-z0-9_]` (`documents.metadata_name`), so a hyphenated name cannot clash.
SORT_DATE = "date-start"
#: The stored metadata, as searchkit stores it (`meta` is a core name: no clash either).
META = "meta"

#: OpenSearch's stemmer for each Snowball language searchkit may stem with. "english" in
#: OpenSearch is the original Porter stemmer; Snowball's English (Porter2) is "porter2".
_STEMMERS = {"english": "porter2", "porter": "english"}

#: Date format of the `date` range and `date-start`: ISO 8601, milliseconds at most.
DATE_FORMAT = "strict_date_optional_time"


def stemmer_language(language: str | None = None) -> str:
    """The `stemmer` token filter language for searchkit's stemmer language."""
    language = language or schema.STEM_LANGUAGE
    return _STEMMERS.get(language, language)


def index_body(*, shards: int | None = None, replicas: int | None = None) -> dict[str, Any]:
    """The body of the create-index request: settings (analysis, similarity) and mappings."""
    # Read at call time, so that the mapping follows searchkit's settings as they are now.
    bm25 = {"type": "BM25", "k1": scoring.BM25_K1, "b": scoring.BM25_B, "discount_overlaps": True}
    index: dict[str, Any] = {"similarity": {SIMILARITY: bm25}}
    if shards is not None:
        index["number_of_shards"] = shards
    if replicas is not None:
        index["number_of_replicas"] = replicas
    analysis = {
        "tokenizer": {
            # searchkit tokenises on \w+ (Python's \w is Unicode; Java's needs the flag), so a
            # hyphenated word is two words and an apostrophe splits a word, unlike `standard`.
            "searchkit_words": {
                "type": "pattern",
                "pattern": "\\w+",
                "group": 0,
                "flags": "UNICODE_CHARACTER_CLASS",
            }
        },
        "filter": {
            "searchkit_min_length": {"type": "length", "min": 2},
            "searchkit_stop": {"type": "stop", "stopwords": sorted(schema.STOP_WORDS)},
            "searchkit_stem": {"type": "stemmer", "language": stemmer_language()},
        },
        "analyzer": {
            TEXT_ANALYZER: {
                "type": "custom",
                "tokenizer": "searchkit_words",
                # The order of searchkit's chain: fold first, so "Ìn" is the stop word "in".
                "filter": [
                    "lowercase",
                    "asciifolding",
                    "searchkit_min_length",
                    "searchkit_stop",
                    "searchkit_stem",
                ],
            },
            # Words searchkit has analysed already (a phrase's terms): kept as they are.
            "searchkit_terms": {"type": "custom", "tokenizer": "whitespace", "filter": []},
        },
        "normalizer": {
            KEYWORD_NORMALIZER: {"type": "custom", "filter": ["lowercase", "asciifolding"]}
        },
    }
    text = {
        "type": "text",
        "analyzer": TEXT_ANALYZER,
        "similarity": SIMILARITY,
        # Offsets (which include positions): phrases, and highlighting without re-analysis.
        "index_options": "offsets",
    }
    keyword = {"type": "keyword", "normalizer": KEYWORD_NORMALIZER}
    mappings = {
        # A new field name is a metadata facet, as in searchkit's schema ("*" glob field).
        "dynamic": "true",
        "dynamic_templates": [
            {
                "metadata": {
                    "match_mapping_type": "string",
                    "mapping": {
                        **keyword,
                        "fields": {
                            TEXT_SUBFIELD: {
                                "type": "text",
                                "analyzer": TEXT_ANALYZER,
                                "similarity": SIMILARITY,
                            }
                        },
                    },
                }
            }
        ],
        "properties": {
            "id": {"type": "keyword"},
            "path": {"type": "keyword"},
            **{name: dict(text) for name in TEXT_FIELDS},
            "date": {"type": "date_range", "format": DATE_FORMAT},
            SORT_DATE: {"type": "date", "format": DATE_FORMAT},
            "date_text": {"type": "keyword", "index": False},
            "year": {"type": "keyword"},
            "month": {"type": "keyword"},
            "day": {"type": "keyword"},
            META: {"type": "object", "enabled": False},
        },
    }
    return {"settings": {"index": index, "analysis": analysis}, "mappings": mappings}


def iso(value) -> str:
    """A naive UTC datetime as OpenSearch reads it (milliseconds: its dates' precision)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def source_of(doc: Document) -> dict[str, Any]:
    """The `_source` of a document: its stored fields, its period, its facets."""
    source: dict[str, Any] = {"id": doc.id, "title": doc.title, "body": doc.body}
    if doc.path:
        source["path"] = doc.path
    if doc.date is not None:
        d = doc.date
        source["date"] = {"gte": iso(d.start), "lte": iso(d.end)}
        source[SORT_DATE] = iso(d.start)
        source["date_text"] = d.isoformat()
        source["year"] = d.year_key
        if d.month_key:
            source["month"] = d.month_key
        if d.day_key:
            source["day"] = d.day_key
    meta = {k: list(v) for k, v in doc.fields.items() if v}
    if meta:
        source[META] = meta
    for name, values in meta.items():
        if is_metadata_field(name):
            source[name] = values
    return source


def metadata_fields(mapping: dict[str, Any]) -> frozenset[str]:
    """The metadata facet names in an index's mapping (`GET /NAME/_mapping` for one index)."""
    properties = mapping.get("mappings", {}).get("properties", {})
    return frozenset(
        name
        for name, spec in properties.items()
        if spec.get("type") == "keyword" and is_metadata_field(name) and name != SORT_DATE
    )
