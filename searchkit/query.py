"""User query text and filters -> Whoosh query objects.

The query language is Whoosh's (AND / OR / NOT, `"phrases"`, `field:value`, wildcards, `term~`,
ranges, grouping), with words AND'ed across `title` and `body`, plus searchkit's own layer:

- lenient by default: text typed into a search box (unbalanced quotes or brackets, a stray `:`,
  an unknown field, a dangling operator, a question in capitals) is searched as words; with
  `strict=True` the same text is a `QuerySyntaxError` saying where;
- `date:` values, `--since` and `--until` are read by `dates.parse_when` (absolute dates and
  relative ones such as `yesterday`, `7d`, `last month`), never by Whoosh's DateParserPlugin,
  which misreads ISO ranges and turns `>` into a query that silently matches nothing;
- a date range matches a document when the document's whole period lies inside it
  (`date_query.period_query`);
- `--where` filters match metadata facets exactly (`parse_where`, `where_query`).

What a parsed query's wildcards, prefixes, fuzzy terms and ranges may expand to is bounded
after parsing, against an index, by `expansion.bound_parsed`.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from whoosh import qparser
from whoosh import query as wq
from whoosh.qparser import syntax

from .date_query import PeriodQuery, period_query
from .dates import parse_when, utc_now
from .errors import DateError, InvalidValue, QuerySyntaxError, UsageError
from .schema import (
    DATE_FACETS,
    TEXT_FIELDS,
    WORD_MARK,
    fold_keyword,
    is_metadata_field,
    metadata_words,
)
from .scoring import query_weight

#: Longer query text is cut here (at a space), with a note: Whoosh's parser grows faster than
#: linearly with the length (4,000 characters of brackets take ~130 ms to parse).
MAX_QUERY_CHARS = 2000

#: Fields a query can name besides the metadata facets found in the index.
QUERY_FIELDS = ("title", "body", "id", "path", "date", *DATE_FACETS)


# -- metadata filters ------------------------------------------------------------------------


#: What a `where` argument may be: {field: value or values}, or `FIELD=VALUE` strings.
Where = Mapping[str, str | Iterable[str]] | Iterable[str]


def parse_where(where: Where | None) -> dict[str, tuple[str, ...]]:
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


def check_where_fields(where: Iterable[str], known: Iterable[str]) -> None:
    """A `UsageError` listing the fields when a `where` field is not a facet of the index."""
    known = set(known)
    for name in where:
        if name not in known or not (is_metadata_field(name) or name in DATE_FACETS):
            choices = ", ".join(sorted(known)) or "none"
            raise UsageError(f"no field {name!r} to filter on (fields: {choices})")


def where_query(where: Mapping[str, tuple[str, ...]], known: Iterable[str]) -> wq.Query | None:
    """Values of one field OR'ed, fields AND'ed; an unknown field is a `UsageError`."""
    if not where:
        return None
    check_where_fields(where, known)
    clauses = []
    for name, values in where.items():
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
        self.metadata_fields = frozenset(metadata_fields)
        self.fields = frozenset(QUERY_FIELDS) | self.metadata_fields

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
            if text.strip() and not re.search(r"\w", text):
                notes.append("nothing to search for: symbols and emoji are not indexed")
            elif text.strip():
                notes.append("nothing to search for: every word is too common or too short")
            return ParsedQuery(text, wq.NullQuery, None, tuple(notes))
        q = _split_compounds(q).normalize()
        written, filters = _split_filters(q)
        q = _metadata_words(written, self.metadata_fields)
        q = _weigh_repeats(q, self._typed_counts(text))
        relaxed = None if (strict or ctx.operators) else _relax(q)
        return ParsedQuery(text, q, relaxed, tuple(notes), filters, written)

    def _typed_counts(self, text: str) -> Counter:
        """How often each term was typed (as the full-text analyzer reads the query)."""
        analyzer = self.schema["body"].analyzer
        return Counter(t.text for t in analyzer(text, mode="query"))

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


def _split_compounds(q: wq.Query) -> wq.Query:
    """`three-dimensional` as the two words `three` and `dimensional`, each in any field.

    Whoosh reads a word the analyzer splits as "all parts in the title, or all parts in the
    body"; as separate words they are scored and counted like any other (measured on the
    judged collections, bench/ranking_lab.py: better than one clause).
    """
    if type(q) is wq.Or and q.subqueries and all(type(c) is wq.And for c in q.subqueries):
        parts = []
        for c in q.subqueries:
            if not c.subqueries or any(type(t) is not wq.Term for t in c.subqueries):
                break
            names = {t.fieldname for t in c.subqueries}
            if len(names) != 1 or not names <= set(TEXT_FIELDS):
                break
            parts.append((names.pop(), [t.text for t in c.subqueries], c))
        else:
            words = {tuple(w) for _, w, _ in parts}
            fields = [f for f, _, _ in parts]
            if len(words) == 1 and len(set(fields)) == len(fields):
                boost = q.boost
                return wq.And(
                    [
                        wq.Or([wq.Term(f, w, boost=c.boost) for f, _, c in parts], boost=boost)
                        for w in words.pop()
                    ]
                )
    if q.is_leaf():
        return q
    return q.apply(_split_compounds)


def word_of(q: wq.Query) -> tuple[tuple[str, ...], str, float] | None:
    """(fields, analysed word, boost) of a plain word: a `Term` on a text field, or the
    parser's group of the same word over several text fields; None for anything else."""
    if isinstance(q, wq.Term) and not isinstance(q, (wq.FuzzyTerm, wq.MultiTerm)):
        if q.fieldname in TEXT_FIELDS and type(q) is wq.Term:
            return (q.fieldname,), q.text, q.boost
        return None
    if type(q) is wq.Or and q.subqueries:
        subs = q.subqueries
        if all(type(s) is wq.Term and s.fieldname in TEXT_FIELDS for s in subs):
            texts = {s.text for s in subs}
            fields = tuple(s.fieldname for s in subs)
            if (
                len(texts) == 1
                and len(set(fields)) == len(fields)
                and all(s.boost == 1.0 for s in subs)
            ):
                return fields, subs[0].text, q.boost
    return None


