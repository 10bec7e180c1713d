"""User query text and filters -> Whoosh query objects.

The query language is Whoosh's (AND / OR / NOT, `"phrases"`, `field:value`, wildcards, `term~`,
ranges, grouping), with words AND'ed across `title` and `body`, plus searchkit's own layer:

- lenient by default: text typed into a search box (unbalanced quotes or brackets, a stray `:`,
  an unknown field, a dangling operator, a question in capitals) is searched as words; with
  `strict=True` the same text is a `QuerySyntaxError` saying where;
- `date:` values, `--since` and `--until` are read by `dates.parse_when` (absolute dates and
  relative ones such as `yesterday`, `7d`, `last month`), never by Whoosh's DateParserPlugin,
  which misreads ISO ranges and turns `>` into a query that silently matches nothing;
- a date range matches a document when the document's whole period lies inside it, built from
  the `day` / `month` / `year` keyword columns, keyed as `dates` keys them (a numeric range over
  second-precision timestamps expands to thousands of terms: ~200 ms for one month of Reuters);
- every query has a bounded cost: `bound_expansions` caps what wildcards, prefixes, fuzzy terms
  and ranges expand to, with a note saying what was limited.
"""

from __future__ import annotations

import calendar
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from whoosh import qparser
from whoosh import query as wq
from whoosh.qparser import syntax

from .dates import (
    END_OF_DAY,
    DateSpan,
    day_key,
    day_range,
    month_key,
    parse_when,
    utc_now,
    year_key,
)
from .errors import DateError, InvalidValue, QuerySyntaxError, UsageError
from .schema import DATE_FACETS, TEXT_FIELDS, fold_keyword, is_metadata_field

#: Longer query text is cut here (at a space), with a note: Whoosh's parser grows faster than
#: linearly with the length (4,000 characters of brackets take ~130 ms to parse).
MAX_QUERY_CHARS = 2000

#: Fields a query can name besides the metadata facets found in the index.
QUERY_FIELDS = ("title", "body", "id", "path", "date", *DATE_FACETS)


# -- date filters ----------------------------------------------------------------------------


class PeriodQuery(wq.WrappingQuery):
    """Documents whose whole period lies in [start, end]; prints as `date:[start .. end]`."""

    def __init__(self, child, start: datetime | None = None, end: datetime | None = None):
        super().__init__(child)
        self.start = start
        self.end = end

    def _rewrap(self, child):
        return self.__class__(child, self.start, self.end)

    def __eq__(self, other):
        return (
            type(other) is type(self)
            and (self.start, self.end) == (other.start, other.end)
            and self.child == other.child
        )

    def __hash__(self):
        return hash((self.start, self.end))

    def __unicode__(self):
        lo = self.start.isoformat() if self.start else ""
        hi = self.end.isoformat() if self.end else ""
        return f"date:[{lo} .. {hi}]"

    __str__ = __unicode__


