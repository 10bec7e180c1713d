"""The schema's fused indexing path against Whoosh's own analysis of the same text."""

from __future__ import annotations

import json
import pickle
from itertools import islice
from pathlib import Path

import pytest
from helpers import REUTERS, SHARED, needs_shared
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.analysis import StemmingAnalyzer
from whoosh.analysis.filters import STOP_WORDS
from whoosh.fields import TEXT

from searchkit.readers import parse_file
from searchkit.schema import SpelledText, _fused_indexer, build_schema

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def whoosh_index(field: TEXT, text: str) -> list:
    """What Whoosh's own TEXT.index gives: the analyzer chain, token by token."""
    return list(TEXT.index(field, text))


def assert_same_as_whoosh(text: str) -> None:
    schema = build_schema()
    for name in ("title", "body"):  # body boost 1, title boost 2
        field = schema[name]
        assert list(field.index(text)) == whoosh_index(field, text), (name, text[:200])


def test_the_fused_path_is_taken_for_the_schema_text_fields():
    """The equality tests below would pass vacuously if the fast path were never used."""
    schema = build_schema()
    for name in ("title", "body"):
        assert _fused_indexer(schema[name]) is not None


def test_the_project_corpus_indexes_as_whoosh_indexes_it():
    """Every title and body of corpus/ gives the same terms, frequencies, weights, positions."""
    texts = []
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        result = parse_file(path.read_bytes(), path=str(path), id_base=path.name, folder="")
        texts += [t for doc in result.documents for t in (doc.title, doc.body)]
    assert len(texts) >= 80
    for text in texts:
        assert_same_as_whoosh(text)


@needs_shared
def test_real_news_indexes_as_whoosh_indexes_it():
    """Reuters bodies and Usenet posts (accents, numbers, e-mail addresses, code, quoting)."""
    with REUTERS.open(encoding="utf-8") as f:
        texts = [json.loads(line).get("body", "") for line in islice(f, 1500)]
    posts = sorted((SHARED / "corpora" / "20news").rglob("*"))
    for path in [p for p in posts if p.is_file()][::80]:
        texts.append(path.read_bytes().decode("latin-1"))
    for text in texts:
        assert_same_as_whoosh(text)


WORDS = st.sampled_from(
    sorted(STOP_WORDS)
    + ["città", "CAFÉ", "naïve", "Straße", "ǅemal", "İstanbul", "ﬁne", "running", "ran"]
    + ["U.S.A.", "3.141", "big-time", "under_score", "e.g.", "a*b", "x", "Ab", "ß", "1,000"]
)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=60).map(" ".join),
    st.lists(WORDS, max_size=60).map(lambda ws: ".".join(ws)),
)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_any_text_indexes_as_whoosh_indexes_it(text):
    """Stop words (renumbered positions), accents, case, dotted and starred tokens, repeats."""
    assert_same_as_whoosh(text)


def test_another_analyzer_falls_back_to_whoosh():
    """A field whose chain is not the schema's is indexed by Whoosh itself, unchanged."""
    field = SpelledText(analyzer=StemmingAnalyzer(), stored=True)
    assert _fused_indexer(field) is None
    text = "The runners were running; the RUNNER ran."
    assert list(field.index(text)) == whoosh_index(field, text)


def test_a_schema_that_has_indexed_still_pickles():
    """Whoosh pickles the schema into every table of contents; the cached closure must not
    go with it, and the unpickled field indexes the same."""
    schema = build_schema()
    text = "Città di Roma: the runners ran again, and again."
    before = list(schema["body"].index(text))
    restored = pickle.loads(pickle.dumps(schema))
    assert list(restored["body"].index(text)) == before == whoosh_index(restored["body"], text)


@pytest.mark.parametrize("text", ["", "the of and", "   ", "a b c"])
def test_texts_without_index_terms(text):
    """Empty and stop-word-only texts give no terms, as Whoosh's path does."""
    assert_same_as_whoosh(text)
    assert list(build_schema()["body"].index(text)) == []
