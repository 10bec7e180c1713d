"""parse_file: each format from small samples and from the real corpora, and bad input."""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
import json
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchkit import readers
from searchkit.documents import CORE_FIELDS, Document, ParseResult, Problem, metadata_name
from searchkit.readers import parse_file

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
needs_shared = pytest.mark.skipif(
    not SHARED.exists(), reason="../shared (real corpora) is not present"
)
SEED = SHARED / "seeds" / "000_89518b9a207e0b3d.txt"
NEWS = SHARED / "corpora" / "20news"
BBC = SHARED / "corpora" / "bbc"
REUTERS = SHARED / "corpora" / "reuters21578" / "reuters.jsonl"
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")


def parse(data: bytes | str, name: str = "a.txt", folder: str = "") -> ParseResult:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return parse_file(data, path=f"corpus/{name}", id_base=name, folder=folder)


def only(result: ParseResult) -> Document:
    assert len(result.documents) == 1, result
    return result.documents[0]


def run(files: dict[str, bytes]) -> tuple[list[Document], list]:
    """What the indexer does with a folder: every file, whatever the others hold."""
    found, problems = [], []
    for name, data in files.items():
        result = parse(data, name)
        found.extend(result.documents)
        problems.extend(result.problems)
    return found, problems


def collapse(text: str) -> str:
    """A header value as stored: control characters out (a From line in 20news holds
    backspaces), whitespace runs collapsed."""
    return " ".join(UNSAFE.sub("", text).split())


def stdlib_message(data: bytes) -> email.message.Message:
    """The message as the email module reads it, from text decoded the way a reader would."""
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    return email.message_from_string(text, policy=email.policy.compat32)


# -- metadata names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("topics", "topics"),
        ("Pub Date", "pub_date"),
        ("  X--Mailer!! ", "x_mailer"),
        ("title", "meta_title"),
        ("Folder", "meta_folder"),
        ("YEAR", "meta_year"),
        ("2nd-author", "meta_2nd_author"),
        ("___", None),
        ("", None),
        ("日本", None),
    ],
)
def test_metadata_name(key, name):
    assert metadata_name(key) == name


def test_metadata_names_never_collide_with_the_schema_own_fields():
    from searchkit.schema import build_schema

    own = set(build_schema().names())  # id, title, body, date, meta, spell_title, ...
    keys = own | {"Meta", "Date End", "spell_body", "folder"}
    for key in keys:
        name = metadata_name(key)
        assert name not in own, (key, name)
    assert metadata_name("folder") == "meta_folder"  # the reader sets `folder` itself


# -- seed format --------------------------------------------------------------------------


def test_seed_sample_day_month_year():
    day = only(parse(" date 2020-03-14 Italy sings. Balconies fill.\n\nMore text here."))
    assert (day.date.start, day.date.precision) == (datetime(2020, 3, 14), "day")
    assert day.title == "Italy sings."
    assert day.body == "Italy sings. Balconies fill.\n\nMore text here."
    assert day.id == "a.txt"
    assert day.path == "corpus/a.txt"

    month = only(parse("\n\n date 2020-04 Lockdown eases.\nSecond line."))
    assert (month.date.isoformat(), month.date.precision) == ("2020-04", "month")
    year = only(parse("date 2019\nA year in review. It was long."))
    assert (year.date.isoformat(), year.title) == ("2019", "A year in review.")


def test_seed_title_skips_abbreviations_and_is_cut_at_a_word():
    doc = only(parse("date 2020-01-02 Mr. Smith met U.S. officials in Rome. They talked."))
    assert doc.title == "Mr. Smith met U.S. officials in Rome."
    words = " ".join(f"word{i}" for i in range(60))
    long = only(parse(f"date 2020-01-02 {words}."))
    assert long.title.endswith("…")
    assert len(long.title) <= 151
    assert words.startswith(long.title[:-1])
    assert long.title[:-1].split()[-1] in words.split()  # cut between words
    assert long.body == f"{words}."


def test_seed_with_an_impossible_date_stays_undated():
    result = parse("date 2020-13-45 Text after a bad date.")
    doc = only(result)
    assert doc.date is None
    assert doc.title == "Text after a bad date."
    assert [(p.reason, p.skipped) for p in result.problems] == [
        ("unparseable date '2020-13-45'", False)
    ]


