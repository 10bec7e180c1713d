"""One search as a URL: the page's and the API's parameters parsed once into a frozen
`SearchRequest`, and links built back from it, so that every piece of state lives in the URL.

    /?q=cocoa&where=places%3Dbrazil&facet=topics&since=2020&until=2021&sort=-date&page=2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlencode

from ..errors import InvalidValue

#: `sort` values, as `searchkit search --sort` takes them (searchkit.search.SORTS).
SORTS = ("relevance", "date", "-date")
DEFAULT_LIMIT = 10
#: A page of the API cannot ask for more hits than this: one request must stay cheap.
MAX_LIMIT = 1000
MAX_FRAGMENTS = 10


@dataclass(frozen=True)
class SearchRequest:
    """What a search page or `/api/search` asks for: the same options as `searchkit search`.

    `where` holds `FIELD=VALUE` strings in the order given (values of one field OR'ed, fields
    AND'ed, as `--where`); `facets` the fields asked for with `facet=`.
    """

    q: str = ""
    where: tuple[str, ...] = ()
    facets: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    sort: str = "relevance"
    page: int = 1
    limit: int = DEFAULT_LIMIT
    fragments: int = 1
    facet_limit: int = 10
    strict: bool = False

    @classmethod
    def from_query_string(cls, query_string: str) -> SearchRequest:
        """Parse a URL's query string; raises `InvalidValue` naming a bad parameter."""
        params = parse_qs(query_string, keep_blank_values=True)
        return cls.from_params(params)

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> SearchRequest:
        """Parse parameters (name -> values, as `parse_qs` gives them)."""

        def last(name: str) -> str | None:
            values = params.get(name)
            return values[-1] if values else None

        sort = last("sort") or "relevance"
        if sort not in SORTS:
            raise InvalidValue("sort", f"must be one of {', '.join(SORTS)}, not {sort!r}")
        where = tuple(w for w in params.get("where", ()) if w)
        for item in where:
            if "=" not in item or not item.partition("=")[0].strip():
                raise InvalidValue("where", f"must be FIELD=VALUE, not {item!r}")
        return cls(
            q=(last("q") or "").strip(),
            where=tuple(dict.fromkeys(where)),
            facets=tuple(dict.fromkeys(f for f in params.get("facet", ()) if f)),
            since=last("since") or None,
            until=last("until") or None,
            sort=sort,
            page=_whole(last("page"), "page", 1, minimum=1),
            limit=_whole(last("limit"), "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT),
            fragments=_whole(last("fragments"), "fragments", 1, minimum=0, maximum=MAX_FRAGMENTS),
            facet_limit=_whole(last("facet_limit"), "facet_limit", 10, minimum=0),
            strict=(last("strict") or "").lower() in ("1", "true", "yes", "on"),
        )

    # -- the library call ------------------------------------------------------------------

    def search_options(self, facets: Sequence[str] | None = None) -> dict:
        """Keyword arguments for `Index.search` (after the query text), as the CLI passes
        them; `facets` replaces the requested facets (the page asks for more)."""
        return dict(
            limit=self.limit,
            page=self.page,
            since=self.since,
            until=self.until,
            where=list(self.where),
            facets=list(self.facets if facets is None else facets),
            facet_limit=self.facet_limit or None,
            sort=self.sort,
            fragments=self.fragments,
            strict=self.strict,
        )

    # -- links -----------------------------------------------------------------------------

    def query_string(self) -> str:
        """The URL query string that parses back into this request (defaults left out)."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        pairs += [("where", w) for w in self.where]
        pairs += [("facet", f) for f in self.facets]
        if self.since:
            pairs.append(("since", self.since))
        if self.until:
            pairs.append(("until", self.until))
        if self.sort != "relevance":
            pairs.append(("sort", self.sort))
        if self.page != 1:
            pairs.append(("page", str(self.page)))
        if self.limit != DEFAULT_LIMIT:
            pairs.append(("limit", str(self.limit)))
        if self.fragments != 1:
            pairs.append(("fragments", str(self.fragments)))
        if self.facet_limit != 10:
            pairs.append(("facet_limit", str(self.facet_limit)))
        if self.strict:
            pairs.append(("strict", "1"))
        return urlencode(pairs)

    def url(self, path: str = "/") -> str:
        """`path` with this request's query string."""
        query = self.query_string()
        return f"{path}?{query}" if query else path

    def changed(self, **changes) -> SearchRequest:
        """A copy with `changes`; any change but the page goes back to page 1."""
        if "page" not in changes:
            changes["page"] = 1
        return replace(self, **changes)

    def has_filter(self, field: str, value: str) -> bool:
        """True if `where` holds `field=value`."""
        return f"{field}={value}" in self.where

    def toggled(self, field: str, value: str) -> SearchRequest:
        """The request with the filter `field=value` added, or removed if present."""
        item = f"{field}={value}"
        if item in self.where:
            return self.changed(where=tuple(w for w in self.where if w != item))
        return self.changed(where=(*self.where, item))

    def filters(self) -> list[tuple[str, str]]:
        """The `where` filters as (field, value) pairs."""
        return [(w.partition("=")[0].strip(), w.partition("=")[2].strip()) for w in self.where]

    def without_field(self, field: str) -> SearchRequest:
        """The request without the filters on `field` (for that field's own facet counts)."""
        return replace(self, where=tuple(w for w in self.where if _field_of(w) != field))


def _field_of(item: str) -> str:
    return item.partition("=")[0].strip()


def _whole(
    text: str | None, name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidValue(name, f"must be a whole number, not {text!r:.40}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidValue(name, f"must be at least {minimum}{upper}, not {value}")
    return value
