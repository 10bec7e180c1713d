"""RSS and Atom feeds: each entry a document with its own id, date, author, categories and
the feed's title as source; a feed that gains entries adds just those; broken feeds reported."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

from helpers import stored_documents

from searchkit import Index
from searchkit.readers import parse_file

ITEMS = [
    {
        "guid": "https://harbourdesk.example.org/2024/03/ferry-strike-ends",
        "title": "Ferry strike ends as crews accept new rota",
        "date": "Thu, 14 Mar 2024 09:30:00 +0100",
        "utc": datetime(2024, 3, 14, 8, 30),
        "author": "Ana Lopes",
        "categories": ["transport", "labour"],
        "paragraphs": [
            "Ferries between Lisbon and Barreiro ran to the full timetable on Thursday.",
            "The crews' union accepted a rota with two rest days after each night shift.",
        ],
    },
    {
        "guid": "https://harbourdesk.example.org/2024/03/cod-quotas",
        "title": "Cod quotas cut again in the North Atlantic",
        "date": "Wed, 13 Mar 2024 17:05:00 GMT",
        "utc": datetime(2024, 3, 13, 17, 5),
        "author": "Erik Dahl",
        "categories": ["fishing"],
        "paragraphs": ["Norway and Russia agreed a cod quota 20 percent below last year's."],
    },
]


def rss_item(item: dict) -> str:
    description = "".join(f"<p>{p}</p>" for p in item["paragraphs"])
    categories = "".join(f"<category>{c}</category>" for c in item["categories"])
    return f"""  <item>
    <title>{html.escape(item["title"])}</title>
    <link>{item["guid"]}</link>
    <guid isPermaLink="true">{item["guid"]}</guid>
    <pubDate>{item["date"]}</pubDate>
    <dc:creator>{item["author"]}</dc:creator>
    {categories}
    <description>{html.escape(description)}</description>
  </item>
"""


def rss(items: list[dict]) -> bytes:
    entries = "".join(rss_item(i) for i in items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Harbour Desk</title>
  <link>https://harbourdesk.example.org/</link>
  <description>News from the ports of the Atlantic coast</description>
  <lastBuildDate>Thu, 14 Mar 2024 10:00:00 +0100</lastBuildDate>
{entries}</channel>
</rss>
""".encode()


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="text">Science Desk</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2024-05-02T18:30:02Z</updated>
  <entry>
    <title type="html">Glacier &lt;em&gt;retreat&lt;/em&gt; measured from space</title>
    <id>tag:sciencedesk.example.org,2024:glacier-retreat</id>
    <link href="https://sciencedesk.example.org/glacier-retreat"/>
    <updated>2024-05-02T18:30:02Z</updated>
    <published>2024-05-02T12:00:00+02:00</published>
    <author><name>Lena Brunner</name></author>
    <category term="climate"/>
    <summary>Short summary that the full content replaces.</summary>
    <content type="html">&lt;p&gt;Satellite images show the Aletsch glacier lost 1.2 km.&lt;/p&gt;
      &lt;script&gt;alert(1)&lt;/script&gt;
      &lt;p&gt;Its tongue is now thinner than in 1850.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Marsh birds return to the Ebro delta</title>
    <id>tag:sciencedesk.example.org,2024:ebro-birds</id>
    <updated>2024-04-30</updated>
    <summary type="text">Flamingos nested in record numbers.</summary>
  </entry>