@needs_shared
def test_real_seed_file():
    doc = only(parse_file(SEED.read_bytes(), path=str(SEED), id_base=SEED.name, folder=""))
    assert (doc.date.start, doc.date.precision) == (datetime(2020, 3, 14), "day")
    assert doc.title.startswith("The coronavirus crisis in Italy")
    assert len(doc.title) <= 151
    text = SEED.read_text(encoding="utf-8")
    assert doc.body == text.strip().removeprefix("date 2020-03-14").strip()
    assert "folder" not in doc.fields


# -- header format ------------------------------------------------------------------------

MESSAGE = """\
Path: news.example!not-indexed
From: Jane Doe <jane@example.org>
Newsgroups: sci.space, sci.astro
Subject: Orbits
  and other things
Date: Tue, 20 Apr 1993 18:15:00 EDT
Organization: Example University
Keywords: moon, orbit,, moon
X-Newsreader: TIN
Message-ID: <1@example>
Summary: A   summary
Distribution: world

Body line one.

Body line two.
"""


def test_header_sample():
    doc = only(parse(MESSAGE, "sci.space/1", folder="sci.space"))
    assert doc.title == "Orbits and other things"
    assert doc.date.start == datetime(1993, 4, 20, 22, 15)
    assert doc.body == "Body line one.\n\nBody line two."
    assert doc.fields == {
        "author": ("Jane Doe <jane@example.org>",),
        "newsgroups": ("sci.space", "sci.astro"),
        "organization": ("Example University",),
        "keywords": ("moon", "orbit"),
        "summary": ("A summary",),
        "distribution": ("world",),
        "folder": ("sci.space",),
    }


def test_header_without_subject_uses_first_body_line():
    doc = only(parse("From: a@b\nNewsgroups: x\nSubject:\n\n\n  First words here.\nMore.\n"))
    assert doc.title == "First words here."
    assert doc.body == "First words here.\nMore."


def test_one_header_line_is_plain_text_unless_eml():
    plain = only(parse("Note: this is a memo\n\nBody."))
    assert (plain.title, plain.fields) == ("Note: this is a memo", {})
    eml = only(parse("Subject: a memo\n\nBody.", "m.eml"))
    assert (eml.title, eml.body) == ("a memo", "Body.")


def test_broken_header_line_keeps_the_text():
    text = "From: a@b\nSubject: Hello\nthis line is no header\nDate: 1 Jan 1993 10:00 GMT\n\nRest."
    result = parse(text)
    doc = only(result)
    assert doc.title == "Hello"
    assert doc.date is None  # the Date line came after the break: it is body now
    assert doc.body == "this line is no header\nDate: 1 Jan 1993 10:00 GMT\n\nRest."
    assert [(p.reason, p.skipped) for p in result.problems] == [
        ("malformed header line 3, rest read as body", False)
    ]


def test_unparseable_header_date():
    result = parse("From: a@b\nSubject: Hi\nDate: Sun, 32 Foo 1993\n\nBody.")
    doc = only(result)
    assert (doc.title, doc.date) == ("Hi", None)
    assert [(str(p), p.skipped) for p in result.problems] == [
        ("corpus/a.txt: unparseable date 'Sun, 32 Foo 1993'", False)
    ]


def news_files() -> list[Path]:
    return sorted(p for p in NEWS.glob("*/*") if p.is_file())