def period_query(start: datetime | None, end: datetime | None) -> wq.Query | None:
    """Match documents with `date >= start` and `date_end <= end` (None: open); None if both open.

    The whole years, then months, then days lying inside the range match through the `year`,
    `month` and `day` keyword terms (every document of such a period lies inside), so a range
    costs a few dozen terms at most; a day cut by an exact time compares the exact start and
    end of that day's documents only.
    """
    if start is None and end is None:
        return None
    clauses: list[wq.Query] = []
    # Whole days inside the range, as dates (None: open).
    day_lo = day_hi = None
    if start is not None:
        day_lo = start.date() if start.time() == time.min else _next_day(start.date())
    if end is not None:
        day_hi = end.date() if end.time() == END_OF_DAY else _prev_day(end.date())
    whole_days = (day_lo is not None or start is None) and (day_hi is not None or end is None)
    if whole_days and _ordered(day_lo, day_hi):
        # Whole months inside those days, as (year, month) ...
        month_lo = month_hi = None
        if day_lo is not None:
            month_lo = (day_lo.year, day_lo.month)
            if day_lo.day != 1:
                month_lo = _shift_month(month_lo, 1)
        if day_hi is not None:
            month_hi = (day_hi.year, day_hi.month)
            if day_hi.day != calendar.monthrange(day_hi.year, day_hi.month)[1]:
                month_hi = _shift_month(month_hi, -1)
        whole_months = (month_lo is not None or day_lo is None) and (
            month_hi is not None or day_hi is None
        )
        if whole_months and _ordered(month_lo, month_hi):
            # ... and whole years inside those months.
            year_lo = year_hi = None
            if month_lo is not None:
                year_lo = month_lo[0] if month_lo[1] == 1 else month_lo[0] + 1
            if month_hi is not None:
                year_hi = month_hi[0] if month_hi[1] == 12 else month_hi[0] - 1
            if _ordered(year_lo, year_hi):
                clauses.append(_key_range("year", year_lo, year_hi, year_key))
                if year_lo is not None:
                    _add_range(clauses, "month", month_lo, _shift_month((year_lo, 1), -1))
                if year_hi is not None:
                    _add_range(clauses, "month", _shift_month((year_hi, 12), 1), month_hi)
            else:
                clauses.append(_key_range("month", month_lo, month_hi, _month_of))
            if month_lo is not None:
                _add_range(clauses, "day", day_lo, _prev_day(_month_start(month_lo)))
            if month_hi is not None:
                _add_range(clauses, "day", _next_day(_month_end(month_hi)), day_hi)
        else:
            clauses.append(_key_range("day", day_lo, day_hi, day_key))

    boundary = set()
    if start is not None and start.time() != time.min:
        boundary.add(start.date())
    if end is not None and end.time() != END_OF_DAY:
        boundary.add(end.date())
    for d in sorted(boundary):
        d0, d1 = day_range(d)
        lo = max(start, d0) if start is not None else d0
        hi = min(end, d1) if end is not None else d1
        if lo <= hi:
            clauses.append(
                wq.And(
                    [
                        wq.Term("day", day_key(d)),
                        wq.DateRange("date", lo, d1),
                        wq.DateRange("date_end", d0, hi),
                    ]
                )
            )
    child = clauses[0] if len(clauses) == 1 else wq.Or(clauses) if clauses else wq.NullQuery
    return PeriodQuery(child, start, end)


def _month_of(ym: tuple[int, int]) -> str:
    return month_key(*ym)


def _month_start(ym: tuple[int, int]) -> date:
    return date(ym[0], ym[1], 1)


def _month_end(ym: tuple[int, int]) -> date:
    return date(ym[0], ym[1], calendar.monthrange(ym[0], ym[1])[1])


def _add_range(clauses: list, field: str, lo, hi) -> None:
    # The days or months on one side of a coarser period: `lo`..`hi`, when not empty.
    if lo is None or hi is None or lo > hi:
        return
    key = day_key if field == "day" else _month_of
    clauses.append(_key_range(field, lo, hi, key))


def _next_day(d: date) -> date | None:
    return d + timedelta(days=1) if d < date.max else None


def _prev_day(d: date) -> date | None:
    return d - timedelta(days=1) if d > date.min else None


def _shift_month(ym: tuple[int, int], delta: int) -> tuple[int, int] | None:
    index = ym[0] * 12 + ym[1] - 1 + delta
    year, month = divmod(index, 12)
    return (year, month + 1) if 1 <= year <= 9999 else None


def _ordered(lo, hi) -> bool:
    return lo is None or hi is None or lo <= hi


def _key_range(field: str, lo, hi, key) -> wq.Query:
    lo_key = key(lo) if lo is not None else None
    hi_key = key(hi) if hi is not None else None
    if lo_key is not None and lo_key == hi_key:
        return wq.Term(field, lo_key)
    return wq.TermRange(field, lo_key, hi_key, False, False)


def span_query(since: DateSpan | None, until: DateSpan | None) -> wq.Query | None:
    """The date filter of `--since` / `--until`; raises `DateError` if it ends before it starts."""
    start = since.start if since else None
    end = until.end if until else None
    if start is not None and end is not None and start > end:
        raise DateError(str(since), f"it is after the end of the range ({until})")
    return period_query(start, end)


# -- metadata filters ------------------------------------------------------------------------


def parse_where(where) -> dict[str, tuple[str, ...]]:
    """`where` as {field: values}: a mapping (value or values) or `FIELD=VALUE` strings.

    Raises `InvalidValue` naming the field for a field name or a value that is not text (a
    `None` would otherwise be searched as the word "None", or fail deep inside the search).
    """
    if where is None:
        return {}
    result: dict[str, list[str]] = {}
    items = []
    if isinstance(where, Mapping):
        for name, values in where.items():
            if not isinstance(name, str):
                raise InvalidValue("where", f"a field name must be text, not {name!r}")
            if isinstance(values, str):
                values = (values,)
            elif not isinstance(values, Iterable):
                raise InvalidValue(f"where[{name!r}]", f"expected text or texts, not {values!r}")
            for value in values:
                if not isinstance(value, str):
                    raise InvalidValue(f"where[{name!r}]", f"a value must be text, not {value!r}")
                items.append((name, value))
    else:
        if isinstance(where, str):
            where = (where,)
        elif not isinstance(where, Iterable):
            raise InvalidValue("where", f"expected a mapping or FIELD=VALUE texts, not {where!r}")
        for item in where:
            if not isinstance(item, str):
                raise InvalidValue("where", f"expected FIELD=VALUE text, not {item!r}")
            name, sep, value = item.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise UsageError(f"--where expects FIELD=VALUE, got {item!r}")
            items.append((name, value))
    for name, value in items:
        name = name.strip().lower()
        result.setdefault(name, [])
        if value not in result[name]:
            result[name].append(value)
    return {k: tuple(v) for k, v in result.items()}


