"""mbox mailboxes: each message a document, under the header rules of a single message file.

A message starts at a `From ` line that opens the file or follows a blank line (a `From `
inside a body is escaped as `>From ` by mail software; requiring the blank line also spares
an unescaped one). Each message is read with the standard library's `email` package: MIME
parts, transfer encodings, charsets and encoded-word headers (`=?utf-8?q?...?=`) decoded.

A message's id is its Message-ID (without the angle brackets), else `FILE#N` by its position:
both stay the same while the mailbox grows, as mailboxes do, at the end.
"""

from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import TYPE_CHECKING

from .documents import Document
from .readers_html import html_text
from .text import clean_text, safe_id

if TYPE_CHECKING:
    from .readers import _Reader

_FROM_LINE = re.compile(rb"(?:^|\n[ \t]*\r?\n)(From [^\n]*\n)")
_HEADER_START = re.compile(rb"[!-9;-~]+:")
# mboxrd: a body line `From ...` is stored as `>From ...` (and `>From` as `>>From`).
_ESCAPED_FROM = re.compile(r"^>(>*From )", re.MULTILINE)


def read_mbox(reader: _Reader, data: bytes) -> list[Document]:
    """The messages of an mbox mailbox; a broken one is reported and skipped."""
    starts = [m.start(1) for m in _FROM_LINE.finditer(data)]
    documents: list[Document] = []
    seen: dict[str, str] = {}
    parser = BytesParser(policy=email.policy.default)
    for number, start in enumerate(starts, 1):
        end = starts[number] if number < len(starts) else len(data)
        where = f"{reader.path}#{number}"
        chunk = data[data.index(b"\n", start) + 1 : end]
        if not _HEADER_START.match(chunk):
            reader.problem("broken message: no header lines, skipped", skipped=True, where=where)
            continue
        try:
            message = parser.parsebytes(chunk)
            headers = _headers(message)
            body = _ESCAPED_FROM.sub(r"\1", clean_text(_body_text(message))).strip()
        except Exception as exc:  # the email package's errors are of many kinds
            reason = f"broken message ({type(exc).__name__}: {str(exc)[:160]}), skipped"
            reader.problem(reason, skipped=True, where=where)
            continue
        message_id = next((v for name, v in headers if name == "message-id"), "")
        doc_id = safe_id(message_id.strip().strip("<>").strip()) or f"{reader.id_base}#{number}"
        if doc_id in seen:
            reason = f"duplicate id {doc_id!r} (first at {seen[doc_id]}), skipped"
            reader.problem(reason, skipped=True, where=where)
            continue
        found = reader.message(headers, body, doc_id=doc_id, where=where)
        if found:
            seen[doc_id] = where
            documents.extend(found)
    return documents


def _headers(message: Message) -> list[tuple[str, str]]:
    """(lowercase name, decoded value) of each header, in order."""
    headers = []
    for name, raw in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(name, raw))
        except Exception:  # a header the parser chokes on keeps its raw text
            value = str(raw)
        headers.append((name.lower(), clean_text(" ".join(value.split()))))
    return headers


def _body_text(message: Message) -> str:
    """The message's text: its first plain-text part, else its first HTML part as text;
    attachments are not read."""
    parts = list(message.walk()) if message.is_multipart() else [message]
    texts = [p for p in parts if not p.is_multipart() and not _is_attachment(p)]
    for wanted in ("text/plain", "text/html"):
        for part in texts:
            if part.get_content_type() == wanted:
                text = _part_text(part)
                return html_text(text) if wanted == "text/html" else text
    return ""


def _is_attachment(part: Message) -> bool:
    return str(part.get("Content-Disposition", "")).strip().lower().startswith("attachment")


def _part_text(part: Message) -> str:
    """A part's text, decoded; an unknown or wrong charset falls back to UTF-8 with
    replacement characters rather than losing the part."""
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except (LookupError, UnicodeError, KeyError, ValueError):
            pass
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