@needs_shared
def test_real_usenet_posts_match_the_email_module():
    # Every 40th post (about 500, all groups): headers as the stdlib reads them.
    checked_dates = 0
    for path in news_files()[::40]:
        data = path.read_bytes()
        doc = only(parse_file(data, path=str(path), id_base=path.name, folder=path.parent.name))
        message = stdlib_message(data)
        assert doc.title == collapse(message["Subject"]), path
        # Metadata values are capped at 200 characters (one From line runs on for 300).
        assert doc.fields["author"] == (collapse(message["From"])[:200].rstrip(),), path
        # Deduplicated in order: sci.space/61291 names sci.space twice.
        groups = tuple(
            dict.fromkeys(g.strip() for g in message["Newsgroups"].split(",") if g.strip())
        )
        assert doc.fields["newsgroups"] == groups, path
        assert doc.fields["folder"] == (path.parent.name,)
        assert not any(k in doc.fields for k in ("path", "xref", "message_id", "lines"))
        stamp = message["Date"]
        if stamp and re.search(r"\s([+-]\d{4}|GMT|UT|EST|EDT|CST|CDT|MST|MDT|PST|PDT)$", stamp):
            expected = email.utils.parsedate_to_datetime(stamp).astimezone(timezone.utc)
            assert doc.date.start == expected.replace(tzinfo=None), (path, stamp)
            checked_dates += 1
    assert checked_dates > 400


@needs_shared
def test_real_usenet_post_not_in_utf8():
    path = next(p for p in news_files() if not _is_utf8(p.read_bytes()))
    data = path.read_bytes()
    result = parse_file(data, path=str(path), id_base=path.name, folder=path.parent.name)
    doc = only(result)
    message = stdlib_message(data)
    assert doc.title == collapse(message["Subject"])
    assert [(p.path, p.skipped) for p in result.problems] == [(str(path), False)]
    assert re.fullmatch(r"not valid UTF-8 .*, decoded as cp1252", result.problems[0].reason)
    # Not a byte lost: the body is the message's payload, as the stdlib splits it.
    assert doc.body == message.get_payload().strip()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@needs_shared
def test_real_usenet_unusual_header_names_are_headers():
    # `Article-I.D.:` is a legal RFC 822 field name; Organization after it must still count.
    path = NEWS / "alt.atheism" / "51224"
    result = parse_file(path.read_bytes(), path=str(path), id_base="51224", folder="alt.atheism")
    doc = only(result)
    assert result.problems == ()
    assert doc.fields["organization"] == ("Summit NJ",)
    assert doc.body.startswith("student writes:")


# -- front matter -------------------------------------------------------------------------

FRONT = """\
---
title: "Spring  in Rome"
date: 2020-03-14
tags: [italy, spring, italy, ""]
categories: travel
author: Ann
draft: false
views: 12
nested: {a: 1}
Body: shadowed
---
# Not the title

Text of the post.
"""


def test_front_matter_sample():
    doc = only(parse(FRONT, "posts/rome.md", folder="posts"))
    assert doc.title == "Spring in Rome"
    assert (doc.date.start, doc.date.precision) == (datetime(2020, 3, 14), "day")
    # The Markdown is the text a reader sees: the heading keeps its words, not its `#`.
    assert doc.body == "Not the title\n\nText of the post."
    assert doc.fields == {
        "tags": ("italy", "spring"),
        "categories": ("travel",),
        "author": ("Ann",),
        "draft": ("False",),
        "views": ("12",),
        "meta_body": ("shadowed",),
        "folder": ("posts",),
    }


@pytest.mark.parametrize(
    ("value", "start", "precision"),
    [
        ("2020-03-14 09:30:00+02:00", datetime(2020, 3, 14, 7, 30), "second"),
        ("2020-03-14 09:30:00", datetime(2020, 3, 14, 9, 30), "second"),
        ("'2020-03'", datetime(2020, 3, 1), "month"),
        ("2020", datetime(2020, 1, 1), "year"),
    ],
)
def test_front_matter_dates_from_yaml_types(value, start, precision):
    doc = only(parse(f"---\npublished: {value}\n---\nText.\n", "p.md"))
    assert (doc.date.start, doc.date.precision) == (start, precision)


def test_front_matter_title_falls_back_to_heading_then_first_line():
    heading = only(parse("---\ntags: [a]\n---\nIntro line.\n\n# The Heading #\n\nText.", "p.md"))
    assert heading.title == "The Heading"
    first = only(parse("---\ntags: [a]\n---\n\n## Sub heading\nText.", "p.md"))
    assert first.title == "Sub heading"


def test_bad_yaml_is_read_as_plain_text():
    result = parse("---\ntitle: [unclosed\n---\nThe body survives.\n", "p.md")
    doc = only(result)
    assert "The body survives." in doc.body
    assert doc.title == "title: [unclosed"
    assert len(result.problems) == 1
    assert result.problems[0].reason.startswith("bad YAML front matter")
    assert result.problems[0].skipped is False


