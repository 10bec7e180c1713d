"""Query semantics and explanations (issue 11): metadata fields searched by word, facets shown
as written, `--explain` parts that add up with true frequencies, notes that help, and the same
matches, total and order for every page size through the command line.

Expected answers are computed here from the documents with plain Python.
"""

from __future__ import annotations

import json
import random

import pytest
import Stemmer
from helpers import run_cli

from searchkit import Document

AUTHORS = ["Jane Doe", "John Smith", "Jane Austen Lee", "Ana María Núñez"]
ORGS = ["NASA Ames Research Center", "European Space Agency", "NASA", "Ames Laboratory"]
WORDS = "launch rocket orbit crew capsule engine test delay budget moon mars station".split()


def make_documents(count: int = 40, seed: int = 11) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        fields = {"author": (rng.choice(AUTHORS),), "organization": (rng.choice(ORGS),)}
        docs.append(
            Document(
                id=f"n{i:02d}",
                title=" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))),
                body=" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))),
                fields=fields,
            )
        )
    return docs


DOCS = make_documents()


stem = Stemmer.Stemmer("english").stemWord


def fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def holds_word(value: str, word: str) -> bool:
    return fold(word) in fold(value).split() or fold(value) == fold(word)


@pytest.fixture(params=[1, 2], ids=["one-segment", "two-segments"])
def index(request, build_index):
    return build_index(DOCS, segments=request.param)


# -- metadata fields by word -----------------------------------------------------------------


@pytest.mark.parametrize(
    "field, word",
    [("author", "jane"), ("author", "DOE"), ("organization", "nasa"), ("author", "maria")],
)
def test_a_metadata_field_finds_the_values_holding_a_word(index, field, word):
    expected = sorted(d.id for d in DOCS if any(holds_word(v, word) for v in d.fields[field]))
    assert expected  # the control: the word is in some values
    results = index.search(f"{field}:{word}", limit=100)
    assert sorted(h.id for h in results.hits) == expected
    assert results.total == len(expected)


def test_a_quoted_metadata_value_needs_every_word_and_a_whole_value_still_matches(index):
    both = sorted(d.id for d in DOCS if "Ames" in d.fields["organization"][0].split())
    got = index.search('organization:"nasa ames"', limit=100)
    assert sorted(h.id for h in got.hits) == sorted(
        d.id for d in DOCS if d.fields["organization"][0].startswith("NASA Ames")
    )
    whole = index.search("organization:nasa", limit=100)
    assert sorted(h.id for h in whole.hits) == sorted(
        d.id for d in DOCS if "NASA" in d.fields["organization"][0].split()
    )
    assert both  # the control


def test_where_and_facets_keep_whole_values_shown_as_written(index):
    results = index.search("*", where={"organization": "nasa"}, facets=["organization"])
    expected = [d for d in DOCS if d.fields["organization"] == ("NASA",)]
    assert results.total == len(expected) > 0  # exact: "NASA Ames ..." is another value
    assert [tuple(c) for c in results.facets["organization"]] == [("NASA", len(expected))]
    every = index.search("*", facets=["author"], limit=1)
    counts: dict[str, int] = {}
    for d in DOCS:
        counts[d.fields["author"][0]] = counts.get(d.fields["author"][0], 0) + 1
    order = sorted(counts.items(), key=lambda vc: (-vc[1], fold(vc[0])))
    assert [tuple(c) for c in every.facets["author"]] == order  # "Ana María Núñez" as written


# -- explain ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["launch", "launch rocket", "launch OR crew", '"rocket engine"', "title:moon", "mars^3"]
)
def test_explain_parts_add_up_to_the_score_with_true_frequencies(index, text):
    results = index.search(text, limit=10, explain=True)
    assert results.hits
    by_id = {d.id: d for d in DOCS}
    for hit in results.hits:
        assert hit.explanation, (text, hit.id)
        assert sum(p.score for p in hit.explanation) == pytest.approx(hit.score, abs=1e-3)
        doc = by_id[hit.id]
        for part in hit.explanation:
            # A part names the indexed term: the word's Snowball stem.
            words = [stem(w) for w in getattr(doc, part.field).lower().split()]
            if part.term.startswith('"'):
                phrase = part.term.strip('"').split()
                count = sum(words[i : i + len(phrase)] == phrase for i in range(len(words)))
            else:
                count = words.count(part.term)
            assert part.frequency == count > 0, (text, hit.id, part)


