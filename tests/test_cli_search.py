"""`searchkit search`, `show` and `similar` through click's CliRunner: formats, exit codes,
the exact error lines; and a real pipe closed early."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Document, Index, PartialDate
from searchkit.cli import EXIT_ERROR, EXIT_NO_MATCH, SORT_CHOICES, _format_results, _use_color, cli
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
            "   " + hit.snippet.marked("[", "]"),
            "",
        ]
    assert lines[: len(block)] == block
    assert "[lockdown]" in lines[2] and "[Italy]" in lines[2]  # brackets: stdout is no terminal
    assert lines[len(block) :][:2] == ["places: italy 2", "month: 2020-03 1, 2020-04 1"]
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


def test_a_missing_index_has_its_own_message(tmp_path):
    result = run("search", "italy", "--index", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: no index at {tmp_path / 'none'} (hint: run `searchkit index` to create it)"
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


def test_colour_only_on_a_terminal_without_no_color(index, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys, "stdout", _Terminal())
    assert _use_color()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _use_color()
    coloured = _format_results(index.search("cocoa"), color=True, explain=False)
    assert "\x1b[1;31mcocoa\x1b[0m" in coloured and "[cocoa]" not in coloured


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