def where_query(where: Mapping[str, tuple[str, ...]], known: Iterable[str]) -> wq.Query | None:
    """Values of one field OR'ed, fields AND'ed; an unknown field is a `UsageError`."""
    if not where:
        return None
    known = set(known)
    clauses = []
    for name, values in where.items():
        if name not in known or not (is_metadata_field(name) or name in DATE_FACETS):
            choices = ", ".join(sorted(known)) or "none"
            raise UsageError(f"no field {name!r} to filter on (fields: {choices})")
        terms = []
        for v in values:
            text = v.strip() if name in DATE_FACETS else fold_keyword(v)
            terms.append(wq.Term(name, text))
        clauses.append(terms[0] if len(terms) == 1 else wq.Or(terms))
    return clauses[0] if len(clauses) == 1 else wq.And(clauses)


# -- query text ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedQuery:
    """A query as searchkit will run it.

    `query` is the Whoosh query to score; `filters` the `date:` clauses it was AND'ed with,
    which only restrict (they run as filters, cached, instead of being scored); `relaxed` the
    query with its words OR'ed (None when the text used explicit operators or has fewer than
    two words), run when too few documents hold every word; `notes` say what leniency changed;
    `written` the query as parsed, before `bound_parsed` expanded it, which is what it prints as.
    """

    text: str
    query: wq.Query
    relaxed: wq.Query | None = None
    notes: tuple[str, ...] = ()
    filters: tuple[wq.Query, ...] = ()
    written: wq.Query | None = None

    def __str__(self) -> str:
        # `e*` prints as `title:e* OR body:e*`, not as the fifty words it is searched with.
        query = self.written if self.written is not None else self.query
        parts = [] if isinstance(query, wq.Every) and self.filters else [query]
        parts += self.filters
        return " AND ".join(_describe(p) for p in parts)


def _describe(q: wq.Query) -> str:
    if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
        return "(nothing)"
    if isinstance(q, wq.Every) and q.fieldname is None:
        return "*"
    return str(q)


class QueryParser:
    """Parses query text for one index (it needs the index's field names).

    One instance serves many queries; `parse` keeps no state between calls.
    """

    def __init__(self, schema, metadata_fields: Iterable[str] = ()) -> None:
        self.schema = schema
        self.fields = frozenset(QUERY_FIELDS) | frozenset(metadata_fields)

    def parse(self, text: str, *, strict: bool = False, now: datetime | None = None):
        """Parse `text` into a `ParsedQuery`; raises `QuerySyntaxError` (strict) or `DateError`."""
        if not isinstance(text, str):
            raise UsageError(f"the query must be text, not {type(text).__name__}")
        notes: list[str] = []
        text = _clean(text)
        if len(text) > MAX_QUERY_CHARS:
            cut = text.rfind(" ", 0, MAX_QUERY_CHARS + 1)
            cut = cut if cut > MAX_QUERY_CHARS // 2 else MAX_QUERY_CHARS
            notes.append(
                f"query cut to its first {cut} characters (it had {len(text)}; "
                f"the limit is {MAX_QUERY_CHARS})"
            )
            text = text[:cut].rstrip()
        ctx = _Context(text, self.fields, strict, now or utc_now())
        try:
            q = self._parser(ctx).parse(text)
        except (QuerySyntaxError, DateError, UsageError):
            raise
        except Exception as exc:  # Whoosh's parser has crash paths ("NOT NOT x", ...)
            if strict:
                raise QuerySyntaxError(text, f"cannot parse ({type(exc).__name__})") from None
            words = " ".join(re.findall(r"\w+", text))
            notes.append("the query could not be parsed; searched as plain words")
            ctx = _Context(words, self.fields, False, ctx.now)
            q = self._parser(ctx, words_only=True).parse(words)
        notes.extend(ctx.notes)
        notes.extend(_check_errors(q, text, strict))
        if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            if text.strip():
                notes.append("nothing to search for: every word is too common or too short")
            return ParsedQuery(text, wq.NullQuery, None, tuple(notes))
        q, filters = _split_filters(q)
        relaxed = None if (strict or ctx.operators) else _relax(q)
        return ParsedQuery(text, q, relaxed, tuple(notes), filters)

    def _parser(self, ctx: _Context, words_only: bool = False) -> qparser.QueryParser:
        if words_only:
            plugins = []
        else:
            plugins = [
                _LenientPlugin(ctx),
                qparser.SingleQuotePlugin(),
                # A field name starts a word and with a letter, so that the colons of a time
                # (`date:2020-03-14T10:00`) are not read as field names.
                qparser.FieldsPlugin(expr=r"(?<![\w.-])(?P<text>[^\W\d]\w*|[*]):"),
                qparser.WildcardPlugin(),
                qparser.PhrasePlugin(),
                qparser.RangePlugin(),
                qparser.GroupPlugin(),
                qparser.OperatorsPlugin(),
                qparser.BoostPlugin(),
                qparser.EveryPlugin(),
                qparser.GtLtPlugin(),
                qparser.FuzzyTermPlugin(),
                _DatePlugin(ctx),
            ]
        parser = qparser.QueryParser(None, self.schema, plugins=plugins)
        parser.add_plugin(qparser.MultifieldPlugin(list(TEXT_FIELDS)))
        return parser