def test_a_title_word_once_has_frequency_one(build_index):
    ix = build_index(
        [
            Document(id="a", title="launch", body="the crew waited"),
            Document(id="b", title="other news", body="launch launch of a rocket"),
        ]
    )
    results = ix.search("launch", explain=True)
    parts = {h.id: [(p.field, p.frequency) for p in h.explanation] for h in results.hits}
    assert parts == {"a": [("title", 1.0)], "b": [("body", 2.0)]}


# -- notes -----------------------------------------------------------------------------------


def test_an_unknown_field_suggests_the_nearest_one(index):
    results = index.search("tittle:launch")
    assert any("unknown field 'tittle' (did you mean 'title'?)" in n for n in results.notes)
    results = index.search("autor:jane")
    assert any("(did you mean 'author'?)" in n for n in results.notes)
    results = index.search("zzzzzz:launch")
    assert any("unknown field 'zzzzzz' at column 1" in n for n in results.notes)


def test_a_url_is_searched_as_words_without_a_note(build_index):
    ix = build_index(
        [
            Document(id="u", title="link", body="see https://example.org/launch for more"),
            Document(id="v", title="other", body="nothing here"),
        ]
    )
    results = ix.search("https://example.org/launch")
    assert results.notes == ()
    assert [h.id for h in results.hits] == ["u"]


# -- the command line: one rule for every page -----------------------------------------------


def test_the_cli_total_and_order_are_the_same_for_every_page_size(index):
    words = ["launch", "budget"]
    both = [d for d in DOCS if all(w in (d.title + " " + d.body).split() for w in words)]
    some = [d for d in DOCS if any(w in (d.title + " " + d.body).split() for w in words)]
    assert 0 < len(both) < len(some)
    runs = {}
    for n in (3, 7, 100):
        ids, page = [], 1
        while True:
            out = run_cli(
                "search", "--index", str(index.path), "launch budget", "-n", str(n),
                "--page", str(page), "--format", "json",
            )  # fmt: skip
            assert out.exit_code == 0, out.output
            data = json.loads(out.stdout)
            assert (data["total"], data["all_words"]) == (len(some), len(both))
            if not data["hits"]:
                break
            ids += [h["id"] for h in data["hits"]]
            page += 1
        runs[n] = ids
    assert runs[3] == runs[7] == runs[100]
    assert set(runs[100]) == {d.id for d in some}
    assert set(runs[100][: len(both)]) == {d.id for d in both}  # every word first


# -- words as people type them ---------------------------------------------------------------


def test_a_hyphenated_word_is_its_words_in_any_field(build_index):
    docs = [
        Document(id="split", title="three", body="a dimensional model"),
        Document(id="body", title="news", body="a three-dimensional model"),
        Document(id="one", title="three", body="nothing else"),
    ]
    ix = build_index(docs)
    results = ix.search("three-dimensional", limit=10)
    both = {
        d.id
        for d in docs
        if {"three", "dimensional"} <= set((d.title + " " + d.body).replace("-", " ").split())
    }
    assert results.all_words == len(both) == 2
    assert {h.id for h in results.hits[:2]} == both
    assert results.total == 3


def test_question_marks_around_a_word_are_quotes_not_wildcards(build_index):
    ix = build_index(
        [
            Document(id="s", title="the slip effect", body="x"),
            Document(id="o", title="other", body="y"),
        ]
    )
    assert [h.id for h in ix.search("the ?slip?").hits] == ["s"]
    results = ix.search("what is the ?slip? effect")
    assert [h.id for h in results.hits] == ["s"] and results.all_words == 1
    # In the middle of a word, ? is still the one-letter wildcard.
    assert [h.id for h in ix.search("sl?p").hits] == ["s"]
