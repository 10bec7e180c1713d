"""PDF: the text of every page, with the title, author and date of its metadata.

Read with pypdf (pure Python, imported when the first PDF is read). A PDF without a text
layer (a scan) is reported and skipped, not indexed empty: nothing in it could be found.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from .dates import PartialDate
from .documents import Document
from .readers_html import captured_logs
from .text import clean_text, clean_value, title_line

if TYPE_CHECKING:
    from .readers import _Reader


def read_pdf(reader: _Reader, data: bytes) -> list[Document]:
    """The document of a PDF file, or none (with a problem) when it is damaged, locked or
    holds no text."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    with captured_logs(("pypdf",)) as logged:
        try:
            pdf = PdfReader(io.BytesIO(data))
            if pdf.is_encrypted and not _opens_without_password(pdf):
                reader.problem("encrypted PDF (a password is needed): not read", skipped=True)
                return []
            pages = list(pdf.pages)
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            reader.problem(f"damaged PDF ({_reason(exc)}): not read", skipped=True)
            return []
        texts = []
        broken = 0
        for page in pages:
            try:
                texts.append(page.extract_text() or "")
            except Exception:  # one bad page (a broken font, a bad stream) costs that page
                broken += 1
        title, author, date = _metadata(reader, pdf)
    body = clean_text("\n\n".join(t.strip() for t in texts if t.strip()))
    if not body.strip():
        reason = "PDF holds no text (a scan without a text layer?): not indexed"
        if logged and not pages:
            reason = f"damaged PDF ({logged[0].getMessage()[:160]}): not read"
        reader.problem(reason, skipped=True)
        return []
    if broken:
        reader.problem(f"{broken} of {len(pages)} PDF pages unreadable", skipped=False)
    elif logged:
        reason = f"damaged PDF, read as repaired ({logged[0].getMessage()[:160]})"
        reader.problem(reason, skipped=False)
    meta = reader.metadata()
    meta.add("author", author)
    title = title or title_line(body)
    document = reader.document(reader.id_base, title, body, date, meta, where=reader.path)
    return [document] if document is not None else []


def _opens_without_password(pdf) -> bool:
    """True if an encrypted PDF opens with the empty password, as many do (printing or
    copying locked only). AES needs the `cryptography` package: without it, it does not."""
    from pypdf.errors import PyPdfError

    try:
        return bool(pdf.decrypt(""))
    except (PyPdfError, NotImplementedError, ValueError):
        return False


def _metadata(reader: _Reader, pdf) -> tuple[str, str, PartialDate | None]:
    """(title, author, date) from the document information dictionary, each "" or None when
    absent or unusable; a date that cannot be read is reported."""
    try:
        info = pdf.metadata
    except Exception:  # a damaged info dictionary costs the metadata, not the text
        return "", "", None
    if info is None:
        return "", "", None
    title = clean_value(str(info.get("/Title") or ""), limit=None)
    author = clean_value(str(info.get("/Author") or ""))
    raw = info.get("/CreationDate") or info.get("/ModDate")
    date = None
    if raw:
        try:
            moment = info.creation_date if info.get("/CreationDate") else info.modification_date
            date = PartialDate.from_datetime(moment) if moment is not None else None
        except Exception:
            reader.problem(f"unparseable PDF date {str(raw)[:60]!r}", skipped=False)
    return title, author, date


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__
