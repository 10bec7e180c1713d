"""OpenSearch answers -> searchkit's values: a search response -> `Results` (`Hit`, `Snippet`,
`FacetCount`), a document's `_source` -> `Document`, the statistics answers -> `IndexStats`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..dates import PartialDate
from ..documents import Document
from ..errors import InvalidValue
from ..index import FieldStats, IndexStats
from ..search import FacetCount, Hit, Results, Snippet
from .mapping import META
from .translate import (
    ALL_VALUES,
    DISTINCT_PREFIX,
    EARLIEST,
    EVERY_WORD,
    FACET_PREFIX,
    LATEST,
    MARK_END,
    MARK_START,
    Translation,
)

#: Between two snippet fragments, as a local search joins them.
FRAGMENT_JOIN = " … "


def results_from(
    response: Mapping[str, Any], translation: Translation, *, page: int, limit: int
) -> Results:
    """The `Results` of one search answer, read as `translation` asked."""
    hits_part = response.get("hits") or {}
    total = _total(hits_part.get("total"))
    first = (page - 1) * limit
    hits = tuple(
        _hit(first + i + 1, raw, translation.tier)
        for i, raw in enumerate(hits_part.get("hits") or [])
    )
    aggregations = response.get("aggregations") or {}
    facets = {}
    notes = list(translation.notes)
    for name in translation.facets:
        agg = aggregations.get(FACET_PREFIX + name) or {}
        facets[name] = tuple(
            FacetCount(str(b.get("key_as_string", b["key"])), int(b["doc_count"]))
            for b in agg.get("buckets") or []
        )
        if agg.get("sum_other_doc_count") and len(facets[name]) >= ALL_VALUES:
            notes.append(f"facet {name}: only the first {ALL_VALUES:,} values are counted")
        if agg.get("doc_count_error_upper_bound"):
            notes.append(
                f"facet {name}: counts are approximate on OpenSearch "
                f"(up to {agg['doc_count_error_upper_bound']} off)"
            )
    relaxed = False
    if EVERY_WORD in aggregations:
        exact = int(aggregations[EVERY_WORD].get("doc_count", 0))
        relaxed = total > exact
        if relaxed and exact < page * limit:
            holds = "document holds" if exact == 1 else "documents hold"
            notes.append(f"{exact} {holds} every word; documents with some of them follow")
    if response.get("timed_out"):
        notes.append("the cluster timed out: the hits are those found in time")
    shards = response.get("_shards") or {}
    if shards.get("failed"):
        notes.append(f"{shards['failed']} of {shards.get('total', '?')} shards failed to answer")
    return Results(
        hits=hits,
        total=total,
        facets=MappingProxyType(facets),
        suggestion=None,
        query=translation.query,
        notes=tuple(dict.fromkeys(notes)),
        relaxed=relaxed,
        page=page,
        limit=limit,
        seconds=float(response.get("took", 0)) / 1000.0,
    )


def _total(total) -> int:
    if isinstance(total, Mapping):
        return int(total.get("value", 0))
    return int(total or 0)


def _hit(rank: int, raw: Mapping[str, Any], tier: float) -> Hit:
    source = raw.get("_source") or {}
    score = raw.get("_score")
    score = float(score) if score is not None else 0.0
    matched = raw.get("matched_queries") or ()
    if isinstance(matched, Mapping):  # with include_named_queries_score: {name: score}
        matched = tuple(matched)
    if tier and EVERY_WORD in matched:
        score -= tier
    meta = source.get(META) or {}
    fields = {str(k): tuple(str(v) for v in vs) for k, vs in meta.items()}
    return Hit(
        rank=rank,
        id=str(source.get("id", raw.get("_id", ""))),
        score=score,
        title=source.get("title") or "",
        date=source.get("date_text"),
        path=source.get("path") or "",
        fields=MappingProxyType(fields),
        snippet=snippet_of((raw.get("highlight") or {}).get("body") or ()),
    )


def snippet_of(fragments) -> Snippet:
    """Highlighted fragments (marked with `MARK_START` / `MARK_END`) as one `Snippet` with
    the character offsets of each highlighted span."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for n, fragment in enumerate(fragments):
        if n:
            out.append(FRAGMENT_JOIN)
            pos += len(FRAGMENT_JOIN)
        start = None
        for ch in fragment:
            if ch == MARK_START:
                start = pos
            elif ch == MARK_END:
                if start is not None and pos > start:
                    spans.append((start, pos))
                start = None
            else:
                out.append(ch)
                pos += 1
    return Snippet("".join(out), tuple(spans))


def document_from(source: Mapping[str, Any]) -> Document:
    """The `Document` a `_source` written by `mapping.source_of` holds: its id, title, body,
    path, the date as written and the metadata as stored (`meta`), as a local `get` reads
    them. `InvalidValue` or `DateError` if the source is not one searchkit wrote."""
    date_text = source.get("date_text")
    meta = source.get(META) or {}
    if not isinstance(meta, Mapping):
        raise InvalidValue(META, f"must be an object, not {type(meta).__name__}")
    return Document(
        id=source.get("id"),  # type: ignore[arg-type]  # Document checks it
        title=source.get("title") or "",
        body=source.get("body") or "",
        date=PartialDate.parse(date_text) if date_text else None,
        path=source.get("path") or "",
        fields=MappingProxyType({str(k): tuple(str(v) for v in vs) for k, vs in meta.items()}),
    )


def stats_from(
    *,
    path: str,
    count: Mapping[str, Any],
    aggregations: Mapping[str, Any],
    fields: tuple[str, ...],
    index_stats: Mapping[str, Any] | None,
    index_name: str,
) -> IndexStats:
    """The `IndexStats` of a cluster's index from the answers to `_count`, the statistics
    search (`translate.stats_body`) and `_stats/store,segments` (None: not available). The
    distinct counts are `cardinality` estimates; roots and the last update are unknown to a
    cluster (empty, None); the generation is the index's uuid."""
    distinct = []
    for name in fields:
        value = int((aggregations.get(DISTINCT_PREFIX + name) or {}).get("value") or 0)
        if value:  # as a local index lists only the fields some document has
            distinct.append(FieldStats(name, value))
    size = segments = 0
    generation = ""
    if index_stats:
        every = index_stats.get("indices") or {}
        this: Mapping[str, Any] = every.get(index_name) or next(iter(every.values()), {})
        primaries = (index_stats.get("_all") or {}).get("primaries") or {}
        size = int((primaries.get("store") or {}).get("size_in_bytes") or 0)
        segments = int((primaries.get("segments") or {}).get("count") or 0)
        generation = str(this.get("uuid") or "")
    return IndexStats(
        path=path,
        documents=int(count.get("count") or 0),
        earliest=_first_date(aggregations.get(EARLIEST)),
        latest=_first_date(aggregations.get(LATEST)),
        fields=tuple(distinct),
        size_bytes=size,
        segments=segments,
        roots=(),
        last_update=None,
        generation=generation,
    )


def _first_date(top_hits) -> str | None:
    hits = ((top_hits or {}).get("hits") or {}).get("hits") or []
    if not hits:
        return None
    date_text = (hits[0].get("_source") or {}).get("date_text")
    return str(date_text) if date_text else None
