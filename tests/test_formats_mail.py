"""mbox mailboxes: each message a document under the header rules of a single message file,
with ids that stay put; MIME decoded; a broken message reported and skipped."""

from __future__ import annotations

from pathlib import Path

from helpers import stored_documents

from searchkit import Index
from searchkit.readers import parse_file

FERRY = """From: Ana Lopes <ana@harbourdesk.example.org>
Subject: Ferry strike ends as crews accept new rota
Date: Thu, 14 Mar 2024 09:30:00 +0100
Message-ID: <ferry-strike-2024-03-14@harbourdesk.example.org>
Newsgroups: pt.transport, pt.news
Organization: Harbour Desk
Keywords: ferries, strikes

Ferries between Lisbon and Barreiro ran to the full timetable on Thursday.

The crews' union accepted a rota with two rest days after each night shift.
"""

COD = """From: Erik Dahl <erik@nordwire.example.org>
Subject: Cod quotas cut again in the North Atlantic
Date: Wed, 13 Mar 2024 17:05:00 GMT

Norway and Russia agreed a cod quota 20 percent below last year's.
>From the quay in Tromso, skippers called it the hardest cut in a decade.
"""

# Quoted-printable Latin-1 text beside an HTML part, encoded-word headers.
CAFE = """From: =?utf-8?q?Jo=C3=A3o_Silva?= <joao@lisbonwire.example.org>
Subject: =?utf-8?b?Q2Fmw6kgcHJpY2VzIHJpc2UgaW4gTGlzYm9u?=
Date: Mon, 18 Mar 2024 11:00:00 +0000
Message-ID: <cafe-prices@lisbonwire.example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="part-boundary"

--part-boundary
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

The price of a bica in Lisbon caf=E9s rose to 90 cents, the first rise in t=
en years.
--part-boundary
Content-Type: text/html; charset=utf-8

<p>The price of a <b>bica</b> rose.</p>
--part-boundary--
"""


def mbox(*messages: str) -> bytes:
    """An mbox: each message after its `From ` line, a blank line between them."""
    parts = [
        f"From sender{n}@example.org Thu Mar 14 09:30:{n:02d} 2024\n{m.rstrip()}\n\n"
        for n, m in enumerate(messages)
    ]
    return "".join(parts).encode("utf-8")


def parse(data: bytes, name: str = "desk.mbox"):
    return parse_file(data, path=name, id_base=name, folder="")


def test_each_message_is_a_document_under_the_single_message_rules():
    result = parse(mbox(FERRY, COD))
    assert result.problems == ()
    ferry, cod = result.documents
    # The same message as a file of its own: the same title, date, fields and body.
    (alone,) = parse(FERRY.encode(), "ferry.eml").documents
    assert (ferry.title, ferry.date, ferry.body) == (alone.title, alone.date, alone.body)
    assert dict(ferry.fields) == dict(alone.fields)
    assert ferry.id == "ferry-strike-2024-03-14@harbourdesk.example.org"
    assert ferry.title == "Ferry strike ends as crews accept new rota"
    assert str(ferry.date) == "2024-03-14T08:30:00Z"
    assert ferry.fields["newsgroups"] == ("pt.transport", "pt.news")
    assert ferry.fields["keywords"] == ("ferries", "strikes")
    assert ferry.fields["organization"] == ("Harbour Desk",)
    assert ferry.body == FERRY.split("\n\n", 1)[1].strip()
    # No Message-ID: the message's place in the mailbox; a `>From` line reads as written.
    assert cod.id == "desk.mbox#2"
    assert cod.body.split("\n")[1].startswith("From the quay in Tromso")


def test_mime_parts_and_encoded_headers_are_decoded():
    (doc,) = parse(mbox(CAFE)).documents
    assert doc.title == "Café prices rise in Lisbon"
    assert doc.fields["author"] == ("João Silva <joao@lisbonwire.example.org>",)
    assert doc.body == (
        "The price of a bica in Lisbon cafés rose to 90 cents, the first rise in ten years."
    )


def test_a_mailbox_is_known_by_its_content_whatever_its_name():
    expected = [(d.id, d.title, d.body) for d in parse(mbox(FERRY, COD)).documents]
    assert [i for i, _, _ in expected] == [
        "ferry-strike-2024-03-14@harbourdesk.example.org",
        "desk.mbox#2",
    ]
    for name in ("desk", "desk.txt", "desk.eml"):
        got = [(d.id, d.title, d.body) for d in parse(mbox(FERRY, COD), name).documents]
        assert got == [(i.replace("desk.mbox", name), t, b) for i, t, b in expected], name


def test_a_broken_message_is_reported_and_skipped_the_others_read():
    garbage = "\x00\x01 not a header at all\n\x02\x03 binary noise\n"
    result = parse(mbox(FERRY, garbage, COD, FERRY))
    assert [d.title for d in result.documents] == [
        "Ferry strike ends as crews accept new rota",
        "Cod quotas cut again in the North Atlantic",
    ]
    assert [(p.path, p.skipped) for p in result.problems] == [
        ("desk.mbox#2", True),
        ("desk.mbox#4", True),
    ]
    assert "broken message" in result.problems[0].reason
    assert "duplicate id" in result.problems[1].reason
    # Ids by position count the broken message: they never shift with what could be read.
    assert result.documents[1].id == "desk.mbox#3"


def test_ids_stay_put_when_the_mailbox_grows(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    box = corpus / "desk.mbox"
    box.write_bytes(mbox(FERRY, COD))
    with Index(tmp_path / "index") as index:
        first = index.update([corpus])
        assert first.added == 2
        box.write_bytes(mbox(FERRY, COD, CAFE))
        second = index.update([corpus])
        again = index.update([corpus])
    assert (second.added, second.updated, second.deleted) == (1, 0, 0)
    assert second.added_ids == ("cafe-prices@lisbonwire.example.org",)
    assert (again.added, again.updated, again.deleted) == (0, 0, 0)
    assert sorted(stored_documents(tmp_path / "index")) == [
        "cafe-prices@lisbonwire.example.org",
        "desk.mbox#2",
        "ferry-strike-2024-03-14@harbourdesk.example.org",
    ]
