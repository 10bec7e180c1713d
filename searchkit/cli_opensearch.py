"""The command line past one machine: `searchkit export` (to files, or into an OpenSearch
cluster) and what `searchkit search --opensearch URL` searches through."""

from __future__ import annotations

import json
import sys

import click

from .cli_common import (
    EXIT_PARTIAL,
    index_option,
    index_settings,
    library_errors,
    open_index,
    parse_size,
)
from .errors import UsageError

DEFAULT_BULK_SIZE = "5M"


@click.command("export", short_help="Write the index out for OpenSearch, or load it into one.")
@index_option
@click.option(
    "--opensearch",
    "folder",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Write index.json (settings, mappings) and bulk-NNNN.ndjson files into DIR; with "
    "--opensearch-url, a push resumes from DIR's state.",
)
@click.option(
    "--opensearch-url",
    "url",
    default=None,
    metavar="URL",
    help="Create the index on the cluster at URL and load the documents into it.",
)
@click.option("--index-name", default=None, metavar="NAME", help="Index name [default: searchkit].")
@click.option(
    "--bulk-size",
    default=DEFAULT_BULK_SIZE,
    show_default=True,
    metavar="SIZE",
    help="Bytes of one bulk file and request at most (5M, 500k).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Retries of a request the cluster answers with 429/5xx, with exponential back-off.",
)
@click.option("-q", "--quiet", is_flag=True, help="No summary; refused documents still print.")
@library_errors
def export_command(index_path, folder, url, index_name, bulk_size, retries, quiet):
    """Export the index for OpenSearch (stored fields only: the corpus is not read again).

    \b
    searchkit export --opensearch DIR                      # files only
    searchkit export --opensearch DIR --opensearch-url URL # files, then load (resumable)
    searchkit export --opensearch-url URL                  # load straight from the index
    Exit status: 0 done, 4 some documents were refused (listed on stderr), 2 error.
    """
    from .opensearch import DEFAULT_INDEX_NAME, export_files, push_documents, push_folder
    from .opensearch.export import read_manifest
    from .opensearch.mapping import index_body

    if folder is None and url is None:
        raise click.UsageError("give --opensearch DIR, --opensearch-url URL, or both")
    max_bytes = parse_size(bulk_size)

    def refused(failure) -> None:
        click.echo(f"refused: {failure.id}: HTTP {failure.status} {failure.reason}", err=True)

    def say(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    name = index_name or DEFAULT_INDEX_NAME
    resuming = False
    if folder is not None and url is not None:
        try:
            manifest = read_manifest(folder)
        except UsageError:
            manifest = None
        if manifest is not None:
            resuming = True
            name = index_name or manifest["index_name"]
            say(f"loading the export already in {folder}")
    if folder is not None and not resuming:
        with open_index(index_settings(index_path)) as index:
            report = export_files(index.documents(), folder, index_name=name, max_bytes=max_bytes)
        say(report.summary())
    if url is None:
        return
    options = dict(retries=retries, on_failure=refused)
    if folder is not None:
        pushed = push_folder(folder, url, index_name=name, **options)
    else:
        say("loading straight from the index: pass --opensearch DIR to be able to resume")
        with open_index(index_settings(index_path)) as index:
            pushed = push_documents(
                index.documents(),
                url,
                index_name=name,
                index_body=index_body(),
                max_bytes=max_bytes,
                **options,
            )
    say(pushed.summary())
    if pushed.failures:
        sys.exit(EXIT_PARTIAL)


class _BodyOnly:
    """Stands in for an index in `search --opensearch-body`: prints the request body the
    search would send, and ends the command without sending it."""

    def __init__(self, target) -> None:
        self.target = target

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.target.close()

    def search(self, text: str, **options):
        translation = self.target.translate(text, **options)
        for note in translation.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(json.dumps(translation.body, ensure_ascii=False, indent=2))
        raise click.exceptions.Exit(0)


def search_target(settings, url: str | None, index_name: str | None, body_only: bool):
    """What `searchkit search` searches: the local index, the cluster at `url`, or (for
    `--opensearch-body`) a printer of the request body, with the field names of the local
    index when there is one, else of the cluster's mapping."""
    if url is None and not body_only:
        if index_name is not None:
            raise click.UsageError("--index-name needs --opensearch URL or --opensearch-body")
        return open_index(settings)
    from .opensearch import DEFAULT_INDEX_NAME, OpenSearchIndex

    fields = None
    if body_only:
        from .index import Index
        from .schema import DATE_FACETS

        local = Index(settings["index"])
        if local.exists():
            fields = [f.name for f in local.stats().fields if f.name not in DATE_FACETS]
        elif url is None:
            raise click.UsageError(
                "--opensearch-body needs the field names: a local index (--index) or the "
                "cluster (--opensearch URL)"
            )
    target = OpenSearchIndex(
        url or "http://localhost:9200", index_name or DEFAULT_INDEX_NAME, fields=fields
    )
    return _BodyOnly(target) if body_only else target