def _weigh_repeats(q: wq.Query, typed: Counter) -> wq.Query:
    """A word typed n > 1 times weighs `query_weight(n)`: Whoosh's parser keeps one copy of a
    repeated word, and long natural-language requests repeat their key words."""
    if not any(n > 1 for n in typed.values()):
        return q
    word = word_of(q)
    if word is not None:
        text = word[1]
        if typed[text] > 1:
            q = q.copy()
            q.boost *= query_weight(typed[text])
        return q
    if q.is_leaf() or isinstance(q, (wq.Not, wq.Or)):
        return q  # an OR of words typed with operators ("a OR b") keeps its own weights
    return q.apply(lambda child: _weigh_repeats(child, typed))


def _metadata_words(q: wq.Query, fields: frozenset[str]) -> wq.Query:
    """`author:jane` as "a value of author is jane, or holds the word jane" (`author:"jane
    doe"`: is "jane doe", or holds both words); whole values stay what facets and `--where`
    use."""
    if type(q) is wq.Term and q.fieldname in fields:
        words = [wq.Term(q.fieldname, w, boost=q.boost) for w in metadata_words(q.text)]
        if not words or words == [wq.Term(q.fieldname, WORD_MARK + q.text, boost=q.boost)]:
            return wq.Or([q, *words]) if words else q
        return wq.Or([q, words[0] if len(words) == 1 else wq.And(words)])
    if q.is_leaf():
        return q
    return q.apply(lambda child: _metadata_words(child, fields))


def split_words(q: wq.And) -> tuple[list[wq.Query], list[wq.Query]]:
    """(the clauses of an AND on the full-text fields only: its words; the others, which a
    relaxed query keeps required)."""
    words, required = [], []
    for sub in q.subqueries:
        fields = {leaf.field() for leaf in sub.leaves()}
        if fields and fields <= set(TEXT_FIELDS) and not isinstance(sub, wq.Not):
            words.append(sub)
        else:
            required.append(sub)
    return words, required


def _relax(q: wq.Query) -> wq.Query | None:
    """The words of an implicit AND OR'ed together; clauses on other fields stay required."""
    if not isinstance(q, wq.And):
        return None
    words, required = split_words(q)
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
            starts_word = not i or _edge(nodes[i - 1])
            if (
                isinstance(node, _WILDCARD)
                and node.text.startswith("?")
                and starts_word
                and not self.ctx.strict
            ):
                # `?slip?`: question marks used as quotes, not a one-letter wildcard.
                text = node.text.lstrip("?")
                if not text:
                    continue
                if "*" not in text and "?" not in text:
                    out.append(_word(node, text))
                    continue
                node.text = text
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
                    end = getattr(node, "endchar", None)
                    if end is not None and ctx.text.startswith("//", end):
                        # A URL (`https://...`): its words are searched, silently.
                        out.append(_word(node, node.original))
                        continue
                    near = difflib.get_close_matches(name, sorted(ctx.fields), n=1, cutoff=0.7)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    ctx.problem(node.startchar, f"unknown field {node.fieldname!r}{hint}")
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