</feed>
"""


def parse(data: bytes, name: str = "harbour.rss"):
    return parse_file(data, path=name, id_base=name, folder="feeds")


def test_each_rss_item_is_a_document():
    result = parse(rss(ITEMS))
    assert result.problems == ()
    assert len(result.documents) == len(ITEMS)
    for doc, item in zip(result.documents, ITEMS, strict=True):
        assert doc.id == item["guid"]
        assert doc.title == item["title"]
        assert (doc.date.start, doc.date.precision) == (item["utc"], "second")
        assert doc.fields["author"] == (item["author"],)
        assert doc.fields["categories"] == tuple(item["categories"])
        assert doc.fields["source"] == ("Harbour Desk",)
        assert doc.fields["url"] == (item["guid"],)
        assert doc.fields["folder"] == ("feeds",)
        # HTML in the description is text, a line per paragraph, never markup.
        assert doc.body.split("\n\n") == item["paragraphs"]
        assert "<" not in doc.body and "&lt;" not in doc.body


def test_each_atom_entry_is_a_document():
    docs = parse(ATOM.encode(), "science.atom").documents
    first, second = docs
    assert first.id == "tag:sciencedesk.example.org,2024:glacier-retreat"
    assert first.title == "Glacier retreat measured from space"
    assert (first.date.start, first.date.precision) == (datetime(2024, 5, 2, 10, 0), "second")
    assert first.body.split("\n\n") == [
        "Satellite images show the Aletsch glacier lost 1.2 km.",
        "Its tongue is now thinner than in 1850.",
    ]
    assert first.fields["author"] == ("Lena Brunner",)
    assert first.fields["categories"] == ("climate",)
    assert first.fields["source"] == ("Science Desk",)
    assert (second.title, second.body) == (
        "Marsh birds return to the Ebro delta",
        "Flamingos nested in record numbers.",
    )
    assert (str(second.date), second.date.precision) == ("2024-04-30", "day")


def test_a_feed_is_known_by_its_content_whatever_its_name():
    expected = [(d.id, d.title, d.body) for d in parse(rss(ITEMS)).documents]
    for name in ("harbour.xml", "harbour", "harbour.txt", "harbour.json"):
        got = [(d.id, d.title, d.body) for d in parse(rss(ITEMS), name).documents]
        assert got == expected, name
    atom = parse(ATOM.encode(), "science.xml").documents
    assert [d.id for d in atom] == [d.id for d in parse(ATOM.encode(), "s.atom").documents]


def test_an_entry_without_guid_or_link_gets_a_stable_id_and_a_duplicate_is_skipped():
    data = rss(ITEMS).replace(
        b"</channel>",
        b"<item><title>Tide tables</title><description>High water at 06:12.</description></item>"
        + rss_item(ITEMS[0]).encode()
        + b"</channel>",
    )
    result = parse(data)
    ids = [d.id for d in result.documents]
    assert ids[:2] == [ITEMS[0]["guid"], ITEMS[1]["guid"]]
    assert len(ids) == 3 and ids[2].startswith("harbour.rss#")
    # The same entry in another position keeps its id.
    moved = rss([]).replace(
        b"</channel>",
        b"<item><title>Tide tables</title><description>High water at 06:12.</description>"
        b"</item></channel>",
    )
    assert [d.id for d in parse(moved).documents] == [ids[2]]
    (problem,) = result.problems
    assert problem.skipped and problem.path == "harbour.rss#4" and "duplicate id" in problem.reason


def test_a_file_that_is_not_a_feed_is_reported_and_skipped():
    for data in (b"this is not a feed at all\njust words", b"<rss version='2.0'><channel>"):
        result = parse(data)
        assert result.documents == ()
        assert [p.skipped for p in result.problems] == [True]
    whole = rss(ITEMS)
    cut = whole[: whole.index(b"</item>") + 20]
    result = parse(cut)
    # Not well-formed: what it holds is read leniently, with a warning; the item cut after
    # its first tag is no entry.
    assert [d.id for d in result.documents] == [ITEMS[0]["guid"]]
    assert [(p.path, p.skipped) for p in result.problems] == [
        ("harbour.rss", False),
        ("harbour.rss#2", True),
    ]
    assert "not well-formed" in result.problems[0].reason
    assert result.problems[1].reason == "no title and no body"


def test_a_feed_that_gains_entries_adds_just_those(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    feed = corpus / "harbour.rss"
    feed.write_bytes(rss(ITEMS[1:]))
    (corpus / "bad.rss").write_bytes(b"Service unavailable, try again later\n")
    (corpus / "note.txt").write_text("A note\nOn ferries.\n", encoding="utf-8")
    with Index(tmp_path / "index") as index:
        first = index.update([corpus])
        assert (first.added, [Path(p.path).name for p in first.problems if p.skipped]) == (
            2,
            ["bad.rss"],
        )
        feed.write_bytes(rss(ITEMS))  # the new item on top, as feeds put them
        second = index.update([corpus])
    assert (second.added, second.updated, second.deleted) == (1, 0, 0)
    assert second.added_ids == (ITEMS[0]["guid"],)
    stored = stored_documents(tmp_path / "index")
    assert sorted(stored) == sorted([ITEMS[0]["guid"], ITEMS[1]["guid"], "note.txt"])