def test_impossible_yaml_date_costs_only_the_date():
    result = parse("---\ndate: 2020-02-30\ntags: [a]\n---\nText.\n", "p.md")
    doc = only(result)
    assert (doc.date, doc.fields, doc.title) == (None, {"tags": ("a",)}, "Text.")
    assert [(p.reason, p.skipped) for p in result.problems] == [
        ("unparseable date '2020-02-30'", False)
    ]


def test_front_matter_only_metadata_is_skipped():
    result = parse("---\ntags: [a, b]\n---\n\n", "p.md")
    assert result.documents == ()
    assert [(p.reason, p.skipped) for p in result.problems] == [("no title and no body", True)]


# -- JSON ---------------------------------------------------------------------------------


def jsonl(*records: object) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


def test_json_lines_sample():
    text = jsonl(
        {
            "id": 7,
            "headline": "Cocoa",
            "text": "Showers.",
            "pubdate": "1987-02-26",
            "topics": ["cocoa", " cocoa ", "", None, {"x": 1}, ["nested"]],
            "score": 3.5,
            "flag": True,
            "empty": "",
            "none": None,
            "deep": {"a": [1, 2]},
            "long": "x" * 300,
            "spaced": "  a \n\t b  ",
        },
        {"title": "No id here", "body": "Second."},
    )
    result = parse(text, "feed.jsonl", folder="feeds")
    first, second = result.documents
    assert result.problems == ()
    assert (first.id, first.title, first.body) == ("7", "Cocoa", "Showers.")
    assert (first.date.start, first.date.precision) == (datetime(1987, 2, 26), "day")
    assert first.fields == {
        "topics": ("cocoa",),
        "meta_score": ("3.5",),
        "flag": ("True",),
        "long": ("x" * 200,),
        "spaced": ("a b",),
        "folder": ("feeds",),
    }
    assert second.id == "feed.jsonl#2"
    assert all(d.path == "corpus/feed.jsonl" for d in result.documents)


def test_json_lines_bad_lines_cost_one_problem_each():
    text = jsonl(
        {"id": "a", "title": "Good one", "body": "x"},
        "{not json",
        "[1, 2]",
        "[" * 100000 + "]" * 100000,
        {"id": "e", "topics": ["orphan"]},
        {"id": "a", "title": "Duplicate", "body": "y"},
        "",
        {"title": "Last good", "date": "soon"},
    )
    result = parse(text, "f.jsonl")
    # Line 5 has no text but an id and a topic: kept, with a warning.
    assert [d.title for d in result.documents] == ["Good one", "", "Last good"]
    assert result.documents[1].id == "e"
    assert result.documents[2].id == "f.jsonl#8"
    assert result.documents[2].date is None
    problems = {p.path: (p.reason, p.skipped) for p in result.problems}
    assert set(problems) == {f"corpus/f.jsonl:{n}" for n in (2, 3, 4, 5, 6, 8)}
    assert problems["corpus/f.jsonl:2"][0].startswith("bad JSON")
    assert problems["corpus/f.jsonl:3"] == ("not a JSON object (an array)", True)
    assert problems["corpus/f.jsonl:4"] == ("JSON nested too deeply", True)
    assert problems["corpus/f.jsonl:5"] == ("no title and no body", False)
    assert problems["corpus/f.jsonl:6"][0].startswith("duplicate id 'a'")
    assert problems["corpus/f.jsonl:8"] == ("unparseable date 'soon'", False)


def test_json_document_array_and_single_object():
    array = parse(json.dumps([{"title": "One"}, 5, {"id": "x", "body": "Two"}]), "a.json")
    assert [(d.id, d.title, d.body) for d in array.documents] == [
        ("a.json#1", "One", ""),
        ("x", "", "Two"),
    ]
    assert [(p.path, p.reason) for p in array.problems] == [
        ("corpus/a.json#2", "not a JSON object (int)")
    ]
    single = only(parse(json.dumps({"title": "Alone", "created": 1583020800}), "s.json"))
    assert single.id == "s.json"
    assert single.date.start == datetime(2020, 3, 1)