def _clean(text: str) -> str:
    # Control characters (a pasted NUL, ESC) are never query syntax.
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


def _check_errors(q: wq.Query, text: str, strict: bool) -> list[str]:
    """Whoosh marks a clause it could not read with `error` and lets it match nothing."""
    notes = []
    for leaf in _walk(q):
        error = getattr(leaf, "error", None)
        if error:
            if strict:
                raise QuerySyntaxError(text, str(error))
            notes.append(f"part of the query was not understood and matches nothing: {error}")
    return notes


def _walk(q: wq.Query):
    yield q
    if not q.is_leaf():
        for child in q.children():
            yield from _walk(child)


def _split_filters(q: wq.Query) -> tuple[wq.Query, tuple[wq.Query, ...]]:
    """(the query to score, the `date:` clauses it is AND'ed with)."""
    if isinstance(q, PeriodQuery):
        return wq.Every(), (q,)
    if isinstance(q, wq.And):
        periods = tuple(c for c in q.subqueries if isinstance(c, PeriodQuery))
        if periods:
            rest = [c for c in q.subqueries if not isinstance(c, PeriodQuery)]
            return (rest[0] if len(rest) == 1 else wq.And(rest)), periods
    return q, ()


def _relax(q: wq.Query) -> wq.Query | None:
    """The words of an implicit AND OR'ed together; clauses on other fields stay required."""
    if not isinstance(q, wq.And):
        return None
    words, required = [], []
    for sub in q.subqueries:
        fields = {leaf.field() for leaf in sub.leaves()}
        if fields and fields <= set(TEXT_FIELDS) and not isinstance(sub, wq.Not):
            words.append(sub)
        else:
            required.append(sub)
    if len(words) < 2:
        return None
    either = wq.Or(words)
    return wq.And([*required, either]) if required else either


class _Context:
    """What one parse needs and finds: the fields, the mode, repairs made, operators kept."""

    def __init__(self, text: str, fields: frozenset[str], strict: bool, now: datetime) -> None:
        self.text = text
        self.fields = fields
        self.strict = strict
        self.now = now
        self.notes: list[str] = []
        self.operators = False

    def problem(self, pos: int | None, what: str) -> None:
        """A syntax problem: an error in strict mode, a note in lenient mode."""
        where = f" at column {pos + 1}" if pos is not None else ""
        if self.strict:
            raise QuerySyntaxError(self.text, f"{what}{where}")
        note = f"{what}{where}: searched as words"
        if note not in self.notes:
            self.notes.append(note)


_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "REQUIRE"})
_WILDCARD = qparser.WildcardPlugin.WildcardNode
_OPEN = qparser.GroupPlugin.OpenBracket
_CLOSE = qparser.GroupPlugin.CloseBracket
_GTLT = qparser.GtLtPlugin.GtLtNode


