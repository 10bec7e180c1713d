"""An OpenSearch search response -> searchkit's `Results`, `Hit`, `Snippet`, `FacetCount`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..search import FacetCount, Hit, Results, Snippet
from .mapping import META
from .translate import ALL_VALUES, EVERY_WORD, FACET_PREFIX, MARK_END, MARK_START, Translation

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
