"""gzip: the bytes a compressed corpus file holds, expanded a step at a time under the size
limit, so that a compression bomb stops at the limit instead of filling the memory."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .readers import _Reader

GZIP_MAGIC = b"\x1f\x8b"
# Expanded a megabyte at a time: a bomb stops at the limit, not after it exploded.
_STEP = 1024 * 1024


def gunzip(reader: _Reader, data: bytes) -> bytes | None:
    """The bytes a gzip file holds (every member of it), or None (with a problem) when it
    is damaged, cut short or expands past `max_size`."""
    out = bytearray()
    member = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    pending = data
    while True:
        try:
            piece = member.decompress(pending, _STEP)
        except zlib.error as exc:
            reader.problem(f"damaged gzip data ({exc})", skipped=True)
            return None
        out += piece
        if len(out) > reader.max_size:
            reason = (
                f"gzip data expands past the {reader.max_size:,}-byte size limit "
                "(a compression bomb?): not read"
            )
            reader.problem(reason, skipped=True)
            return None
        pending = member.unconsumed_tail
        if member.eof:
            rest = member.unused_data
            if rest.startswith(GZIP_MAGIC):  # `cat a.gz b.gz` is one valid gzip file
                member = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
                pending = rest
                continue
            if rest.strip(b"\0"):
                reason = f"{len(rest):,} bytes after the end of the gzip data ignored"
                reader.problem(reason, skipped=False)
            return bytes(out)
        if not piece and not pending:
            reader.problem("gzip data cut short (a truncated file?): not read", skipped=True)
            return None
