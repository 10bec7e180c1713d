"""The web page as server-rendered HTML: the search page, a document page and error pages.

Every piece of text that comes from a document, the index or the URL goes through `esc`
(element text and attribute values alike, quotes included); links are built only from fixed
paths plus percent-encoded parameters (`SearchRequest.url`, `doc_url`), never from document
text, so no document can make a `javascript:` link. Highlights are drawn from the library's
offsets around escaped text, never by trusting markup in the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from .request import SearchRequest

#: Histogram levels: the date facet drawn, and the one a bar's click drills into.
LEVELS = ("year", "month", "day")
#: The date bars, in pixels: the chart is about CHART_WIDTH wide, bars between the bounds.
CHART_WIDTH = 280
BAR_WIDTH = (4, 28)
BAR_GAP = 2
BAR_HEIGHT = 80
#: Periods without a match are drawn (as empty bars) up to this many bars.
MAX_FILLED = 400

QUERY_SYNTAX = (
    ("lockdown italy", "both words, in the title or the body"),
    ("cocoa OR coffee, rates NOT japan", "Boolean operators in capitals, (grouping)"),
    ('"health workers"', "the phrase"),
    ("title:vaccine, places:brazil", "a word in one field; any metadata field"),
    ("vacc*, colour~", "a wildcard; a fuzzy match (one edit)"),
    ("date:2020-03, date:>=2020-03-14", "a date or a range"),
)


def esc(text: object) -> str:
    """Text made safe for HTML element content and quoted attribute values."""
    return escape(str(text), quote=True)


def doc_url(doc_id: str, prefix: str = "/doc/") -> str:
    """The page of a document: its id percent-encoded as one path segment (a `/` or `..` in
    an id stays inside the segment)."""
    return prefix + quote(doc_id, safe="")


def marked(snippet) -> str:
    """A snippet's text, escaped, with `<mark>` around each highlight offset."""
    out, pos = [], 0
    text = snippet.text
    for start, end in snippet.highlights:
        out += [esc(text[pos:start]), "<mark>", esc(text[start:end]), "</mark>"]
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


@dataclass(frozen=True)
class Histogram:
    """Date bars for one level: `bars` are (value, count) in time order; `up` the request one
    level out (None at the top)."""

    level: str
    bars: tuple[tuple[str, int], ...]
    up: SearchRequest | None


def histogram_level(request: SearchRequest) -> str:
    """The level to draw: years, or the months of one year, or the days of one month, when
    `since` and `until` name the same year or month (what a bar's click sets)."""
    since, until = request.since or "", request.until or ""
    if re.fullmatch(r"\d{4}-\d{2}", since) and since == until:
        return "day"
    if re.fullmatch(r"\d{4}(-\d{2})?", since) and since[:4] == until[:4] and until:
        return "month"
    return "year"


