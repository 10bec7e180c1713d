"""Files of named numpy arrays that searchkit writes beside a segment, read back memory-mapped.

Layout: a magic string (its version included), the byte length of a JSON header (little-endian
u64), the header, then the arrays, each 8-byte aligned. The header holds the writer's own
entries and, under "arrays", each array's offset, dtype and length. A reader maps the file and
views the arrays in place: opening one costs the same whatever the number of documents.

A file is written to a temporary name, flushed to disk and renamed, so a reader finds a whole
file or none; a file that does not parse (cut short by a crash, another version) reads as None
and its owner falls back to what Whoosh holds.
"""

from __future__ import annotations

import json
import mmap
import os
import struct

import numpy as np

_ALIGN = 8


def write_array_file(path: str, magic: bytes, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` (name -> array) and `header` (JSON-able) to `path`, atomically."""
    layout = {}
    offset = 0
    for name, array in arrays.items():
        layout[name] = [offset, array.dtype.str, int(array.size)]
        offset += -(-array.nbytes // _ALIGN) * _ALIGN
    encoded = json.dumps({**header, "arrays": layout}, ensure_ascii=False).encode("utf-8")
    start = _aligned(len(magic) + 8 + len(encoded))
    temporary = path + ".tmp"
    with open(temporary, "wb") as f:
        f.write(magic + struct.pack("<Q", len(encoded)) + encoded)
        f.write(b"\0" * (start - f.tell()))
        for array in arrays.values():
            data = np.ascontiguousarray(array).tobytes()
            f.write(data + b"\0" * (-len(data) % _ALIGN))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def read_array_file(path: str, magic: bytes) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(header, name -> array viewed in the mapped file) of a file `write_array_file`
    wrote with `magic`; None when there is none or it does not parse whole."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return None
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError:
        return None
    try:
        if mapped[: len(magic)] != magic:
            return None
        (size,) = struct.unpack("<Q", mapped[len(magic) : len(magic) + 8])
        header = json.loads(bytes(mapped[len(magic) + 8 : len(magic) + 8 + size]))
        start = _aligned(len(magic) + 8 + size)
        arrays = {
            name: np.frombuffer(mapped, np.dtype(dtype), count, start + offset)
            if count
            else np.zeros(0, np.dtype(dtype))
            for name, (offset, dtype, count) in header.pop("arrays").items()
        }
        return header, arrays
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, struct.error):
        return None


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN
