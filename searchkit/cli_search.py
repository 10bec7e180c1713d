"""The reading commands of `searchkit`: search, show and similar."""

from __future__ import annotations

import json
import os
import sys

import click

from . import output, payload
from .cli_common import (
    EVERY,
    EXIT_NO_MATCH,
    SORT_CHOICES,
    chosen_format,
    complete_facet,
    complete_where,
    display_options,
    echo_results,
    emit,
    format_option,
    index_option,
    index_settings,
    library_errors,
    open_index,
    setting,
    use_color,
    version,
)
from .cli_opensearch import search_target
from .errors import DocumentNotFound, SearchkitError


@click.command("search", short_help="Search the index (exit 1 when nothing matches).")
@click.argument("query", nargs=-1, required=True)
@index_option
@click.option("--since", metavar="DATE", help="From this date: 2020, 2020-03, 'march 2020', 7d.")
@click.option("--until", metavar="DATE", help="Up to this date, inclusive (2020-03: all March).")
@click.option(
    "--where",
    multiple=True,
    metavar="FIELD=VALUE",
    shell_complete=complete_where,
    help="Only documents with this metadata value (repeatable; one field's values OR'ed).",
)
@click.option(
    "--facet",
    "facets",
    multiple=True,
    metavar="FIELD",
    shell_complete=complete_facet,
    help="Count matches per value: topics, places, folder, year, month, day... (repeatable).",
)
@click.option(
    "--facet-limit",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Values shown per facet, most frequent first (0: all); year/month/day show all.",
)
@click.option(
    "--sort",
    type=click.Choice(SORT_CHOICES),
    default=None,
    help="Order of hits: best match first, oldest first (date) or newest first (-date) "
    "[default: `sort` in the config, else relevance].",
)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Hits per page [default: `limit` in the config, else 10].",
)
@click.option(
    "--page",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Page of hits to show (with -n 10, page 2 is hits 11-20).",
)
@click.option(
    "--fragments",
    type=click.IntRange(min=0),
    default=None,
    help="Snippet fragments per hit, 0 for none [default: `fragments` in the config, else 1].",
)
@click.option("--strict", is_flag=True, help="A query syntax error is an error (exit 2).")
@click.option("--explain", is_flag=True, help="Show the parsed query and each hit's score parts.")
@click.option("-c", "--count", is_flag=True, help="Print only the number of matching documents.")
@click.option(
    "-l",
    "--files",
    "files_only",
    is_flag=True,
    help="Print the path of each file with a match, once, for every match (not a page).",
)
@click.option("--opensearch", metavar="URL", help="Search the OpenSearch cluster at URL instead.")
@click.option("--index-name", metavar="NAME", help="The index on the cluster [default: searchkit].")
@click.option("--opensearch-body", is_flag=True, help="Print the OpenSearch request; send nothing.")
@format_option("text", "json", "jsonl")
@display_options
@library_errors
def search_command(
    query,
    index_path,
    since,
    until,
    where,
    facets,
    facet_limit,
    sort,
    limit,
    page,
    fragments,
    strict,
    explain,
    count,
    files_only,
    opensearch,
    index_name,
    opensearch_body,
    fmt,
    color,
    no_pager,
):
    """Search the index. A document matches when it holds any of the words, in
    the title or the body; those holding every word rank first.

    \b
    QUERY syntax: "a phrase", title:word, author:jane, date:2020-03,
    date:>=2020-03-14, AND / OR / NOT, (grouping), wild*, word~ (fuzzy).
    An operator (or --strict) makes the query exact: `a AND b` needs both.
    Exit status: 0 hits found, 1 none, 2 error.
    """
    if count or files_only:
        _check_alone("--count" if count else "--files", files_only and count, fmt, facets, explain)
    settings = index_settings(index_path)
    options = dict(
        since=since,
        until=until,
        where=list(where),
        sort=setting("sort", sort),
        strict=strict,
    )
    limit = setting("limit", limit)
    fmt = chosen_format(fmt, ("text", "json", "jsonl"))
    request = {
        "command": "search",
        "query": " ".join(query),
        "options": options,
        "limit": limit,
        "mode": "count" if count else "files" if files_only else "results",
        "page": page,
        "facets": list(facets),
        "facet_limit": facet_limit or None,
        "fragments": setting("fragments", fragments),
        "explain": explain,
        "fmt": fmt,
        "color": use_color(color),
    }
    opensearch = setting("opensearch", opensearch)
    index_name = setting("index_name", index_name)
    # A running server answers for the local index only (a cluster is asked directly).
    local = opensearch is None and not opensearch_body
    if local and warm_answer(settings, request, color=request["color"], no_pager=no_pager):
        return
    with search_target(settings, opensearch, index_name, opensearch_body) as index:
        if count or files_only:
            # The total is the same for every page size: a second call lists every hit.
            results = index.search(" ".join(query), limit=limit, fragments=0, **options)
            if files_only and results.total > len(results.hits):
                results = index.search(" ".join(query), limit=results.total, fragments=0, **options)
        else:
            results = index.search(
                " ".join(query),
                limit=limit,
                page=page,
                facets=facets,
                facet_limit=facet_limit or None,
                fragments=setting("fragments", fragments),
                explain=explain,
                **options,
            )
    if count:
        for note in results.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(str(results.total))
    elif files_only:
        _echo_files(results)
    else:
        echo_results(
            results,
            fmt,
            color=use_color(color),
            no_pager=no_pager,
            explain=explain,
        )
    if results.total == 0:
        sys.exit(EXIT_NO_MATCH)


def _check_alone(mode: str, both: bool, fmt, facets, explain) -> None:
    if both:
        raise click.UsageError("--count and --files cannot be used together")
    for given, option in ((fmt not in (None, "text"), "--format"), (facets, "--facet")):
        if given:
            raise click.UsageError(f"{mode} cannot be used with {option}")
    if explain:
        raise click.UsageError(f"{mode} cannot be used with --explain")


def _echo_files(results) -> None:
    for note in results.notes:
        click.echo(f"note: {note}", err=True)
    paths, note = output.file_listing(results)
    for path in paths:
        click.echo(path)
    if note:
        click.echo(note, err=True)


@click.command("show", short_help="Print a stored document: by id, or by the path search shows.")
@click.argument("doc_id", metavar="ID_OR_PATH")
@index_option
@format_option("text", "json")
@display_options
@library_errors
def show_command(doc_id, index_path, fmt, color, no_pager):
    """Print one stored document in full, by its id or by the path of the file it was read
    from (both are in each `searchkit search` hit). A file holding several documents (JSON
    Lines, a JSON list) lists them, one `id  date  title` line each."""
    fmt = chosen_format(fmt, ("text", "json"))
    settings = index_settings(index_path)
    request = {
        "command": "show",
        "id": doc_id,
        "path": os.path.abspath(os.path.expanduser(doc_id)),
        "fmt": fmt,
        "color": use_color(color),
    }
    if warm_answer(settings, request, color=request["color"], no_pager=no_pager):
        return
    with open_index(settings) as index:
        try:
            doc = index.get(doc_id)
        except DocumentNotFound as exc:
            found = _documents_read_from(index, doc_id)
            if not found:
                exc.hint = _nearest_id_hint(index, doc_id)
                raise
            if len(found) > 1:
                _echo_listing(doc_id, found, fmt, color=use_color(color), no_pager=no_pager)
                return
            doc = index.get(found[0].id)
    if fmt == "json":
        click.echo(payload.dumps(payload.document_payload(doc)))
        return
    color = use_color(color)
    emit(output.format_document(doc, color=color), color=color, no_pager=no_pager)


def _documents_read_from(index, path: str) -> tuple:
    """The hits of the documents read from the file at `path` (as the CLI shows it: relative
    to here, or absolute), in natural order of their ids; empty if none.

    A `path:` query through `Index.search` until the library offers a lookup by path.
    """
    absolute = os.path.abspath(os.path.expanduser(path))
    if '"' in absolute or "\\" in absolute:
        return ()  # cannot be quoted in a query; such a path cannot be looked up this way
    try:
        results = index.search(f'path:"{absolute}"', limit=EVERY, fragments=0, strict=True)
    except SearchkitError:
        return ()
    found = [h for h in results.hits if h.path == absolute]
    # Ids in natural order (wire-2 before wire-10): the index's order is not the file's.
    return tuple(sorted(found, key=lambda h: _natural_key(h.id)))


def _natural_key(text: str) -> list:
    import re

    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def _nearest_id_hint(index, doc_id: str) -> str | None:
    """ "did you mean ..." from the index's ids most like `doc_id` (difflib), if any."""
    import difflib

    try:
        # Every id, through a wildcard search until the library lists ids (seconds on 20,000
        # documents, on an error path only).
        everything = index.search("id:*", limit=EVERY, fragments=0, strict=True)
    except SearchkitError:
        return None
    ids = [h.id for h in everything.hits]
    close = difflib.get_close_matches(doc_id, ids, n=3, cutoff=0.6)
    if not close:
        return None
    quoted = [repr(c) for c in close]
    if len(quoted) > 1:
        quoted[-2:] = [f"{quoted[-2]} or {quoted[-1]}"]
    return f"did you mean {', '.join(quoted)}?"


def _echo_listing(path: str, hits, fmt: str, *, color: bool, no_pager: bool) -> None:
    if fmt == "json":
        data = {
            "version": version(),
            "path": hits[0].path,
            "documents": [{"id": h.id, "date": h.date, "title": h.title} for h in hits],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{output.display_path(hits[0].path)} holds {len(hits)} documents; "
        "show one with `searchkit show ID`:",
        err=True,
    )
    emit(output.format_listing(hits, color=color), color=color, no_pager=no_pager)


@click.command("similar", short_help="Documents like the one with this id.")
@click.argument("doc_id")
@index_option
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Documents to list [default: `limit` in the config, else 10].",
)
@click.option(
    "--fragments",
    type=click.IntRange(min=0),
    default=None,
    help="Snippet fragments per hit, 0 for none [default: `fragments` in the config, else 1].",
)
@format_option("text", "json", "jsonl")
@display_options
@library_errors
def similar_command(doc_id, index_path, limit, fragments, fmt, color, no_pager):
    """Documents like the one with this id (more like this). Exit 1 if none."""
    settings = index_settings(index_path)
    request = {
        "command": "similar",
        "id": doc_id,
        "limit": setting("limit", limit),
        "fragments": setting("fragments", fragments),
        "fmt": chosen_format(fmt, ("text", "json", "jsonl")),
        "color": use_color(color),
    }
    if warm_answer(settings, request, color=request["color"], no_pager=no_pager):
        return
    with open_index(settings) as index:
        results = index.similar(
            doc_id,
            limit=setting("limit", limit),
            fragments=setting("fragments", fragments),
        )
    fmt = chosen_format(fmt, ("text", "json", "jsonl"))
    echo_results(results, fmt, color=use_color(color), no_pager=no_pager)
    if results.total == 0:
        sys.exit(EXIT_NO_MATCH)


def warm_answer(settings, request: dict, *, color: bool = False, no_pager: bool = False) -> bool:
    """Ask a `searchkit serve` running for this index to answer `request` (warm.py); print
    its answer exactly as the command would and return True, or return False, having printed
    nothing, when no server answers (the command then answers in-process)."""
    from . import warm

    try:
        cwd = os.getcwd()
    except OSError:
        return False  # the current folder is gone: paths could not be shown relative to it
    answer = warm.ask(os.path.abspath(settings["index"]), {**request, "cwd": cwd})
    if answer is None:
        return False
    if "error" in answer:
        error = click.ClickException(answer["error"])
        error.exit_code = answer["exit"]  # type: ignore[misc]  # click reads it per instance
        raise error
    for kind, text in answer["actions"]:
        if kind == "out":
            click.echo(text)
        elif kind == "err":
            click.echo(text, err=True)
        else:
            emit(text, color=color, no_pager=no_pager)
    if answer["exit"]:
        sys.exit(answer["exit"])
    return True


def stats_text(stats) -> str:
    """`searchkit stats` as text (here, beside the other reading commands' helpers, so that
    the warm server can answer it too)."""
    display = output.display_path
    span = f"{stats.earliest} .. {stats.latest}" if stats.earliest else "no dated documents"
    updated = stats.last_update.strftime("%Y-%m-%d %H:%M:%S UTC") if stats.last_update else "-"
    lines = [
        f"index       {display(stats.path)} ({stats.generation})",
        f"documents   {stats.documents:,}",
        f"dates       {span}",
        f"size        {stats.size_bytes / 1024**2:.1f} MiB in {stats.segments} segment(s)",
        f"updated     {updated}",
        "roots       " + (", ".join(display(r) for r in stats.roots) or "-"),
        "fields      " + (", ".join(f"{f.name} ({f.distinct:,})" for f in stats.fields) or "-"),
    ]
    return "\n".join(lines)
