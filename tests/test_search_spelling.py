"""Did you mean: its answers on small indexes, and a cost bounded whatever the query holds."""

from __future__ import annotations

import random
import time

import pytest
from whoosh.reading import IndexReader, MultiReader, SegmentReader

from searchkit import Document
from searchkit.spelling import MAX_SUGGEST_WORD_CHARS, MAX_SUGGEST_WORDS

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def documents() -> list[Document]:
    """60 documents over a vocabulary of 400 made-up words starting with each letter, and a
    few real ones to misspell."""
    rng = random.Random(1)
    vocab = [
        letter + "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 9)))
        for letter in LETTERS
        for _ in range(16)
    ]
    return [
        Document(
            id=f"d{i}",
            title="cocoa cargo",
            body=" ".join(rng.sample(vocab, 40)) + " brazil harvest port",
        )
        for i in range(60)
    ]


@pytest.fixture(params=[1, 3], ids=["one-segment", "three-segments"])
def index(request, build_index):
    return build_index(documents(), segments=request.param)


@pytest.fixture
def lookups(monkeypatch):
    """Every lookup of index words near a query word: (field, word or prefix) pairs."""
    seen: list[tuple[str, str]] = []
    for cls in (IndexReader, SegmentReader, MultiReader):
        for name in ("terms_within", "expand_prefix"):
            original = cls.__dict__.get(name)
            if original is None:
                continue

            def spy(self, fieldname, text, *args, _original=original, **kwargs):
                word = text.decode("utf-8") if isinstance(text, bytes) else text
                seen.append((fieldname, word))
                return _original(self, fieldname, text, *args, **kwargs)

            monkeypatch.setattr(cls, name, spy)
    return seen


def test_misspelled_words_are_corrected(index):
    assert index.search("brazl cargo").suggestion == "brazil cargo"
    assert index.search("harvst").suggestion == "harvest"
    # A transposition is one edit, in a one-segment index as in a many-segment one (Whoosh's
    # automaton for one segment counted two, too many for a word this short).
    assert index.search("prot").suggestion == "port"


def test_a_2000_character_word_costs_no_suggestion_work(index, lookups):
    word = ("brazilcocoa" * 200)[:2000]
    started = time.perf_counter()
    results = index.search(word)
    elapsed = time.perf_counter() - started
    assert results.total == 0 and results.suggestion is None
    # Before the bound, its two lookups compared the whole word with every index word that
    # starts with "b": about 9 s here; now it is never looked up.
    assert [w for _, w in lookups if len(w) > MAX_SUGGEST_WORD_CHARS] == []
    assert elapsed < 5, f"{elapsed:.1f} s"
    # A short misspelling beside it is still looked up.
    lookups.clear()
    index.search("harvst " + word[:1000])
    assert lookups and all("harvst".startswith(w) for _, w in lookups)


def test_a_word_at_the_length_cap_is_still_corrected(build_index):
    long = "a" + "b" * (MAX_SUGGEST_WORD_CHARS - 1)
    ix = build_index([Document(id=f"d{i}", title=long, body=long) for i in range(3)])
    typo = long[:-1] + "c"
    assert len(typo) == MAX_SUGGEST_WORD_CHARS
    assert ix.search(typo).suggestion == long
    assert ix.search(typo + "b").suggestion is None  # one character over the cap


def test_only_the_first_few_unknown_words_are_looked_up(index, lookups):
    # Twelve unknown words, each with its own first letter: a lookup names its word.
    words = [letter + "qzxqzx" for letter in "bcdefghjklmn"]
    index.search(" ".join(words))
    looked_up = {w for w in words if any(w.startswith(x) and x for _, x in lookups)}
    assert 0 < len(looked_up) <= MAX_SUGGEST_WORDS
    assert looked_up == set(words[: len(looked_up)])
