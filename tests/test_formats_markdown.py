"""Markdown indexed and snippeted as the text a reader sees: no `#`, `**`, link syntax."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchkit import Index
from searchkit.readers import parse_file
from searchkit.text import markdown_text


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("# The **big** day #", "The big day"),
        ("Setext title\n===", "Setext title"),
        ("Some *emphasis*, __strong__ and ***both***.", "Some emphasis, strong and both."),
        ('A [link](https://example.org/a_(b) "Title") here', "A link here"),
        ("![A crane at dawn](crane.jpg) and [ref link][1]", "A crane at dawn and ref link"),
        ("[1]: https://example.org/ref", ""),
        ("Visit <https://example.org> now", "Visit https://example.org now"),
        ("Run `pip install searchkit` first", "Run pip install searchkit first"),
        ("snake_case_name and 2 * 3 stay", "snake_case_name and 2 * 3 stay"),
        ("Escaped \\*stars\\* and \\_marks\\_", "Escaped *stars* and _marks_"),
        ("> quoted **text**", "quoted text"),
        ("* one\n+ two\n- three\n1. four", "- one\n- two\n- three\n1. four"),
        ("| a | b |\n|---|:-:|\n| 1 | 2 |", "a\tb\n1\t2"),
        ("```python\nx = **not emphasis**\n```", "x = **not emphasis**"),
        ("~~gone~~ tax &amp; rates<br>", "gone tax & rates"),
        ("Above\n\n---\n\nBelow", "Above\n\n\nBelow"),
    ],
)
def test_markdown_as_text(markdown, text):
    assert markdown_text(markdown) == text


POST = """---
title: Florence reopens the Uffizi corridor
date: 2024-05-21
tags: [museums, florence]
---

# Florence reopens the Uffizi corridor

The **Vasari Corridor**, closed since 2016, reopened on Tuesday. Visitors can walk the
[kilometre-long passage](https://uffizi.example.org/corridor) from the *Uffizi* to the
Pitti Palace, as the **Medici** did.

## Tickets

- Timed tickets cost **€ 43** and include the *Uffizi*.
- Groups are limited to 25 people.
"""


def test_front_matter_markdown_is_indexed_as_read():
    (doc,) = parse_file(POST.encode(), path="p.md", id_base="p.md", folder="").documents
    assert doc.title == "Florence reopens the Uffizi corridor"
    assert doc.fields["tags"] == ("museums", "florence")
    for syntax in ("#", "**", "](", "[", "*Uffizi*"):
        assert syntax not in doc.body, syntax
    assert "The Vasari Corridor, closed since 2016, reopened on Tuesday." in doc.body
    assert "kilometre-long passage from the Uffizi to the" in doc.body
    assert "- Timed tickets cost € 43 and include the Uffizi." in doc.body


def test_a_markdown_title_line_loses_its_marks():
    text = "# The *Vasari* corridor [reopens](https://x.example)\n\nBody **text**.\n"
    (doc,) = parse_file(text.encode(), path="n.md", id_base="n.md", folder="").documents
    assert (doc.title, doc.body) == ("The Vasari corridor reopens", "Body text.")


def test_every_occurrence_in_markdown_is_highlighted(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "uffizi.md").write_text(POST, encoding="utf-8")
    with Index(tmp_path / "index") as index:
        index.update([corpus])
        (hit,) = index.search("uffizi", fragments=5).hits
    snippet = hit.snippet
    highlighted = [snippet.text[start:end] for start, end in snippet.highlights]
    # Counted in the snippet's own text, independently of the highlighter.
    assert len(highlighted) == snippet.text.lower().count("uffizi") >= 2
    assert all(word.lower() == "uffizi" for word in highlighted)
    assert "**" not in snippet.text.replace("\\*", "") and "](" not in snippet.text


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "piece", ["\t", "|-\t", "`", "``x", "[", "[a", "![", " *a", "*a ", "_a ", " ~~a", "**a "]
)
def test_a_long_hostile_line_is_read_whole_without_hanging(piece):
    # Lines like these once took minutes or hours: regular expressions whose openers each
    # scanned the rest of the line (or split a run of tabs every way). Now each is read
    # like any line, its letters all kept; a return of the old patterns hangs until the
    # timeout instead of passing.
    line = piece * (200_000 // len(piece))
    text = markdown_text(f"Title\n\n{line}\n\nafter")
    assert text.count("a") == line.count("a") + 1  # "after"
    assert text.endswith("after")
