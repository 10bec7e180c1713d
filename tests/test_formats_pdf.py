"""PDF files: text and metadata read with pypdf; scans, damaged and locked files reported and
skipped, the rest of the corpus indexed."""

from __future__ import annotations

import subprocess
import sys
import zlib
from datetime import datetime
from pathlib import Path

from helpers import stored_documents

from searchkit import Index
from searchkit.readers import parse_file

PAGE_ONE = [
    "Comet C/2025 K1 brightens over the Alps",
    "Observers at the Jungfraujoch station recorded the comet",
    "at magnitude 6.2 on Tuesday night, bright enough for binoculars.",
]
PAGE_TWO = [
    "The tail stretched across two degrees of sky, said Dr. Lena Brunner,",
    "who leads the station's night programme in Interlaken.",
]
INFO = {
    "Title": "Comet observation report, May 2025",
    "Author": "Lena Brunner",
    "CreationDate": "D:20250513214500+02'00'",
}


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("cp1252") + b")"


def make_pdf(
    pages: list[list[str]],
    *,
    info: dict[str, str] | None = None,
    image_only: bool = False,
    compress: bool = False,
) -> bytes:
    """A PDF 1.4 file written by hand: one Helvetica line of text per string, pages in order,
    and an information dictionary; `image_only` gives pages holding one image and no text,
    as a scan does."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(content: bytes, extra: bytes = b"") -> bytes:
        if compress:
            content = zlib.compress(content)
            extra += b" /Filter /FlateDecode"
        return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(content), extra, content)

    add(b"<< /Type /Catalog /Pages 2 0 R >>")
    add(b"")  # the page tree, written once the pages are numbered
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for lines in pages:
        if image_only:
            image = add(
                stream(
                    bytes(range(256)) * 4,
                    b" /Type /XObject /Subtype /Image /Width 32 /Height 32"
                    b" /ColorSpace /DeviceGray /BitsPerComponent 8",
                )
            )
            content = add(stream(b"q 400 0 0 400 100 300 cm /Im1 Do Q"))
            resources = b"<< /XObject << /Im1 %d 0 R >> >>" % image
        else:
            text = b"BT /F1 12 Tf 72 720 Td 16 TL " + b" T* ".join(
                _pdf_string(line) + b" Tj" for line in lines
            )
            content = add(stream(text + b" ET"))
            resources = b"<< /Font << /F1 %d 0 R >> >>" % font
        kids.append(
            add(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources %s >>" % (content, resources)
            )
        )
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    info_ref = b""
    if info:
        entries = b" ".join(b"/" + k.encode() + b" " + _pdf_string(v) for k, v in info.items())
        info_ref = b" /Info %d 0 R" % add(b"<< " + entries + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info_ref)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def parse(data: bytes, name: str = "report.pdf"):
    return parse_file(data, path=name, id_base=name, folder="")


def test_text_and_metadata_of_a_pdf():
    result = parse(make_pdf([PAGE_ONE, PAGE_TWO], info=INFO))
    assert result.problems == ()
    (doc,) = result.documents
    assert doc.id == "report.pdf"
    assert doc.title == INFO["Title"]
    assert doc.fields["author"] == ("Lena Brunner",)
    # 21:45 at +02:00 is 19:45 UTC.
    assert (doc.date.start, doc.date.precision) == (datetime(2025, 5, 13, 19, 45), "second")
    assert doc.body.split() == " ".join(PAGE_ONE + PAGE_TWO).split()
    assert "%PDF" not in doc.body and "endobj" not in doc.body


def test_a_pdf_without_metadata_takes_its_first_line_as_title():
    (doc,) = parse(make_pdf([PAGE_ONE], compress=True)).documents
    assert doc.title == PAGE_ONE[0]
    assert doc.date is None
    assert doc.body.split() == " ".join(PAGE_ONE).split()


def test_a_pdf_is_known_by_its_content_whatever_its_name():
    data = make_pdf([PAGE_ONE], info=INFO)
    for name in ("report", "report.txt", "report.html"):
        (doc,) = parse(data, name).documents
        assert doc.title == INFO["Title"], name


def test_a_scan_without_text_is_reported_not_indexed_empty():
    result = parse(make_pdf([["x"], ["y"]], info=INFO, image_only=True))
    assert result.documents == ()
    (problem,) = result.problems
    assert problem.skipped and "no text" in problem.reason


def test_damaged_and_cut_pdfs_are_reported_and_skipped():
    good = make_pdf([PAGE_ONE, PAGE_TWO], info=INFO)
    for bad in (b"%PDF-1.4\n" + bytes(range(256)) * 40, good[:200], b"%PDF-1.7\n%%EOF\n"):
        result = parse(bad)
        assert result.documents == (), bad[:40]
        assert [p.skipped for p in result.problems] == [True]
        assert "PDF" in result.problems[0].reason


def test_bad_pdfs_cost_only_themselves_in_an_index(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.pdf").write_bytes(make_pdf([PAGE_ONE, PAGE_TWO], info=INFO))
    (corpus / "scan.pdf").write_bytes(make_pdf([["x"]], image_only=True))
    (corpus / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog\n")
    (corpus / "note.txt").write_text("A note\nAbout the comet.\n", encoding="utf-8")
    with Index(tmp_path / "index") as index:
        report = index.update([corpus])
        hits = index.search("binoculars")
    assert sorted(stored_documents(tmp_path / "index")) == ["note.txt", "report.pdf"]
    assert sorted(Path(p.path).name for p in report.problems if p.skipped) == [
        "corrupt.pdf",
        "scan.pdf",
    ]
    assert [h.id for h in hits.hits] == ["report.pdf"]


def test_pdf_library_messages_do_not_reach_the_terminal(tmp_path: Path):
    """pypdf logs what it repairs; with no logging set up Python would print it on stderr."""
    (tmp_path / "corpus").mkdir()
    good = make_pdf([PAGE_ONE], info=INFO)
    # A wrong cross-reference offset: pypdf repairs it and says so.
    broken = good.replace(b"startxref\n", b"startxref\n9").replace(b"%%EOF", b"%%EOF")
    (tmp_path / "corpus" / "a.pdf").write_bytes(broken)
    (tmp_path / "corpus" / "b.pdf").write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 50)
    done = subprocess.run(
        [sys.executable, "-m", "searchkit", "index", "corpus", "--index", "idx"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    lines = done.stderr.splitlines()
    assert len(lines) == 3, lines
    corpus = tmp_path / "corpus"
    assert lines[0].startswith(f"warning: {corpus}/a.pdf: damaged PDF, read as repaired ("), lines
    assert lines[1].startswith(f"skipped: {corpus}/b.pdf: damaged PDF ("), lines
    assert lines[2].startswith("1 added, 0 updated"), lines


def _encrypted(data: bytes, user_password: str) -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_locked_pdf_is_reported_and_one_locked_for_printing_only_is_read():
    data = make_pdf([PAGE_ONE], info=INFO)
    result = parse(_encrypted(data, "secret"))
    assert result.documents == ()
    assert [(p.skipped, p.reason) for p in result.problems] == [
        (True, "encrypted PDF (a password is needed): not read")
    ]
    (doc,) = parse(_encrypted(data, "")).documents
    assert doc.body.split() == " ".join(PAGE_ONE).split()