class _LenientPlugin(qparser.Plugin):
    """Runs first, on the flat list of tagged nodes: repairs (lenient) or rejects (strict)."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx

    def filters(self, parser):
        return [(self.check, -10)]

    def check(self, parser, group):
        ctx = self.ctx
        nodes = list(group)
        if not ctx.strict and _is_shouted_question(ctx.text):
            nodes = [_word(n, n.text) if isinstance(n, syntax.Operator) else n for n in nodes]
        nodes = self._punctuation(nodes)
        nodes = self._fieldnames(nodes)
        self._quotes_and_brackets(nodes)
        nodes = self._operators(nodes)
        ctx.operators = any(isinstance(n, syntax.Operator) for n in nodes)
        out = group.empty_copy()
        out.extend(nodes)
        return out

    def _punctuation(self, nodes):
        out = []
        for i, node in enumerate(nodes):
            if isinstance(node, _WILDCARD):
                prev = nodes[i - 1] if i else None
                nxt = nodes[i + 1] if i + 1 < len(nodes) else None
                if node.text != "*" and _edge(nxt):
                    # A `?` ending a word ends a question; it is not a one-letter wildcard.
                    continue
                if node.text == "*" and _edge(prev) and _edge(nxt):
                    # A lone `*` means every document, not every term of two fields.
                    every = qparser.EveryPlugin.EveryNode()
                    every.startchar, every.endchar = node.startchar, node.endchar
                    out.append(every)
                    continue
            out.append(node)
        return out

    def _fieldnames(self, nodes):
        ctx = self.ctx
        out = []
        for i, node in enumerate(nodes):
            if isinstance(node, syntax.FieldnameNode):
                name = node.fieldname.lower()
                nxt = nodes[i + 1] if i + 1 < len(nodes) else None
                if name not in ctx.fields:
                    ctx.problem(node.startchar, f"unknown field {node.fieldname!r}")
                    out.append(_word(node, node.original))
                    continue
                if nxt is None or nxt.is_ws() or isinstance(nxt, (_CLOSE, syntax.Operator)):
                    ctx.problem(node.startchar, f"nothing after {node.original!r}")
                    out.append(_word(node, node.original))
                    continue
                node.fieldname = name
            out.append(node)
        return out

    def _quotes_and_brackets(self, nodes):
        ctx = self.ctx
        opened = []
        for i, node in enumerate(nodes):
            if isinstance(node, _OPEN):
                opened.append(node)
            elif isinstance(node, _CLOSE):
                if opened:
                    opened.pop()
                else:
                    ctx.problem(node.startchar, "unmatched ')'")
            elif isinstance(node, syntax.WordNode):
                for k, ch in enumerate(node.text):
                    if ch == '"':
                        ctx.problem(_at(node, k), "unclosed quote")
                    elif ch in "[{":
                        ctx.problem(_at(node, k), f"unclosed range {ch!r}")
                    elif ch in "]}":
                        ctx.problem(_at(node, k), f"unmatched {ch!r}")
            elif isinstance(node, _GTLT):
                if not (i and isinstance(nodes[i - 1], syntax.FieldnameNode)):
                    ctx.problem(node.startchar, f"{node.rel!r} needs a field before it")
        for node in opened:
            ctx.problem(node.startchar, "unclosed '('")

    def _operators(self, nodes):
        ctx = self.ctx
        while True:
            bad = None
            solid = [n for n in nodes if not n.is_ws()]
            for k, node in enumerate(solid):
                if not isinstance(node, syntax.Operator):
                    continue
                left = solid[k - 1] if k else None
                right = solid[k + 1] if k + 1 < len(solid) else None
                name = node.text.strip()
                if isinstance(node, syntax.InfixOperator) and (
                    left is None or isinstance(left, (syntax.Operator, _OPEN))
                ):
                    bad = (node, f"{name!r} has nothing before it")
                elif right is None or isinstance(right, (syntax.InfixOperator, _CLOSE)):
                    bad = (node, f"{name!r} has nothing after it")
                elif isinstance(right, syntax.PrefixOperator) and isinstance(
                    node, syntax.PrefixOperator
                ):
                    bad = (node, f"{name!r} is followed by another {name!r}")
                if bad:
                    break
            if bad is None:
                return nodes
            node, what = bad
            ctx.problem(node.startchar, what)
            nodes = [n for n in nodes if n is not node]


def _is_shouted_question(text: str) -> bool:
    """All capitals and at least three words besides operators: a question, not boolean logic."""
    if any(ch.islower() for ch in text):
        return False
    words = [w for w in re.findall(r"[^\W\d_]+", text) if w not in _OPERATOR_WORDS]
    return len(words) >= 3


def _edge(node) -> bool:
    return node is None or node.is_ws() or isinstance(node, (_OPEN, _CLOSE))


def _at(node, offset: int) -> int | None:
    start = getattr(node, "startchar", None)
    return None if start is None else start + offset


def _word(node, text: str) -> syntax.WordNode:
    word = syntax.WordNode(text)
    word.startchar = getattr(node, "startchar", None)
    word.endchar = getattr(node, "endchar", None)
    return word


class _DateNode(syntax.SyntaxNode):
    """A `date:` clause, already parsed into a period."""

    has_fieldname = True
    has_boost = False

    def __init__(self, start: datetime | None, end: datetime | None) -> None:
        self.fieldname = "date"
        self.start = start
        self.end = end

    def r(self):
        return f"date[{self.start} .. {self.end}]"

    def query(self, parser):
        q = period_query(self.start, self.end)
        return q if q is not None else wq.Every()


class _DatePlugin(qparser.Plugin):
    """Turns `date:` nodes into period queries (after fields are set, before multifield)."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx

    def filters(self, parser):
        return [(self.dates, 105)]

    def dates(self, parser, group):
        for i, node in enumerate(group):
            if isinstance(node, syntax.GroupNode):
                group[i] = self.dates(parser, node)
            elif getattr(node, "fieldname", None) == "date" and not isinstance(node, _DateNode):
                group[i] = self._convert(node)
        return group

    def _convert(self, node) -> syntax.SyntaxNode:
        now = self.ctx.now
        if isinstance(node, syntax.RangeNode):
            start = end = None
            if node.start:
                span = parse_when(node.start, now=now)
                start = span.end + timedelta(microseconds=1) if node.startexcl else span.start
            if node.end:
                span = parse_when(node.end, now=now)
                end = span.start - timedelta(microseconds=1) if node.endexcl else span.end
            if start is not None and end is not None and start > end:
                raise DateError(f"{node.start} to {node.end}", "the range ends before it starts")
            out = _DateNode(start, end)
        elif node.has_text:
            span = parse_when(node.text, now=now)
            out = _DateNode(span.start, span.end)
        else:
            raise DateError(type(node).__name__, "not a date")
        out.startchar = getattr(node, "startchar", None)
        out.endchar = getattr(node, "endchar", None)
        return out