def page(title: str, body: str) -> str:
    """A whole HTML document around `body` (the stylesheet and script are the app's own
    files: the Content-Security-Policy allows nothing inline)."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        '<link rel="stylesheet" href="/static/app.css">'
        '<script src="/static/app.js" defer></script>'
        f"</head><body>\n{body}\n</body></html>\n"
    )


def search_box(request: SearchRequest) -> str:
    """The search form; a new query keeps the filters, dates, facets and sort (not the page)."""
    hidden = [("where", w) for w in request.where] + [("facet", f) for f in request.facets]
    hidden += [(k, v) for k, v in (("since", request.since), ("until", request.until)) if v]
    if request.sort != "relevance":
        hidden.append(("sort", request.sort))
    inputs = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in hidden)
    rows = "".join(
        f"<tr><td><code>{esc(example)}</code></td><td>{esc(meaning)}</td></tr>"
        for example, meaning in QUERY_SYNTAX
    )
    return (
        '<header class="top"><a class="home" href="/">searchkit</a>'
        '<form class="search" action="/" method="get" role="search">'
        f'<input id="q" type="search" name="q" value="{esc(request.q)}" '
        'placeholder="Search the archive (press / to focus)" aria-label="Search" autofocus>'
        f'{inputs}<button type="submit">Search</button></form>'
        '<details class="syntax"><summary>Query syntax</summary>'
        f"<table>{rows}</table></details></header>"
    )


def search_page(
    request: SearchRequest,
    results,
    *,
    facets: Sequence[tuple[str, Sequence[tuple[str, int]]]],
    histogram: Histogram | None,
    error: str | None = None,
    intro: str = "",
) -> str:
    """The search page: box, chips, facets and histogram, hits, pagination."""
    parts = [search_box(request), '<div class="layout">']
    parts.append('<aside class="facets">')
    if histogram is not None:
        parts.append(histogram_html(request, histogram))
    for field, counts in facets:
        parts.append(facet_html(request, field, counts))
    parts.append('</aside><main class="results">')
    parts.append(chips_html(request))
    if error is not None:
        parts.append(f'<p class="error" role="alert">{esc(error)}</p>')
    elif results is None:
        parts.append(intro)
    else:
        parts.append(results_html(request, results))
    parts.append("</main></div>")
    title = f"{request.q} - searchkit" if request.q else "searchkit"
    return page(title, "".join(parts))


def chips_html(request: SearchRequest) -> str:
    """The active filters as links that remove them."""
    chips = []
    for field, value in request.filters():
        href = request.toggled(field, value).url()
        chips.append(
            f'<a class="chip" href="{esc(href)}" title="remove this filter">'
            f'{esc(field)}: {esc(value)} <span aria-hidden="true">×</span></a>'
        )
    for name in ("since", "until"):
        value = getattr(request, name)
        if value:
            href = request.changed(**{name: None}).url()
            chips.append(
                f'<a class="chip" href="{esc(href)}" title="remove this filter">'
                f'{name} {esc(value)} <span aria-hidden="true">×</span></a>'
            )
    if not chips:
        return ""
    return f'<nav class="chips" aria-label="Active filters">{"".join(chips)}</nav>'


def facet_html(request: SearchRequest, field: str, counts: Sequence[tuple[str, int]]) -> str:
    """One facet: its values with counts; a click adds or removes the filter."""
    items = []
    for value, count in counts:
        active = request.has_filter(field, value)
        href = request.toggled(field, value).url()
        state = ' class="active"' if active else ""
        items.append(
            f'<li{state}><a href="{esc(href)}">'
            f'{esc(value)}</a> <span class="count">{count:,}</span></li>'
        )
    body = "".join(items) or '<li class="none">none</li>'
    return (
        f'<section class="facet" data-field="{esc(field)}"><h3>{esc(field)}</h3>'
        f"<ul>{body}</ul></section>"
    )


def histogram_html(request: SearchRequest, histogram: Histogram) -> str:
    """Date bars as SVG (heights as attributes: no inline style), each a link that narrows
    `since`/`until` to its period; the script adds brushing across bars."""
    bars = filled(histogram.level, histogram.bars)
    top = max((c for _, c in bars), default=0) or 1
    step = max(BAR_WIDTH[0], min(BAR_WIDTH[1], CHART_WIDTH // max(len(bars), 1)))
    bar = step - BAR_GAP
    width = max(len(bars), 1) * step
    rects = []
    for i, (value, count) in enumerate(bars):
        height = round(BAR_HEIGHT * count / top) if count else 0
        x = i * step
        href = request.changed(since=value, until=value).url()
        label = f'<text x="{x + bar / 2:g}" y="11" text-anchor="middle">{count:,}</text>'
        rects.append(
            f'<a href="{esc(href)}" class="bar{"" if count else " empty"}" '
            f'data-value="{esc(value)}" data-count="{count}">'
            f"<title>{esc(value)}: {count:,}</title>"
            f'<rect x="{x}" y="{BAR_HEIGHT - height + 14}" width="{bar}" '
            f'height="{max(height, 1)}"></rect>{label if count and bar >= 12 else ""}</a>'
        )
    labels = ""
    if bars:
        first, last = bars[0][0], bars[-1][0]
        labels = (
            f'<div class="axis"><span>{esc(first)}</span>'
            f"<span>{esc(last) if last != first else ''}</span></div>"
        )
    links = []
    if histogram.up is not None:
        links.append(f'<a href="{esc(histogram.up.url())}">out to {esc(_outer(histogram))}</a>')
    if request.since or request.until:
        links.append(
            f'<a href="{esc(request.changed(since=None, until=None).url())}">all dates</a>'
        )
    svg = (
        f'<svg class="bars" width="{width}" height="{BAR_HEIGHT + 14}" '
        f'viewBox="0 0 {width} {BAR_HEIGHT + 14}" role="img" '
        f'aria-label="matches per {esc(histogram.level)}">{"".join(rects)}</svg>'
    )
    nav = f'<p class="dates-nav">{" · ".join(links)}</p>' if links else ""
    return (
        f'<section class="histogram" data-level="{esc(histogram.level)}">'
        f"<h3>dates by {esc(histogram.level)}</h3>{svg}{labels}{nav}</section>"
    )


def filled(level: str, bars: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """`bars` with the periods between the first and the last that have no match, as zero
    bars, so that the chart's gaps are time's; unchanged if a value is not such a period."""
    pattern = {"year": r"\d{4}", "month": r"\d{4}-\d{2}", "day": r"\d{4}-\d{2}-\d{2}"}[level]
    if not bars or not all(re.fullmatch(pattern, v) for v, _ in bars):
        return list(bars)
    counts = dict(bars)
    periods = _periods(level, min(counts), max(counts))
    if periods is None:
        return list(bars)
    return [(p, counts.get(p, 0)) for p in periods]


def _periods(level: str, first: str, last: str) -> list[str] | None:
    from datetime import date, timedelta

    out: list[str] = []
    if level == "year":
        out = [f"{y:04d}" for y in range(int(first), int(last) + 1)]
    elif level == "month":
        y, m = int(first[:4]), int(first[5:7])
        while f"{y:04d}-{m:02d}" <= last and len(out) <= MAX_FILLED:
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    else:
        try:
            day, end = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError:
            return None
        while day <= end and len(out) <= MAX_FILLED:
            out.append(day.isoformat())
            day += timedelta(days=1)
    return out if len(out) <= MAX_FILLED else None


def _outer(histogram: Histogram) -> str:
    return "years" if histogram.level == "month" else "months"


def results_html(request: SearchRequest, results) -> str:
    """The summary line, notes, suggestion, sort links, hits and pagination."""
    parts = []
    millis = results.seconds * 1000
    noun = "hit" if results.total == 1 else "hits"
    summary = f"{results.total:,} {noun}"
    if results.hits:
        summary += f", showing {results.hits[0].rank}-{results.hits[-1].rank}"
    parts.append(
        f'<p class="summary"><span class="total" data-total="{results.total}">{esc(summary)}'
        f"</span> ({millis:.1f} ms)</p>"
    )
    for note in results.notes:
        parts.append(f'<p class="note">note: {esc(note)}</p>')
    if results.suggestion:
        href = request.changed(q=results.suggestion).url()
        parts.append(
            f'<p class="suggestion">Did you mean <a href="{esc(href)}">'
            f"{esc(results.suggestion)}</a>?</p>"
        )
    sorts = []
    for value, label in (("relevance", "relevance"), ("-date", "newest"), ("date", "oldest")):
        if value == request.sort:
            sorts.append(f'<strong aria-current="true">{label}</strong>')
        else:
            sorts.append(f'<a href="{esc(request.changed(sort=value).url())}">{label}</a>')
    parts.append(f'<p class="sort">Sort by {" · ".join(sorts)}</p>')
    hits = "".join(hit_html(hit) for hit in results.hits)
    parts.append(
        f'<ol class="hits" start="{results.hits[0].rank if results.hits else 1}">{hits}</ol>'
    )
    parts.append(pagination_html(request, results))
    return "".join(parts)


def hit_html(hit) -> str:
    """One hit: title linking to its page, date, source, folder, highlighted snippet."""
    meta = [f"<time>{esc(hit.date[:10])}</time>" if hit.date else "<span>undated</span>"]
    source = ", ".join(hit.fields.get("source", ())) or _file_name(hit.path)
    if source:
        meta.append(f'<span class="source">{esc(source)}</span>')
    folder = ", ".join(hit.fields.get("folder", ()))
    if folder:
        meta.append(f'<span class="folder">{esc(folder)}</span>')
    snippet = f'<p class="snippet">{marked(hit.snippet)}</p>' if hit.snippet.text else ""
    return (
        f'<li class="hit" data-id="{esc(hit.id)}"><h2><a href="{esc(doc_url(hit.id))}">'
        f"{esc(hit.title or '(no title)')}</a></h2>"
        f'<p class="meta">{" · ".join(meta)}</p>{snippet}</li>'
    )


def _file_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if path else ""


def pagination_html(request: SearchRequest, results) -> str:
    """Previous / next links and the page number."""
    pages = max(1, -(-results.total // request.limit))
    if pages == 1 and request.page == 1:
        return ""
    links = []
    if request.page > 1:
        prev = request.changed(page=min(request.page - 1, pages))
        links.append(f'<a rel="prev" href="{esc(prev.url())}">← previous</a>')
    links.append(f"<span>page {request.page:,} of {pages:,}</span>")
    if request.page < pages:
        links.append(
            f'<a rel="next" href="{esc(request.changed(page=request.page + 1).url())}">next →</a>'
        )
    return f'<nav class="pages" aria-label="Pages">{" ".join(links)}</nav>'


def document_page(doc, similar) -> str:
    """A stored document in full: title, metadata (values link to a search filtered on
    them), body, and similar articles."""
    rows = [("id", esc(doc.id)), ("date", esc(doc.date.isoformat()) if doc.date else "-")]
    if doc.path:
        rows.append(("path", esc(doc.path)))
    for name, values in doc.fields.items():
        links = ", ".join(
            f'<a href="{esc(_same_value(name, v).url())}">{esc(v)}</a>' for v in values
        )
        rows.append((name, links))
    table = "".join(f"<tr><th>{esc(name)}</th><td>{value}</td></tr>" for name, value in rows)
    paragraphs = [p for p in re.split(r"\n\s*\n", doc.body.strip()) if p.strip()]
    body = "".join(f"<p>{esc(p.strip())}</p>" for p in paragraphs)
    more = "".join(
        f'<li><a href="{esc(doc_url(h.id))}">{esc(h.title or "(no title)")}</a> '
        f'<span class="meta">{esc((h.date or "undated")[:10])}</span></li>'
        for h in similar.hits
    )
    similar_html = (
        f'<section class="similar"><h2>Similar articles</h2><ol>{more}</ol></section>'
        if more
        else ""
    )
    content = (
        f'{search_box(SearchRequest())}<main class="document"><article>'
        f'<h1>{esc(doc.title or "(no title)")}</h1><table class="meta">{table}</table>'
        f'<div class="body">{body}</div></article>{similar_html}</main>'
    )
    return page(f"{doc.title or doc.id} - searchkit", content)


def _same_value(field: str, value: str) -> SearchRequest:
    """The search for the documents with this metadata value: `field:"value"` in the box
    (a search needs a query), else, for a value that cannot be quoted, every document
    filtered on it."""
    if '"' in value or "\\" in value:
        return SearchRequest(q="*", where=(f"{field}={value}",))
    return SearchRequest(q=f'{field}:"{value}"')


def error_page(status: int, message: str) -> str:
    """A page saying what went wrong (the same one line the command line prints)."""
    body = f'{search_box(SearchRequest())}<main class="results"><p class="error" role="alert">'
    return page(f"{status} - searchkit", body + f"{esc(message)}</p></main>")