def test_json_file_falls_back_to_json_lines():
    result = parse(jsonl({"title": "A"}, {"title": "B"}), "two.json")
    assert [(d.id, d.title) for d in result.documents] == [("two.json#1", "A"), ("two.json#2", "B")]
    broken = parse('{"title": "A",\n "body": ', "broken.json")
    assert broken.documents == ()
    assert len(broken.problems) == 1
    assert broken.problems[0].reason.startswith("bad JSON")


def test_json_strings_whoosh_cannot_store_are_cleaned():
    line = r'{"id": "x\ud800", "title": "Ti\u0000tle\ud800", "body": "a\u0007b\nc\td", '
    line += r'"tags": ["ok\udfff", "\u0001"]}'
    doc = only(parse(line, "u.jsonl"))
    assert (doc.title, doc.body, doc.fields["tags"]) == ("Title", "ab\nc\td", ("ok",))
    assert not UNSAFE.search(doc.id)
    doc.id.encode("utf-8")


def reuters_lines(numbers: list[int]) -> list[str]:
    wanted = set(numbers)
    with REUTERS.open(encoding="utf-8") as lines:
        return [line for n, line in enumerate(lines, 1) if n in wanted]


@needs_shared
def test_real_reuters_lines():
    lines = reuters_lines([1, 2, 3, 5, 9, 100, 4000, 12793, 21578])
    result = parse_file(
        "".join(lines).encode(), path="reuters.jsonl", id_base="reuters.jsonl", folder=""
    )
    records = [json.loads(line) for line in lines]
    # Every line is an article, the empty one (12793) included.
    for doc, record in zip(result.documents, records, strict=True):
        assert doc.id == record["id"]
        assert doc.title == collapse(record["title"])
        assert doc.body == record["body"].strip()
        assert doc.date.start == datetime.fromisoformat(record["date"])
        for key in ("topics", "places", "people", "orgs", "exchanges"):
            assert doc.fields.get(key, ()) == tuple(record[key]), (record["id"], key)
        assert doc.fields["split"] == (record["split"],)
        assert "id" not in doc.fields and "meta_id" not in doc.fields
    assert any(doc.fields.get("topics") for doc in result.documents)


@needs_shared
def test_real_bbc_file():
    path = BBC / "business" / "001.txt"
    text = path.read_text(encoding="utf-8")
    doc = only(
        parse_file(path.read_bytes(), path=str(path), id_base="business/001.txt", folder="business")
    )
    first, _, rest = text.partition("\n")
    assert (doc.id, doc.title, doc.body) == ("business/001.txt", first.strip(), rest.strip())
    assert doc.date is None
    assert doc.fields == {"folder": ("business",)}


@needs_shared
@pytest.mark.slow
def test_whole_bbc_and_reuters_corpora():
    bbc_files = sorted(BBC.glob("*/*.txt"))
    bbc = [
        parse_file(p.read_bytes(), path=str(p), id_base=p.name, folder=p.parent.name)
        for p in bbc_files
    ]
    assert sum(len(r.documents) for r in bbc) == len(bbc_files) == 2225
    bbc_problems = [p for r in bbc for p in r.problems]
    # One file is not UTF-8 (sport/199.txt, a pound sign in cp1252): read, with a warning.
    assert [(Path(p.path).name, p.skipped) for p in bbc_problems] == [("199.txt", False)]

    data = REUTERS.read_bytes()
    result = parse_file(data, path="reuters.jsonl", id_base="reuters.jsonl", folder="")
    lines = data.decode("utf-8").splitlines()
    assert len(lines) == 21578
    # Line 12793 has neither title nor body, but an id and a date: indexed, with a warning.
    empty = [
        n
        for n, line in enumerate(lines, 1)
        if not (json.loads(line)["title"].strip() or json.loads(line)["body"].strip())
    ]
    assert empty == [12793]
    assert len(result.documents) == 21578
    assert [(p.path, p.reason, p.skipped) for p in result.problems] == [
        ("reuters.jsonl:12793", "no title and no body", False)
    ]
    assert len({d.id for d in result.documents}) == 21578