# -- bounded cost ----------------------------------------------------------------------------

#: Most edits a fuzzy term allows: `cocoa~5` is searched as `cocoa~2`. Lucene's Levenshtein
#: automata stop at 2 and Elasticsearch rejects more; on Reuters `cocoa~5` took 31 s and
#: matched 21,574 of 21,578 documents.
MAX_EDITS = 2

#: Fuzzy terms share at least this many first letters with the word (`cocoa~2/0` is searched
#: as `cocoa~2/1`, Whoosh's default): with none, every term of the field is compared (~1.5 s
#: per field on Reuters).
MIN_FUZZY_PREFIX = 1

#: Most terms one wildcard, prefix, fuzzy term or text range is searched with: those with the
#: highest document frequency (Elasticsearch's `max_expansions` default for fuzzy queries,
#: kept as Lucene's TopTermsRewrite keeps the top terms). `*e*` matches 13,489 Reuters terms.
MAX_EXPANSIONS = 50

#: Most terms all the expansions of one query add up to (Lucene's and Elasticsearch's
#: historical `max_clause_count`); a clause beyond it matches nothing, with a note.
MAX_EXPANDED_TERMS = 1024

#: Most term-dictionary entries one query's expansions may examine: a leading wildcard scans
#: a field's whole dictionary, about 80,000 entries per field and segment pair on Reuters
#: (~0.3 s); a query of hundreds of such patterns must not scan it hundreds of times.
MAX_TERMS_EXAMINED = 100_000

_WILDCARD_SPECIALS = frozenset("*?[")


def bound_expansions(
    q: wq.Query,
    reader,
    *,
    max_expansions: int = MAX_EXPANSIONS,
    max_terms: int = MAX_EXPANDED_TERMS,
    max_examined: int = MAX_TERMS_EXAMINED,
) -> tuple[wq.Query, tuple[str, ...]]:
    """`q` with every multi-term clause replaced by the terms it is searched with, and notes.

    Each wildcard, prefix, regex, fuzzy term, range over a text field and `title:*`-style
    field wildcard becomes an `Or` of at most `max_expansions` `Term`s: the matching terms of
    `reader` (an index reader, one segment or many) with the highest document frequency, ties
    by term. Fuzzy terms allow at most `MAX_EDITS` edits. Together the clauses add at most
    `max_terms` terms and examine at most `max_examined` dictionary entries. Each limit that
    changed what is searched adds a note. Date periods are left whole: they are filters.
    A query without such clauses comes back as it was.
    """
    bounder = _Bounder(reader, max_expansions, max_terms, max_examined)
    return bounder.rewrite(q), bounder.notes()


