"""Chinese, Japanese and Korean text searched by word (issue 13): runs of CJK characters are
indexed and queried as overlapping pairs, so any word of two characters or more finds the texts
holding it, phrases need the characters side by side, and snippets mark what was found.

Expected answers are computed with plain substring tests over the same texts.
"""

from __future__ import annotations

import random

import pytest

from searchkit import Document
from searchkit.schema import build_schema, text_analyzer

SENTENCES = [
    "中国经济增长放缓，专家表示中国经济仍有韧性。",
    "上海股市今天上涨，投资者信心增强。",
    "经济学家预计明年增长将加快。",
    "東京で会議が開かれ、日本経済について議論した。",
    "大阪の天気は晴れ、気温が上がった。",
    "한국 경제 성장률이 둔화되었다",
    "서울에서 국제 회의가 열렸다",
    "中国的增长与经济政策",
]
QUERIES = ["中国", "经济", "增长", "经济增长", "東京", "日本経済", "경제", "성장률이", "股市"]


def documents(count: int = 30, seed: int = 5) -> list[Document]:
    rng = random.Random(seed)
    return [
        Document(
            id=f"c{i:02d}",
            title=rng.choice(["新闻", "ニュース", "뉴스"]),
            body=" ".join(rng.sample(SENTENCES, rng.randint(1, 3))),
        )
        for i in range(count)
    ]


DOCS = documents()


@pytest.fixture
def index(build_index):
    return build_index(DOCS, segments=2)


@pytest.mark.parametrize("word", QUERIES)
def test_a_cjk_word_finds_every_text_holding_it_first(index, word):
    holding = {d.id for d in DOCS if word in d.title or word in d.body}
    assert holding  # the control: the word occurs
    results = index.search(word, limit=100)
    ranked = [h.id for h in results.hits]
    assert set(ranked[: len(holding)]) == holding


@pytest.mark.parametrize("word", ["经济增长", "日本経済", "성장률이"])
def test_a_quoted_cjk_word_needs_its_characters_side_by_side(index, word):
    holding = {d.id for d in DOCS if word in d.body}
    results = index.search(f'"{word}"', limit=100)
    # Computed by substring: "中国的增长与经济政策" holds 经济 and 增长 apart, not the phrase.
    assert {h.id for h in results.hits} == holding and holding


def test_snippets_mark_each_occurrence_of_the_word(index):
    results = index.search("中国", limit=100, fragments=3)
    for hit in results.hits:
        marked = [hit.snippet.text[a:b] for a, b in hit.snippet.highlights]
        assert marked and all(m == "中国" for m in marked)
        assert len(marked) == hit.snippet.text.count("中国")


def test_a_cjk_run_is_indexed_as_overlapping_pairs_on_both_paths():
    text = "东京で会議 GDP成長 and 中国经济"
    tokens = [(t.text, t.pos) for t in text_analyzer()(text, positions=True)]
    assert tokens == [
        ("东京", 0), ("京で", 1), ("で会", 2), ("会議", 3),
        ("gdp", 4), ("成長", 5),
        ("中国", 6), ("国经", 7), ("经济", 8),
    ]  # fmt: skip
    # The indexer's fused loop gives the same terms and positions as Whoosh's chain.
    fused = {w.decode(): n for w, n, _, _ in build_schema()["body"].index(text)}
    assert fused == {t: 1 for t, _ in tokens}


def test_emoji_only_queries_get_a_note_that_says_why(index):
    results = index.search("🎉🔥")
    assert results.total == 0
    assert results.notes == ("nothing to search for: symbols and emoji are not indexed",)
