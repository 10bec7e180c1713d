"""`searchkit search`, `show` and `similar` through click's CliRunner: formats, exit codes,
the exact error lines; and a real pipe closed early."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Document, Index, PartialDate
from searchkit.cli import EXIT_ERROR, EXIT_NO_MATCH, SORT_CHOICES, cli
from searchkit.output import use_color
from searchkit.search import SORTS
from searchkit.store import IndexDirectory

DOCS = [
    Document(
        id="rome",
        title="Rome sings from balconies",
        body="Neighbours in Rome sang together from their balconies during the lockdown in Italy.",
        date=PartialDate.parse("2020-03-14"),
        fields={"places": ("Italy",), "topics": ("health",)},
    ),
    Document(
        id="milan",
        title="Milan nurses work nights",
        body="Nurses in Milan work long nights as hospitals in Italy fill up in the lockdown.",
        date=PartialDate.parse("2020-04"),
        fields={"places": ("Italy",), "topics": ("health",)},
    ),
    Document(
        id="cocoa",
        title="Cocoa prices rise",
        body="Traders in Brazil watch the rain as cocoa prices rise.",
        date=PartialDate.parse("2019"),
        fields={"places": ("Brazil",), "topics": ("cocoa",)},
    ),
]
TOTAL_LINE = re.compile(r"^(\d+) hits?, showing (\d+)-(\d+) \(\d+\.\d ms\)$")


@pytest.fixture
def index(index_location: Path) -> Index:
    """The documents above, in the index the CLI finds through $SEARCHKIT_INDEX."""
    ix = Index(index_location)
    ix.add(DOCS)
    yield ix
    ix.close()


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- formats ---------------------------------------------------------------------------------


def test_text_lists_rank_date_title_id_score_snippet_then_facets_and_total(index):
    result = run("search", "lockdown", "italy", "--facet", "places", "--facet", "month")
    assert result.exit_code == 0
    expected = index.search("lockdown italy", facets=["places", "month"])
    lines = result.stdout.splitlines()
    block = []
    for hit in expected.hits:
        block += [
            f"{hit.rank}. {hit.date[:10]:<10}  {hit.title}",
            f"   {hit.id}  score {hit.score:.2f}",
            "   " + hit.snippet.marked("**", "**"),
            "",
        ]
    assert lines[: len(block)] == block
    assert "**lockdown**" in lines[2] and "**Italy**" in lines[2]  # stdout is no terminal
    assert lines[len(block) :][:2] == ["places: Italy 2", "month: 2020-03 1, 2020-04 1"]
    assert TOTAL_LINE.match(lines[-1]).groups() == ("2", "1", "2")
    assert result.stderr == ""


def test_json_is_one_object_with_hits_total_facets_suggestion_and_query(index):
    result = run("search", "lockdown italy", "--facet", "topics", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    expected = index.search("lockdown italy", facets=["topics"])
    assert [h["id"] for h in data["hits"]] == [h.id for h in expected.hits]
    assert data["total"] == 2 and data["suggestion"] is None and data["relaxed"] is False
    assert data["facets"] == {"topics": [{"value": "health", "count": 2}]}
    assert data["query"] == "((title:lockdown OR body:lockdown) AND (title:itali OR body:itali))"
    hit = data["hits"][0]
    assert set(hit) == {"rank", "id", "score", "title", "date", "path", "fields", "snippet"}
    text, spans = hit["snippet"]["text"], hit["snippet"]["highlights"]
    assert {text[a:b].lower() for a, b in spans} == {"lockdown", "italy"}


def test_jsonl_is_one_hit_per_line(index):
    result = run("search", "italy", "--format", "jsonl")
    assert result.exit_code == 0
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(h["id"] for h in hits) == ["milan", "rome"]
    assert [h["rank"] for h in hits] == [1, 2]


def test_explain_prints_the_parsed_query_and_score_parts(index):
    result = run("search", "cocoa", "--explain")
    lines = result.stdout.splitlines()
    assert lines[0] == "query: (title:cocoa OR body:cocoa)"
    parts = [line.split() for line in lines if ":cocoa  (frequency" in line]
    assert sorted(p[1] for p in parts) == ["body:cocoa", "title:cocoa"]
    score = float(lines[3].rsplit("score ", 1)[1])
    assert abs(sum(float(p[0]) for p in parts) - score) < 0.02


def test_options_filter_sort_and_page(index):
    result = run(
        "search", "*", "--since", "2020-03", "--until", "april 2020", "--sort", "-date", "-n", "1"
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("1. 2020-04     Milan nurses")
    result = run("search", "*", "--where", "places=brazil", "--format", "jsonl")
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["cocoa"]
    result = run("search", "italy", "--page", "3")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1].startswith("2 hits, none on page 3 (")
    result = run("search", "italy", "--fragments", "0", "-n", "1")
    assert result.stdout.splitlines()[2] == ""  # no snippet line


def test_sort_choices_are_the_librarys():
    assert SORT_CHOICES == SORTS


# -- exit codes and error lines --------------------------------------------------------------


def test_no_hits_exits_1_with_a_line_saying_so(index):
    result = run("search", "zanzibar")
    assert result.exit_code == EXIT_NO_MATCH == 1
    assert re.match(r"^no hits \(\d+\.\d ms\)$", result.stdout.splitlines()[-1])
    assert run("search", "zanzibar", "--format", "json").exit_code == 1


def test_a_misspelling_is_answered_with_a_suggestion(index):
    result = run("search", "lockdwn")
    assert "did you mean: lockdown" in result.stdout.splitlines()
    result = run("search", "nurses", "lockdwn", "--format", "jsonl")
    assert "did you mean: nurses lockdown" in result.stderr


def test_lenient_repairs_are_notes_on_stderr(index):
    result = run("search", '"lockdown italy')
    assert result.exit_code == 0
    assert result.stderr == "note: unclosed quote at column 1: searched as words\n"


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ["search", '"lockdown', "--strict"],
            "Error: query syntax error: unclosed quote at column 1",
        ),
        (
            ["search", "italy", "--facet", "topic"],
            "Error: no facet field 'topic' in the index (fields: day, month, places, topics, year)",
        ),
        (
            ["search", "italy", "--where", "brazil"],
            "Error: --where expects FIELD=VALUE, got 'brazil'",
        ),
        (
            ["search", "italy", "--since", "2021", "--until", "2020"],
            "Error: cannot parse date '2021': it is after the end of the range (2020)",
        ),
        (["show", "nope"], "Error: no document with id 'nope' in the index"),
        (["similar", "nope"], "Error: no document with id 'nope' in the index"),
    ],
)
def test_errors_exit_2_with_one_line(index, args, line):
    result = run(*args)
    assert result.exit_code == EXIT_ERROR == 2
    assert result.stderr.splitlines() == [line]


def test_an_unparseable_date_names_the_value(index):
    for args in (["--since", "someday"], ["date:someday"]):
        result = run("search", "italy", *args)
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: cannot parse date 'someday': ")


def test_a_missing_index_has_a_hint_that_works_from_here(tmp_path, monkeypatch, own_settings):
    # Nowhere to take articles from: the hint says to name them, or to configure them.
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "none"
    result = run("search", "italy", "--index", str(missing))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: no index at {missing} (hint: run `searchkit index --index {missing} "
        "FOLDER...` with the folders of articles to index, or set `index` and `corpus` in "
        f"{own_settings})"
    ]
    spaced = tmp_path / "my index"
    result = run("search", "italy", "--index", str(spaced))
    assert f"(hint: run `searchkit index --index '{spaced}' FOLDER...`" in result.stderr
    # A ./corpus here: the plain command would index it.
    (tmp_path / "corpus").mkdir()
    result = run("search", "italy")
    assert result.stderr.splitlines() == [
        f"Error: no index at {tmp_path / 'index'} "
        "(hint: run `searchkit index` to index ./corpus into it)"
    ]
    # A configured corpus: named.
    own_settings.parent.mkdir(parents=True)
    own_settings.write_text('corpus = ["/srv/news", "feeds"]\n', encoding="utf-8")
    result = run("search", "italy")
    assert result.stderr.splitlines() == [
        f"Error: no index at {tmp_path / 'index'} (hint: run `searchkit index` to index "
        "/srv/news, xdg/searchkit/feeds into it)"  # below the current directory: relative
    ]


def test_a_bad_option_value_is_a_usage_error(index):
    result = run("search", "italy", "--sort", "newest")
    assert result.exit_code == 2
    assert "Invalid value for '--sort'" in result.stderr


def test_searching_works_while_a_writer_holds_the_lock(index):
    with IndexDirectory(index.path).write_lock(timeout=0):
        assert run("search", "italy").exit_code == 0


# -- show, similar ---------------------------------------------------------------------------


def test_show_prints_the_stored_document(index):
    result = run("show", "rome")
    assert result.exit_code == 0
    assert result.stdout == (
        "Rome sings from balconies\n"
        "id      rome\n"
        "date    2020-03-14\n"
        "places  Italy\n"
        "topics  health\n"
        "\n"
        f"{DOCS[0].body}\n"
    )
    data = json.loads(run("show", "milan", "--format", "json").stdout)
    assert data == {
        "version": importlib.metadata.version("searchkit"),
        "id": "milan",
        "title": DOCS[1].title,
        "date": "2020-04",
        "path": "",
        "fields": {"places": ["Italy"], "topics": ["health"]},
        "body": DOCS[1].body,
    }


def test_similar_lists_related_documents_in_every_format(index):
    result = run("similar", "rome")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("1. 2020-04     Milan nurses work nights")
    data = json.loads(run("similar", "rome", "--format", "json").stdout)
    assert data["hits"][0]["id"] == "milan" and "rome" not in [h["id"] for h in data["hits"]]
    lines = run("similar", "rome", "--format", "jsonl").stdout.splitlines()
    assert json.loads(lines[0])["id"] == "milan"


# -- terminals and pipes ---------------------------------------------------------------------


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_colour_auto_only_on_a_terminal_that_has_colour(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    assert use_color("auto", _Terminal())
    assert not use_color("auto", io.StringIO())
    assert use_color("always", io.StringIO()) and not use_color("never", _Terminal())
    monkeypatch.setenv("TERM", "dumb")
    assert not use_color("auto", _Terminal()) and use_color("always", _Terminal())


def test_color_option_environment_and_config(index, monkeypatch, own_settings):
    red = "\x1b[1;31mcocoa\x1b[0m"
    plain = run("search", "cocoa").stdout
    assert red not in plain and "**cocoa**" in plain  # auto: CliRunner's stdout is no terminal
    assert red in run("search", "cocoa", "--color", "always").stdout
    assert "\x1b[1mCocoa prices rise\x1b[0m" in run("search", "cocoa", "--color", "always").stdout
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert red in run("search", "cocoa").stdout
    assert red not in run("search", "cocoa", "--color", "never").stdout
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("NO_COLOR", "1")
    assert red not in run("search", "cocoa", "--color", "auto").stdout
    assert red in run("search", "cocoa", "--color", "always").stdout
    # The configuration file is the user's choice: it overrides $NO_COLOR (no-color.org).
    own_settings.parent.mkdir(parents=True)
    own_settings.write_text('color = "always"\n', encoding="utf-8")
    assert red in run("search", "cocoa").stdout
    assert "\x1b[1mRome sings" in run("show", "rome").stdout


def test_plain_highlights_cannot_be_confused_with_the_text(build_index, tmp_path):
    body = r"Stars * and **bold** words, a back\slash, [brackets] and a storm."
    ix = build_index([Document(id="s", title="Weather", body=body)])
    result = run("search", "storm", "--index", str(ix.path))
    snippet = result.stdout.splitlines()[2].strip()
    assert snippet == (
        r"Stars \* and \*\*bold\*\* words, a back\\slash, [brackets] and a **storm**."
    )
    # Read back: unescaped ** pairs are the highlights, escapes give the text.
    unescaped = re.sub(r"\\(.)", lambda m: "\0" if m.group(1) == "*" else m.group(1), snippet)
    assert unescaped.split("**")[1::2] == ["storm"]
    assert unescaped.replace("**", "").replace("\0", "*") == body


def test_a_closed_pipe_ends_quietly(tmp_path):
    words = "harvest rain port export strike market crop cargo vessel quota".split()
    ix = Index(tmp_path / "big")
    ix.add(
        Document(id=f"d{i}", title="storm " + words[i % 10], body=("storm " + " ".join(words)) * 8)
        for i in range(400)
    )
    ix.close()
    command = (
        f"set -o pipefail; {sys.executable} -m searchkit search storm -n 400 --fragments 3 "
        f"--index {tmp_path / 'big'} | head -n 1"
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.lstrip().startswith("1. -")
    assert done.stderr == ""


# -- output modes: --count, --files ----------------------------------------------------------


@pytest.fixture
def filed(build_index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Index:
    """Documents read from files (three from one JSON Lines file), one added without a file;
    the current directory is the corpus folder, as after `cd` into it."""
    wire = str(tmp_path / "feeds" / "wire.jsonl")
    docs = [
        Document(id=f"wire-{i}", title=f"Storm day {i}", body="storm " * i, path=wire)
        for i in (1, 2, 10)
    ]
    docs += [
        Document(
            id="a.txt", title="Storm at sea", body="a storm at sea", path=str(tmp_path / "a.txt")
        ),
        Document(id="calm", title="Calm", body="no wind today", path=str(tmp_path / "calm.txt")),
        Document(id="api", title="Storm report", body="storm storm storm storm"),
    ]
    monkeypatch.chdir(tmp_path)
    return build_index(docs, segments=2)


def test_count_prints_the_total_only(filed):
    result = run("search", "storm", "--count", "--index", filed.path)
    assert (result.exit_code, result.stdout) == (0, "5\n")
    result = run("search", "hurricane", "-c", "--index", filed.path)
    assert (result.exit_code, result.stdout) == (EXIT_NO_MATCH, "0\n")


def test_count_is_the_total_a_search_reports_notes_included(index):
    # Two words, one document holding both: relaxed, as the hit list is.
    expected = index.search("cocoa nurses")
    assert expected.relaxed and expected.total == 2
    result = run("search", "cocoa", "nurses", "--count")
    assert result.stdout == "2\n"
    assert result.stderr == f"note: {expected.notes[0]}\n"


def test_files_lists_each_matching_file_once_for_every_match(filed):
    result = run("search", "storm", "-l", "-n", "1", "--index", filed.path)
    assert result.exit_code == 0
    # Every match, not page 1's only; the JSON Lines file once; relative to here.
    expected = []
    for hit in filed.search("storm", limit=100).hits:
        shown = os.path.relpath(hit.path) if hit.path else None
        if shown and shown not in expected:
            expected.append(shown)
    assert sorted(expected) == ["a.txt", os.path.join("feeds", "wire.jsonl")]
    assert result.stdout.splitlines() == expected
    assert result.stderr == "note: 1 matching document has no file (added through the API)\n"
    assert run("search", "hurricane", "--files", "--index", filed.path).exit_code == EXIT_NO_MATCH


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--count", "--files"], "--count and --files cannot be used together"),
        (["--count", "--format", "json"], "--count cannot be used with --format"),
        (["--files", "--facet", "year"], "--files cannot be used with --facet"),
        (["-l", "--explain"], "--files cannot be used with --explain"),
    ],
)
def test_count_and_files_refuse_what_they_would_ignore(index, extra, message):
    result = run("search", "italy", *extra)
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.splitlines()[-1] == f"Error: {message}"


def test_json_output_carries_the_version(index):
    import searchkit

    version = importlib.metadata.version("searchkit")
    assert searchkit.__version__ == version
    for command in (["search", "italy"], ["similar", "rome"]):
        data = json.loads(run(*command, "--format", "json").stdout)
        assert data["version"] == version
    assert run("--version").stdout == f"searchkit {version}\n"


# -- show takes what search printed ----------------------------------------------------------


def test_show_takes_the_path_search_printed(filed, tmp_path):
    printed = run("search", "sea", "--index", filed.path).stdout.splitlines()[1].split()
    assert printed[:2] == ["a.txt", "a.txt"]  # the id, then the path relative to here
    by_path = run("show", printed[1], "--index", filed.path)
    assert by_path.exit_code == 0
    assert by_path.stdout == run("show", "a.txt", "--index", filed.path).stdout
    absolute = run("show", str(tmp_path / "calm.txt"), "--index", filed.path)
    assert absolute.stdout.startswith("Calm\nid    calm\n")


def test_show_lists_the_documents_of_a_file_holding_several(filed):
    result = run("show", "feeds/wire.jsonl", "--index", filed.path)
    assert result.exit_code == 0
    ids = [line.split()[0] for line in result.stdout.splitlines()]
    assert ids == ["wire-1", "wire-2", "wire-10"]
    assert result.stdout.splitlines()[0] == "wire-1   -           Storm day 1"
    assert (
        result.stderr == "feeds/wire.jsonl holds 3 documents; show one with `searchkit show ID`:\n"
    )
    data = json.loads(
        run("show", "feeds/wire.jsonl", "--index", filed.path, "--format", "json").stdout
    )
    assert [d["id"] for d in data["documents"]] == ids
    assert data["path"] == os.path.abspath("feeds/wire.jsonl")


def test_an_unknown_id_suggests_the_nearest(filed):
    result = run("show", "wire-01", "--index", filed.path)
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.splitlines() == [
        "Error: no document with id 'wire-01' in the index "
        "(hint: did you mean 'wire-1', 'wire-10' or 'wire-2'?)"
    ]
    result = run("show", "zzzzzz", "--index", filed.path)
    assert result.stderr.splitlines() == ["Error: no document with id 'zzzzzz' in the index"]


def test_show_help_offers_only_the_formats_show_accepts():
    text = run("show", "--help").stdout
    assert "[text|json]" in text and "jsonl" not in text
    assert "[text|json|jsonl]" in run("search", "--help").stdout
    assert "jsonl (one hit a line)" in " ".join(run("search", "--help").stdout.split())


# -- shell completion ------------------------------------------------------------------------


def complete(words: str, env: dict | None = None) -> list[str]:
    """What bash completion offers for the last word of `words`."""
    parts = words.split(" ")
    result = CliRunner().invoke(
        cli,
        [],
        prog_name="searchkit",
        env={
            "_SEARCHKIT_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
            **(env or {}),
        },
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completion_offers_the_index_field_names(index):
    assert complete("searchkit search x --facet ") == ["day", "month", "places", "topics", "year"]
    assert complete("searchkit search x --facet to") == ["topics"]
    assert complete("searchkit search x --where p") == ["places="]
    assert complete("searchkit search x --where places=") == []


def test_completion_without_an_index_offers_date_facets_quietly(tmp_path):
    words = f"searchkit search --index {tmp_path / 'none'} x --facet "
    assert complete(words) == ["year", "month", "day"]
    assert complete(f"searchkit search --index {tmp_path} x --where ") == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_help_documents_completion_for_each_shell_and_the_line_works(shell):
    [line] = [line for line in run("--help").stdout.splitlines() if f"={shell}_source" in line]
    assert "_SEARCHKIT_COMPLETE" in line and "searchkit" in line
    script = CliRunner().invoke(
        cli, [], prog_name="searchkit", env={"_SEARCHKIT_COMPLETE": f"{shell}_source"}
    )
    assert script.exit_code == 0 and "_SEARCHKIT_COMPLETE" in script.stdout