# -- plain text ---------------------------------------------------------------------------


def test_plain_text_sample():
    doc = only(parse("\n\n  Ad sales boost profit  \n\nProfits rose.\nA lot.\n", "b/1.txt", "b"))
    assert (doc.title, doc.body, doc.date) == (
        "Ad sales boost profit",
        "Profits rose.\nA lot.",
        None,
    )
    assert doc.fields == {"folder": ("b",)}


def test_plain_text_long_first_line_stays_in_the_body():
    line = "This first line is a whole paragraph. " * 10
    doc = only(parse(line + "\nSecond."))
    assert doc.title == "This first line is a whole paragraph."
    assert doc.body == (line + "\nSecond.").strip()


def test_markdown_without_front_matter():
    doc = only(parse("# A heading\n\nText.", "n.md"))
    assert (doc.title, doc.body) == ("A heading", "Text.")


# -- bad input ----------------------------------------------------------------------------

GOOD = b"A good title\n\nA good body."


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b" \n\t\r\n  \n", "empty file"),
        (b"\xef\xbb\xbf  \n", "empty file"),
        (b"Title\n\x00\x01binary", "binary file"),
        (bytes(range(1, 32)) * 20 + b"some text", "binary file"),
    ],
)
def test_empty_and_binary_files_are_skipped_and_the_run_goes_on(data, reason):
    found, problems = run({"good1.txt": GOOD, "bad.bin": data, "good2.txt": GOOD})
    assert [d.id for d in found] == ["good1.txt", "good2.txt"]
    assert [(p.path, p.reason, p.skipped) for p in problems] == [("corpus/bad.bin", reason, True)]


@pytest.mark.parametrize(
    ("data", "encoding", "title"),
    [
        ("Caf\xe9 \u201cquoted\u201d\n\nBody".encode("cp1252"), "cp1252", "Café “quoted”"),
        (b"Ma\xf1ana \x81\n\nBody", "latin-1", "Mañana \x81"),
    ],
)
def test_not_utf8_is_decoded_with_a_warning(data, encoding, title):
    found, problems = run({"good.txt": GOOD, "old.txt": data})
    assert [d.title for d in found] == ["A good title", title]
    assert len(problems) == 1
    assert problems[0].path == "corpus/old.txt"
    assert problems[0].reason.endswith(f"decoded as {encoding}")
    assert problems[0].reason.startswith("not valid UTF-8")
    assert problems[0].skipped is False


def test_bom_is_removed_silently():
    result = parse(b"\xef\xbb\xbfFrom: a@b\nSubject: With BOM\n\nBody.")
    assert (only(result).title, result.problems) == ("With BOM", ())


def test_control_characters_after_the_binary_sample_are_removed():
    data = b"Title\x07 here\n\n" + b"a" * 9000 + b"\x00b\x1bc\r\nd"
    doc = only(parse(data))
    assert doc.title == "Title here"
    assert doc.body == "a" * 9000 + "bc\nd"


def test_unexpected_reader_error_skips_only_that_file(monkeypatch):
    def boom(self, text):
        raise RuntimeError("reader bug")

    monkeypatch.setattr(readers._Reader, "read_json_lines", boom)
    found, problems = run({"a.txt": GOOD, "b.jsonl": b'{"title": "x"}'})
    assert [d.id for d in found] == ["a.txt"]
    assert [(p.path, p.reason, p.skipped) for p in problems] == [
        ("corpus/b.jsonl", "cannot read (RuntimeError: reader bug)", True)
    ]


def test_document_without_title_or_body_is_skipped():
    result = parse("---\ntitle: ''\n---\n", "e.md")
    assert result.documents == ()
    assert [(p.reason, p.skipped) for p in result.problems] == [("no title and no body", True)]


# -- no input crashes the reader ----------------------------------------------------------