def bound_parsed(parsed: ParsedQuery, reader) -> ParsedQuery:
    """`parsed` with `bound_expansions` applied to its query and its relaxed form, notes added.

    The search calls this once per search, before evaluating: the two forms share one budget
    and each clause is expanded once.
    """
    bounder = _Bounder(reader, MAX_EXPANSIONS, MAX_EXPANDED_TERMS, MAX_TERMS_EXAMINED)
    query = bounder.rewrite(parsed.query)
    relaxed = bounder.rewrite(parsed.relaxed) if parsed.relaxed is not None else None
    notes = bounder.notes()
    if query is parsed.query and relaxed is parsed.relaxed and not notes:
        return parsed
    return replace(
        parsed,
        query=query,
        relaxed=relaxed,
        notes=(*parsed.notes, *notes),
        written=parsed.written if parsed.written is not None else parsed.query,
    )


class _Bounder:
    """One query's expansions: the budget left, expansions made (by clause), what was limited."""

    def __init__(self, reader, max_expansions: int, max_terms: int, max_examined: int) -> None:
        self.reader = reader
        self.leaves = [sub for sub, _ in reader.leaf_readers()]
        self.max_expansions = max_expansions
        self.terms_left = max_terms
        self.max_terms = max_terms
        self.examined_left = max_examined
        self.max_examined = max_examined
        self.done: dict[tuple, wq.Query] = {}
        # label -> the largest count of terms it matched in one field (when capped)
        self.capped: dict[str, int] = {}
        self.fuzzy: dict[str, str] = {}
        self.cut_short: list[str] = []
        self.squeezed: list[str] = []
        self.skipped: list[str] = []

    def notes(self) -> tuple[str, ...]:
        """What was limited, one note per limit and clause, in query order."""
        out = [
            f"{old!r} searched as {new!r}: fuzzy terms allow at most {MAX_EDITS} edits and keep "
            f"at least their first {MIN_FUZZY_PREFIX} letter as written"
            for old, new in self.fuzzy.items()
        ]
        out += [
            f"{label!r} matches {count:,} terms; only the {self.max_expansions} most frequent "
            "were searched"
            for label, count in self.capped.items()
        ]
        out += [
            f"{label!r} was searched with the terms found in the first "
            f"{self.max_examined:,} dictionary entries the query examined"
            for label in dict.fromkeys(self.cut_short)
        ]
        out += [
            f"{label!r} was searched with fewer terms: the query reached its limit of "
            f"{self.max_terms:,} terms"
            for label in dict.fromkeys(self.squeezed)
        ]
        out += [
            f"{label!r} was not searched: the query already expands to {self.max_terms:,} terms"
            for label in dict.fromkeys(self.skipped)
        ]
        return tuple(out)

    def rewrite(self, q: wq.Query) -> wq.Query:
        """`q` with its multi-term clauses expanded (the same object when there are none)."""
        if isinstance(q, PeriodQuery):
            return q
        if isinstance(q, wq.FuzzyTerm) or (
            isinstance(q, wq.MultiTerm) and not self._other_field_range(q)
        ):
            return self._expand(q)
        if isinstance(q, wq.Every) and q.fieldname not in (None, "*"):
            if q.fieldname == "id":
                return wq.Every(boost=q.boost)  # every document has an id
            return self._expand(q)
        if q.is_leaf():
            return q
        rewritten = q.apply(self.rewrite)
        if all(a is b for a, b in zip(rewritten.children(), q.children(), strict=True)):
            return q  # nothing expanded: the very same query, cheap to compare
        return rewritten

    def _other_field_range(self, q: wq.Query) -> bool:
        # A range over a keyword field (`year:[1980 TO 1990]`, `day:[...]`) is a filter: every
        # term counts, and such fields hold a term or a few per document, not thousands.
        return isinstance(q, wq.TermRange) and q.fieldname not in TEXT_FIELDS

    def _expand(self, q: wq.Query) -> wq.Query:
        if isinstance(q, wq.FuzzyTerm) and (
            q.maxdist > MAX_EDITS or q.prefixlength < MIN_FUZZY_PREFIX
        ):
            label = _label(q)
            maxdist = min(q.maxdist, MAX_EDITS)
            prefix = max(q.prefixlength, MIN_FUZZY_PREFIX)
            q = wq.FuzzyTerm(q.fieldname, q.text, q.boost, maxdist, prefix)
            self.fuzzy[label] = _label(q)
        key = (type(q).__name__, repr(q), q.boost)
        if key in self.done:
            return self.done[key]
        field = q.fieldname
        if field not in self.reader.schema:
            expanded = wq.NullQuery
        else:
            expanded = self._top_terms(q, field)
        self.done[key] = expanded
        return expanded

    def _top_terms(self, q: wq.Query, field: str) -> wq.Query:
        label = _label(q)
        wanted = min(self.max_expansions, self.terms_left)
        if wanted <= 0:
            self.skipped.append(label)
            return wq.NullQuery
        frequency: dict = {}
        for sub in self.leaves:
            for found in self._candidates(q, sub, field):
                if self.examined_left <= 0:
                    self.cut_short.append(label)
                    break
                self.examined_left -= 1
                if found is not None:
                    term, n = found
                    frequency[term] = frequency.get(term, 0) + n
        matched = [(-n, term) for term, n in frequency.items() if n > 0]
        if len(matched) > wanted:
            if wanted == self.max_expansions:
                self.capped[label] = max(self.capped.get(label, 0), len(matched))
            else:
                self.squeezed.append(label)
        kept = sorted(matched)[:wanted]
        self.terms_left -= len(kept)
        from_bytes = self.reader.schema[field].from_bytes
        terms = [wq.Term(field, from_bytes(t), boost=q.boost) for _, t in kept]
        if not terms:
            return wq.NullQuery
        return terms[0] if len(terms) == 1 else wq.Or(terms)

    def _candidates(self, q: wq.Query, sub, field: str):
        """(term, document frequency) for each term of one segment that `q` matches, and None
        for each dictionary entry examined without a match (it counts against the budget)."""
        if isinstance(q, (wq.Every, wq.Prefix, wq.Wildcard, wq.Regex)):
            prefix, pattern = _scan_of(q)
            from_bytes = sub.schema[field].from_bytes
            # One walk of the dictionary yields each term's frequency with it: a lookup per
            # matching term instead made `body:*` three times slower on Reuters.
            for btext, info in sub.iter_prefix(field, prefix):
                if pattern is None or pattern.match(from_bytes(btext)):
                    yield btext, info.doc_frequency()
                else:
                    yield None
        elif isinstance(q, wq.FuzzyTerm):
            # The field's own terms, compared one by one: on Reuters 4-6x faster than Whoosh's
            # automaton walk (`terms_within`), which also looks in the unstemmed spelling words.
            text, maxdist, size = q.text, q.maxdist, len(q.text)
            from_bytes = sub.schema[field].from_bytes
            for btext in sub.expand_prefix(field, text[: q.prefixlength]):
                word = from_bytes(btext)
                if (
                    abs(len(word) - size) <= maxdist
                    # each letter of the text missing from the word costs an edit: a cheap bound
                    and sum(ch not in word for ch in text) <= maxdist
                    and edit_distance(word, text, maxdist) <= maxdist
                ):
                    yield btext, sub.doc_frequency(field, btext)
                else:
                    yield None
        else:
            for _, btext in q.expanded_terms(sub):
                yield btext, sub.doc_frequency(field, btext)