NAMES = st.sampled_from(["f.txt", "f.json", "f.jsonl", "f.md", "f.eml", "f"])
UNSAFE_CHARS = st.sampled_from(["\x00", "\x1b", "\ud800", "\udfff", "\r", "\x0c"])
FRAGMENTS = st.sampled_from(
    [
        "---\n",
        "date 2020-01 ",
        " date 2020-13-99 ",
        "From: a\n",
        "Subject: b\n",
        "Date: x\n",
        "\n",
        "title: [\n",
        "tags: [a, {b: c}]\n",
        "# h\n",
        '{"id": 1, "title": "t"}\n',
        "[",
        '{"body": "\\ud800\\u0000"}\n',
        " \t",
        "\xe9",
    ]
)


def check(result: ParseResult) -> None:
    assert isinstance(result, ParseResult)
    assert not any(p.reason.startswith("cannot read") for p in result.problems), result.problems
    for doc in result.documents:
        assert isinstance(doc.id, str) and doc.id
        assert isinstance(doc.title, str) and isinstance(doc.body, str)
        empty_text_warned = any(p.reason == "no title and no body" for p in result.problems)
        assert doc.title or doc.body or empty_text_warned
        for text in (doc.id, doc.title, doc.body):
            assert not UNSAFE.search(text)
        for name, values in doc.fields.items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
            assert name == "folder" or name not in CORE_FIELDS
            assert isinstance(values, tuple) and values
            for value in values:
                assert value and len(value) <= 200 and not UNSAFE.search(value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), NAMES)
def test_arbitrary_bytes_never_break_the_reader(data, name):
    check(parse(data, name, folder="f"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=30), FRAGMENTS, UNSAFE_CHARS), max_size=25), NAMES)
def test_arbitrary_text_never_breaks_the_reader(parts, name):
    text = "".join(parts)
    check(parse(text.encode("utf-8", "surrogatepass"), name))
    check(parse(text.encode("utf-8", "replace"), name))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | UNSAFE_CHARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
JSON_KEYS = st.sampled_from(["id", "title", "body", "date", "time", "tags", "Title", "folder", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.dictionaries(JSON_KEYS | st.text(max_size=8), JSON_VALUES, max_size=6), max_size=5)
)
def test_arbitrary_json_records_never_break_the_reader(records):
    text = "\n".join(json.dumps(r) for r in records)
    check(parse(text, "r.jsonl"))
    check(parse(json.dumps(records), "r.json"))


def test_yaml_values_of_every_type_become_text():
    text = "---\ntitle: 2020-01-01\nwhen: 2020-01-02 10:00:00\nshown: yes\nlist: [1, 2.5, null]\n"
    # YAML 1.1 reads the key `on` as the boolean True: the field is named after its text.
    text += "on: x\n---\n"
    doc = only(parse(text, "y.md"))
    assert doc.title == date(2020, 1, 1).isoformat()
    assert doc.fields == {
        "when": ("2020-01-02T10:00:00",),
        "shown": ("True",),
        "list": ("1", "2.5"),
        "true": ("x",),
    }


# -- as_dict ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "shown"),
    [
        (None, None),
        (date(2020, 3, 14), "2020-03-14"),
        (datetime(2020, 3, 14, 9, 30, tzinfo=timezone.utc), "2020-03-14T09:30:00Z"),
    ],
)
def test_document_as_dict_holds_every_field_as_json_values(when, shown):
    doc = Document(
        id="a/b.txt",
        title="Cocoa",
        body="Rain in Bahia.",
        date=when,
        path="/corpus/a/b.txt",
        fields={"topics": ["cocoa", "coffee"], "places": ("brazil",)},
    )
    data = doc.as_dict()
    assert data == {
        "id": "a/b.txt",
        "title": "Cocoa",
        "date": shown,
        "path": "/corpus/a/b.txt",
        "fields": {"topics": ["cocoa", "coffee"], "places": ["brazil"]},
        "body": "Rain in Bahia.",
    }
    assert json.loads(json.dumps(data)) == data  # plain JSON values only


@pytest.mark.parametrize("skipped", [True, False])
def test_problem_as_dict_holds_path_reason_skipped_and_unavailable(skipped):
    problem = Problem("corpus/a.json: line 3", "not a JSON object", skipped=skipped)
    expected = {
        "path": "corpus/a.json: line 3",
        "reason": "not a JSON object",
        "skipped": skipped,
        "unavailable": False,
    }
    assert problem.as_dict() == expected