def _scan_of(q: wq.Query) -> tuple[str, re.Pattern[str] | None]:
    """(the literal prefix every match starts with, the pattern a term must match or None)."""
    if isinstance(q, wq.Every):
        return "", None
    if isinstance(q, wq.Prefix):
        return q.text, None
    if isinstance(q, wq.Regex):
        return "", re.compile(q.text)  # a regex's literal prefix is not worth guessing
    for i, ch in enumerate(q.text):
        if ch in _WILDCARD_SPECIALS:
            return q.text[:i], re.compile(fnmatch.translate(q.text))
    return q.text, re.compile(fnmatch.translate(q.text))


def _label(q: wq.Query) -> str:
    """A multi-term clause as the user wrote it, without the field the parser added."""
    if isinstance(q, wq.FuzzyTerm):
        # As typed: `word~` is one edit, `/N` a kept prefix (the parser's default is none).
        edits = "" if q.maxdist == 1 else str(q.maxdist)
        prefix = f"/{q.prefixlength}" if q.prefixlength else ""
        return f"{q.text}~{edits}{prefix}"
    if isinstance(q, wq.Every):
        return f"{q.fieldname}:*"
    text = str(q)
    if q.field() in TEXT_FIELDS and text.startswith(f"{q.field()}:"):
        return text[len(q.field()) + 1 :]
    return text


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance of `a` and `b` (optimal string alignment), or `limit + 1`
    as soon as it is known to exceed `limit`: what a fuzzy term `b~limit` accepts."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[len(b)]
